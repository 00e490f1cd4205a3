"""The explicit parameter update of Section 4: autograd gives the gradients, this code moves the
parameters. The rules are those of dlproj.optim (the NumPy optimizers), written on tensors, and
follow torch.optim step for step (tests/test_section4_optim.py compares them):

    sgd / momentum   v = mu v + g (v = g at the first step);
                     p -= lr (g + mu v) with Nesterov, else p -= lr v
    rmsprop          r = alpha r + (1 - alpha) g^2;  p -= lr g / (sqrt(r) + eps)  (with momentum on
                     that step if momentum > 0)
    adam             m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
                     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    adamw            p *= 1 - lr wd, then the Adam step on the raw gradient

`weight_decay` adds wd * p to the gradient (L2), except for adamw where it is decoupled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class ExplicitOptimizer:
    """Updates a list of tensors in place from their `.grad`, under one of the rules above."""

    def __init__(self, params: Iterable[torch.Tensor], *, name: str, lr: float,
                 momentum: float = 0.0, nesterov: bool = False, alpha: float = 0.99,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
        self.name, self.lr = name, lr
        self.momentum, self.nesterov, self.alpha = momentum, nesterov, alpha
        self.beta1, self.beta2, self.eps, self.weight_decay = beta1, beta2, eps, weight_decay
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self.t = 0
        self.rule = {"sgd": self._sgd, "momentum": self._sgd, "rmsprop": self._rmsprop,
                     "adam": self._adam, "adamw": self._adamw}[name]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        update = self.rule
        for p, s in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay and self.name != "adamw":
                g = g + self.weight_decay * p
            update(p, g, s)

    def _sgd(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        if self.momentum:
            if "v" not in s:
                s["v"] = g.clone()
            else:
                s["v"].mul_(self.momentum).add_(g)
            g = g + self.momentum * s["v"] if self.nesterov else s["v"]
        p.sub_(self.lr * g)

    def _rmsprop(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        r = s.setdefault("r", torch.zeros_like(p))
        r.mul_(self.alpha).add_((1 - self.alpha) * g * g)
        step = g / (r.sqrt() + self.eps)
        if self.momentum:
            b = s.setdefault("b", torch.zeros_like(p))
            step = b.mul_(self.momentum).add_(step)
        p.sub_(self.lr * step)

    def _adam(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        m = s.setdefault("m", torch.zeros_like(p))
        v = s.setdefault("v", torch.zeros_like(p))
        m.mul_(self.beta1).add_((1 - self.beta1) * g)
        v.mul_(self.beta2).add_((1 - self.beta2) * g * g)
        bc1 = 1 - self.beta1**self.t
        bc2 = 1 - self.beta2**self.t
        denom = v.sqrt() / math.sqrt(bc2) + self.eps
        p.sub_((self.lr / bc1) * m / denom)

    def _adamw(self, p: torch.Tensor, g: torch.Tensor, s: dict) -> None:
        if self.weight_decay:
            p.mul_(1 - self.lr * self.weight_decay)
        self._adam(p, g, s)


def _explicit(params: Iterable[torch.Tensor], cfg) -> ExplicitOptimizer:
    return ExplicitOptimizer(params, name=cfg.name, lr=cfg.lr, momentum=cfg.momentum,
                             nesterov=cfg.nesterov, alpha=cfg.alpha, beta1=cfg.beta1,
                             beta2=cfg.beta2, eps=cfg.eps, weight_decay=cfg.weight_decay)


# The `optimizer=` group's torch builders (dlproj.config.groups.OPTIMIZER).
sgd = rmsprop = adam = adamw = _explicit


def build_optimizer(params: Iterable[torch.Tensor], cfg) -> ExplicitOptimizer:
    """The `optimizer=` group's optimizer (the same config the NumPy sections read)."""
    from dlproj.config.groups import OPTIMIZER

    return OPTIMIZER.builder(cfg.name, "torch")(params, cfg)
