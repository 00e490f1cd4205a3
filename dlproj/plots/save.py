"""A figure to a file: PNG written whole or not at all, then the figure closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from dlproj.files.atomic import atomic_write


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG (atomically) and close it."""
    try:
        return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi,
                                                         bbox_inches="tight"))
    finally:
        plt.close(fig)
