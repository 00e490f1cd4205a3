"""Typed configuration: the schema Hydra checks overrides against, and range checks on top."""

from dlproj.config.schema import register_configs
from dlproj.config.validate import validate

__all__ = ["register_configs", "validate"]
