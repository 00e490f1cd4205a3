"""Gradient L2 norms per parameter: every step, and each epoch's mean; log scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np


def grad_norms_per_step(rows: Sequence[dict[str, Any]], names: Sequence[str],
                        title: str = "") -> plt.Figure:
    """rows: {"step", "grad_norm_<name>"...}, one per step. Raw values, faint, and a moving
    average over ~1% of the run on top."""
    steps = np.array([r["step"] for r in rows])
    window = max(1, len(rows) // 100)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, name in enumerate(names):
        values = np.array([r[f"grad_norm_{name}"] for r in rows], dtype=np.float64)
        color = f"C{i}"
        ax.plot(steps, values, color=color, alpha=0.25, lw=0.5)
        if window > 1 and len(values) >= window:
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], smooth, color=color, lw=1.2, label=f"||d{name}||")
        else:
            ax.plot(steps, values, color=color, lw=1.2, label=f"||d{name}||")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="gradient L2 norm",
           title=title or "gradient norm per step")
    ax.legend(fontsize=8, ncol=len(names))
    fig.tight_layout()
    return fig


def grad_norms_per_epoch(rows: Sequence[dict[str, Any]], names: Sequence[str],
                         title: str = "") -> plt.Figure:
    """rows: metrics rows with `epoch` and `grad_norm_<name>` (the epoch's mean)."""
    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name in names:
        ax.plot(epochs, [r[f"grad_norm_{name}"] for r in rows], marker="o", ms=3,
                label=f"||d{name}||")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="mean gradient L2 norm",
           title=title or "gradient norm per epoch (mean over its steps)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
