"""Layers with parameters: Linear (affine), and the Layer base every NumPy layer follows."""

from __future__ import annotations

import copy

import numpy as np

from dlproj.nn.init import init_weight


class Layer:
    """Base: `forward(x, train)` caches what `backward(dout)` needs; grads share params' names."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        return self.forward(x, train)

    def replica(self) -> Layer:
        """A twin for another thread: the same `params` dict (an update, or a checkpoint loaded
        into it, reaches both), its own `grads` and its own forward caches."""
        twin = copy.copy(self)
        twin.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return twin


class Linear(Layer):
    """y = x @ W + b.

    x : (N, in_features); W : (in_features, out_features); b : (out_features,)
    dW = x^T dout, db = sum_n dout, dx = dout W^T.
    `input_grad=False` (a network's first layer) skips dx, which nothing would read.
    """

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator,
                 init: str = "he", activation: str = "relu", dtype: type = np.float32,
                 input_grad: bool = True):
        super().__init__()
        self.input_grad = input_grad
        W = init_weight(init, rng, in_features, out_features, (in_features, out_features),
                        activation)
        self.params = {"W": W.astype(dtype), "b": np.zeros(out_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        self.grads["W"] = self._x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T if self.input_grad else None
