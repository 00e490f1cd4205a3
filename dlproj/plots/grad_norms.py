"""Gradient L2 norms: per parameter (every step, each epoch's mean) and per layer (first vs last,
by depth); log scale."""

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


def first_vs_last(rows: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Gradient norm of the first and the last layer against the training step (log scale)."""
    layers = [k for k in rows[0] if k not in ("step", "epoch")]
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ends = [(layers[0], "-")] + ([(layers[-1], "--")] if len(layers) > 1 else [])
    for name, style in ends:
        ax.plot(steps, [r[name] for r in rows], style, lw=1, label=name)
    ax.set(xlabel="step", ylabel="||dL/dW||", yscale="log",
           title=title or "gradient norm, first vs last layer")
    ax.legend()
    fig.tight_layout()
    return fig


def by_depth(rows: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Mean gradient norm of every layer (x: depth) over each epoch: one line per epoch."""
    layers = [k for k in rows[0] if k not in ("step", "epoch")]
    epochs = sorted({r["epoch"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 3.6))
    cmap = plt.get_cmap("viridis")
    for i, e in enumerate(epochs):
        sel = np.array([[r[k] for k in layers] for r in rows if r["epoch"] == e])
        ax.plot(range(1, len(layers) + 1), sel.mean(axis=0), marker=".",
                color=cmap(i / max(len(epochs) - 1, 1)), label=f"epoch {e}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="layer (1 = first conv, last = classifier)", ylabel="mean ||dL/dW||",
           yscale="log", title=title or "gradient norm by depth")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
