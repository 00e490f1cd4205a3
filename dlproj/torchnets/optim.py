"""The explicit parameter update of Section 4: autograd gives the gradients, this code moves the
parameters. Each class is the twin, on tensors, of the NumPy optimizer of the same name in
dlproj/optim/optimizers.py, and follows torch.optim step for step (tests/test_section4_optim.py
compares them):

    SGD        v = mu v + g (v = g at the first step);
               p -= lr (g + mu v) with Nesterov, else p -= lr v
    RMSprop    r = alpha r + (1 - alpha) g^2;  p -= lr g / (sqrt(r) + eps)  (with momentum on that
               step if momentum > 0)
    Adam       m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
               p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    AdamW      p *= 1 - lr wd, then the Adam step on the raw gradient

`weight_decay` adds wd * p to the gradient (L2), except for AdamW where it is decoupled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def torch_twin(target: str) -> str:
    """The twin of a NumPy optimizer class: `dlproj.optim.optimizers.Adam` -> this module's
    `Adam` (the `optimizer=` group names the NumPy class; Section 4 builds its twin)."""
    return f"{__name__}.{target.rsplit('.', 1)[-1]}"


class ExplicitOptimizer:
    """Updates the tensors of `params` that require gradients in place from their `.grad`."""

    decoupled = False  # weight decay applied to the parameters (AdamW), not to the gradient

    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay = lr, weight_decay
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        for p, s in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay and not self.decoupled:
                g = g + self.weight_decay * p
            self._update(p, g, s)

    def _update(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        raise NotImplementedError


class SGD(ExplicitOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov

    def _update(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        if self.momentum:
            if "v" not in s:
                s["v"] = g.clone()
            else:
                s["v"].mul_(self.momentum).add_(g)
            g = g + self.momentum * s["v"] if self.nesterov else s["v"]
        p.sub_(self.lr * g)


class RMSprop(ExplicitOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float, alpha: float = 0.99,
                 eps: float = 1e-8, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.alpha, self.eps, self.momentum = alpha, eps, momentum

    def _update(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        r = s.setdefault("r", torch.zeros_like(p))
        r.mul_(self.alpha).add_((1 - self.alpha) * g * g)
        step = g / (r.sqrt() + self.eps)
        if self.momentum:
            b = s.setdefault("b", torch.zeros_like(p))
            step = b.mul_(self.momentum).add_(step)
        p.sub_(self.lr * step)


class Adam(ExplicitOptimizer):
    def __init__(self, params: Iterable[torch.Tensor], lr: float, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _update(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        m = s.setdefault("m", torch.zeros_like(p))
        v = s.setdefault("v", torch.zeros_like(p))
        m.mul_(self.beta1).add_((1 - self.beta1) * g)
        v.mul_(self.beta2).add_((1 - self.beta2) * g * g)
        bc1 = 1 - self.beta1**self.t
        bc2 = 1 - self.beta2**self.t
        denom = v.sqrt() / math.sqrt(bc2) + self.eps
        p.sub_((self.lr / bc1) * m / denom)


class AdamW(Adam):
    decoupled = True

    def _update(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        if self.weight_decay:
            p.mul_(1 - self.lr * self.weight_decay)
        super()._update(p, g, s)
