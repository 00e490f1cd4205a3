"""Gradient flow: the gradient norm of every weighted layer at every step, and its plots.

The layers are the conv and linear weights on the main path, input to output (shortcut and
downsample convs are left out so that plain and residual nets list the same layers). A run's
`grad_norms.csv` has a row per step: step, epoch, then one column per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


def main_path_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(name, weight) of every Conv2d/Linear off the shortcuts, in forward order."""
    out = []
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        if "shortcut" in name or "downsample" in name:
            continue
        out.append((name, module.weight))
    return out


def grad_norms(layers: Sequence[tuple[str, torch.Tensor]]) -> dict[str, float]:
    """L2 norm of each layer's weight gradient (layers without one, e.g. frozen, are left out)."""
    names = [n for n, w in layers if w.grad is not None]
    if not names:
        return {}
    norms = torch.stack([w.grad.detach().norm() for _, w in layers if w.grad is not None])
    return dict(zip(names, norms.cpu().tolist(), strict=True))


def first_vs_last(rows: Sequence[dict[str, Any]], title: str = "") -> Any:
    """Gradient norm of the first and the last layer against the training step (log scale)."""
    import matplotlib.pyplot as plt

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


def by_depth(rows: Sequence[dict[str, Any]], title: str = "") -> Any:
    """Mean gradient norm of every layer (x: depth) over each epoch: one line per epoch."""
    import matplotlib.pyplot as plt

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
