"""A learnt function over its input: XOR's decision surface, the sin(x) fit."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def decision_surface(xx: np.ndarray, yy: np.ndarray, p1: np.ndarray, points: np.ndarray,
                     labels: np.ndarray) -> plt.Figure:
    """P(class 1) over the grid (xx, yy), with the training points coloured by their label."""
    fig, ax = plt.subplots(figsize=(4, 4))
    cs = ax.contourf(xx, yy, p1, levels=20, cmap="coolwarm", vmin=0, vmax=1)
    fig.colorbar(cs, ax=ax, label="P(x1 XOR x2 = 1)")
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", edgecolors="k", s=120)
    ax.set(xlabel="x1", ylabel="x2", title="XOR decision surface")
    return fig


def sin_fit(x: np.ndarray, truth: np.ndarray, pred: np.ndarray, name: str,
            mse: float) -> plt.Figure:
    """sin(x) and a model's prediction over the same inputs, x (N, 1)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(x[:, 0], truth[:, 0], "k-", lw=2, label="sin(x)")
    ax.plot(x[:, 0], pred[:, 0], "r--", lw=1.5, label=f"{name} (test MSE {mse:.2e})")
    ax.set(xlabel="x", ylabel="y", title=f"sin(x) fitted by {name}")
    ax.legend()
    return fig
