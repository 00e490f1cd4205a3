"""`make reproduce`: a study's experiments (conf/study/NAME.yaml), then the report (cli.py)."""

from dlproj.reproduce.cli import main

__all__ = ["main"]
