"""The learning rate each epoch trained with, as a step plot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt

from dlproj.plots.lines import epoch_axis


def lr_schedule(rows: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """`lr` against `epoch` from metrics rows (the lr is held over each epoch)."""
    epochs = [r["epoch"] for r in rows]
    lrs = [r["lr"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    # Epoch e trains over [e - 1, e]: draw the held value across it.
    ax.step([e - 1 for e in epochs] + [epochs[-1]], lrs + lrs[-1:], where="post")
    ax.plot([e - 0.5 for e in epochs], lrs, "o", ms=3)
    epoch_axis(ax)
    ax.set(ylabel="learning rate", title=title or "learning-rate schedule")
    ax.set_ylim(bottom=0)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    return fig
