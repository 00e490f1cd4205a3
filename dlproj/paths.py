"""Where the project, its data and its outputs live, valid from any working or run directory."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
CONF_DIR = PROJECT_ROOT / "conf"


def outputs_root() -> Path:
    """`outputs/` at the project root, or $DLPROJ_OUTPUTS (tests point it at a temporary folder)."""
    return Path(os.environ.get("DLPROJ_OUTPUTS", PROJECT_ROOT / "outputs")).resolve()


def data_root() -> Path:
    """`data/` at the project root, or $DLPROJ_DATA."""
    return Path(os.environ.get("DLPROJ_DATA", PROJECT_ROOT / "data")).resolve()


def resolve_data_root(root: str | Path) -> Path:
    """`data.root` as a folder: `~` expanded, a relative one taken from the project root (so it
    names the same folder from any working directory)."""
    return (PROJECT_ROOT / Path(str(root)).expanduser()).resolve()  # an absolute one stays
