"""Learning curves from metrics rows: losses on one axis, accuracies (or MSE) on another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt

from dlproj.plots.lines import epoch_axis


def learning_curves(rows: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Plot every `*_loss` column and every `*_acc` / `*_mse` column against epoch."""
    epochs = [r["epoch"] for r in rows]
    keys = [k for k in rows[0] if k != "epoch"] if rows else []
    for r in rows:
        keys += [k for k in r if k not in keys and k != "epoch"]
    losses = [k for k in keys if k.endswith("_loss")]
    scores = [k for k in keys if k.endswith(("_acc", "_mse"))]
    fig, axes = plt.subplots(1, 2 if scores else 1, figsize=(10 if scores else 5, 3.6),
                             squeeze=False)
    for k in losses:
        axes[0, 0].plot(epochs, [r.get(k) for r in rows], marker=".", label=k)
    axes[0, 0].set(ylabel="loss", title="loss")
    epoch_axis(axes[0, 0])
    axes[0, 0].legend()
    if scores:
        for k in scores:
            axes[0, 1].plot(epochs, [r.get(k) for r in rows], marker=".", label=k)
        axes[0, 1].set(title="metrics")
        epoch_axis(axes[0, 1])
        if any(k.endswith("_mse") for k in scores):
            axes[0, 1].set_yscale("log")
        axes[0, 1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
