"""SGD (momentum, Nesterov), RMSprop, Adam and AdamW, following torch.optim's update rules.

An optimizer updates a dict of parameter arrays in place from a dict of gradients with the same
names, and keeps its per-parameter state (velocities, moments) under those names. The `optimizer=`
config group names these classes (`_target_`); Section 4's update rules on tensors are their twins
of the same name in dlproj/torchnets/optim.py.
"""

from __future__ import annotations

import math

import numpy as np

Params = dict[str, np.ndarray]


class Optimizer:
    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = lr
        self.weight_decay = weight_decay
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.t = 0

    def step(self, params: Params, grads: Params) -> None:
        self.t += 1
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay and not self.decoupled:
                g = g + self.weight_decay * p
            self._update(name, p, g, self.state.setdefault(name, {}))

    decoupled = False

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, s: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """v = mu v + g (v = g at the first step); p -= lr (g + mu v) with Nesterov, else lr v."""

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov

    def _update(self, name, p, g, s):
        if self.momentum:
            if "v" not in s:
                s["v"] = g.copy()
            else:
                s["v"] *= self.momentum
                s["v"] += g
            g = g + self.momentum * s["v"] if self.nesterov else s["v"]
        p -= self.lr * g


class RMSprop(Optimizer):
    """r = alpha r + (1 - alpha) g^2;  p -= lr g / (sqrt(r) + eps)."""

    def __init__(self, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.alpha, self.eps, self.momentum = alpha, eps, momentum

    def _update(self, name, p, g, s):
        r = s.setdefault("r", np.zeros_like(p))
        r *= self.alpha
        r += (1 - self.alpha) * np.square(g)
        step = np.sqrt(r)
        step += self.eps
        np.divide(g, step, out=step)
        if self.momentum:
            b = s.setdefault("b", np.zeros_like(p))
            b *= self.momentum
            b += step
            step = b
        p -= self.lr * step


class Adam(Optimizer):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _update(self, name, p, g, s):
        m = s.setdefault("m", np.zeros_like(p))
        v = s.setdefault("v", np.zeros_like(p))
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * np.square(g)
        # Python floats, not NumPy scalars: a float64 NumPy scalar would turn every float32
        # temporary below into float64 (NEP 50), four times the memory traffic.
        bc1 = 1.0 - self.beta1**self.t
        bc2 = 1.0 - self.beta2**self.t
        denom = np.sqrt(v)
        denom /= math.sqrt(bc2)
        denom += self.eps
        np.divide(m, denom, out=denom)
        denom *= self.lr / bc1
        p -= denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p -= lr wd p, then the Adam step on the raw gradient."""

    decoupled = True

    def _update(self, name, p, g, s):
        if self.weight_decay:
            p *= 1 - self.lr * self.weight_decay
        super()._update(name, p, g, s)
