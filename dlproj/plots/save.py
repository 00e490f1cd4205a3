"""A figure to files: each written whole or not at all, then the figure closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from dlproj.files.atomic import atomic_write


def save_figure(fig: Any, path: str | Path, dpi: int = 110, *, pdf: bool = False) -> Path:
    """Save a matplotlib figure as PNG at `dpi` (atomically), with `pdf` also as PDF beside it
    (`path` with .pdf), and close it. Returns the PNG's path."""
    path = Path(path)
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi,
                                                  bbox_inches="tight"))
        if pdf:
            # No creation date: the same figure gives the same bytes (dlproj/supplement.py).
            atomic_write(path.with_suffix(".pdf"),
                         lambda fh: fig.savefig(fh, format="pdf", bbox_inches="tight",
                                                metadata={"CreationDate": None}))
        return path
    finally:
        plt.close(fig)
