"""Gradient flow: the gradient norm of every weighted layer at every step.

The layers are the conv and linear weights on the main path, input to output (shortcut and
downsample convs are left out so that plain and residual nets list the same layers). A run's
`grad_norms.csv` has a row per step: step, epoch, then one column per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

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
