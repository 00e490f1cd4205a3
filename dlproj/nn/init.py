"""Weight initialisation: He (for ReLU) and Xavier/Glorot (for tanh and sigmoid)."""

from __future__ import annotations

import numpy as np

INITS = ("he", "xavier", "auto")


def he_normal(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, 2 / fan_in): keeps ReLU activations' variance constant through depth."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int,
                   shape: tuple[int, ...]) -> np.ndarray:
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)): for saturating activations."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def init_weight(kind: str, rng: np.random.Generator, fan_in: int, fan_out: int,
                shape: tuple[int, ...], activation: str = "relu") -> np.ndarray:
    if kind == "auto":
        kind = "he" if activation in ("relu", "leaky_relu") else "xavier"
    if kind == "he":
        return he_normal(rng, fan_in, shape)
    if kind == "xavier":
        return xavier_uniform(rng, fan_in, fan_out, shape)
    raise ValueError(f"unknown init {kind!r}; allowed: {', '.join(INITS)}")
