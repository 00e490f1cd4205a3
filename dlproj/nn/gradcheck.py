"""Numerical gradients by centred differences, and the relative error used to compare them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5,
                       indices: np.ndarray | None = None) -> np.ndarray:
    """(f(x + h e_i) - f(x - h e_i)) / 2h for every entry i of x (or only `indices`, flat).

    `x` is perturbed in place and restored; `f` reads it. Use float64.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / max(||a||, ||n||, 1e-12) over the whole tensor.

    Per tensor rather than per entry: an entry whose true gradient is ~0 would otherwise turn
    finite-difference noise (~1e-11) into a large ratio.
    """
    a = np.asarray(analytic, dtype=np.float64).ravel()
    n = np.asarray(numeric, dtype=np.float64).ravel()
    denom = max(np.linalg.norm(a), np.linalg.norm(n), 1e-12)
    return float(np.linalg.norm(a - n) / denom)
