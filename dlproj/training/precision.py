"""Section 4's numeric precision, named as Lightning names it (`train.precision`):

    32          every tensor float32 (the default)
    bf16-mixed  forward and loss under autocast to bfloat16 (CPU or CUDA): matrix products and
                convolutions in bfloat16, reductions and the weights in float32; bfloat16 has
                float32's exponent range, so gradients need no scaling
    16-mixed    the same with float16 (CUDA only), whose narrow range lets small gradients
                underflow to zero: the loss is multiplied by a scale before backward and the
                gradients divided by it after (`LossScaler`); a step whose gradients overflowed
                is skipped and the scale halved, and after `growth_interval` good steps it doubles

The weights and the optimizer's state stay float32 in every mode ("mixed"), so a checkpoint is
the same file whatever the precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch

from dlproj.errors import ConfigError

AUTOCAST = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


class LossScaler:
    """Dynamic loss scaling, as torch.amp.GradScaler does it, for an explicit optimizer."""

    def __init__(self, scale: float = 2.0 ** 16, growth_interval: int = 2000) -> None:
        self.scale, self.growth_interval = scale, growth_interval
        self.good_steps = 0
        self.skipped = 0

    def backward(self, loss: torch.Tensor) -> None:
        (loss * self.scale).backward()

    @torch.no_grad()
    def unscale(self, params: Iterable[torch.Tensor]) -> bool:
        """Divide the gradients by the scale; False (and the scale halved) when any is inf or
        NaN, in which case the caller skips the update."""
        grads = [p.grad for p in params if p.grad is not None]
        for g in grads:
            g.div_(self.scale)
        if not all(bool(torch.isfinite(g).all()) for g in grads):
            self.scale /= 2
            self.good_steps = 0
            self.skipped += 1
            return False
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.scale *= 2
            self.good_steps = 0
        return True

    def state(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_steps": self.good_steps, "skipped": self.skipped}

    def load(self, state: dict[str, Any]) -> None:
        self.scale, self.good_steps = float(state["scale"]), int(state["good_steps"])
        self.skipped = int(state["skipped"])


class Precision:
    """The autocast context of the forward pass and the backward of one training step."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in AUTOCAST:
            raise ConfigError(f"Invalid value for 'train.precision': {name!r}. Allowed: "
                              f"{', '.join(AUTOCAST)}.")
        if name == "16-mixed" and device.type != "cuda":
            raise ConfigError(f"Invalid value for 'train.precision': '16-mixed' on device "
                              f"{device.type}: float16 autocast needs a CUDA GPU. Allowed here: "
                              "32, bf16-mixed.")
        self.name, self.device = name, device
        self.dtype = AUTOCAST[name]
        self.scaler = LossScaler() if name == "16-mixed" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        """Forward and loss: autocast to the precision's dtype (nothing for 32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, params: Iterable[torch.Tensor]) -> bool:
        """Gradients of `loss` into `.grad`, unscaled; False when the update must be skipped."""
        if self.scaler is None:
            loss.backward()
            return True
        self.scaler.backward(loss)
        return self.scaler.unscale(params)
