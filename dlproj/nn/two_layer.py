"""A 2-layer network (input -> hidden -> softmax) with its backward pass derived by hand.

Not built from the generic layer stack: every gradient below is written out from the chain rule,
so that `check_gradients` tests the derivation itself.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from dlproj.nn.activations import stable_sigmoid
from dlproj.nn.gradcheck import numerical_gradient, rel_error
from dlproj.nn.init import init_weight
from dlproj.nn.losses import log_softmax

ACTIVATIONS = ("relu", "tanh", "sigmoid")
PARAM_NAMES = ("W1", "b1", "W2", "b2")


class TwoLayerNet:
    r"""z1 = x W1 + b1,  h = phi(z1),  z2 = h W2 + b2 (logits),  p = softmax(z2).

    Shapes: x (N, D), W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), z1 and h (N, H), z2 and p (N, C).

    Backward, for the mean cross-entropy L = -(1/N) sum_n log p[n, y_n]:

    - Logits. For one example, -log p_y = -z_y + log sum_j exp(z_j), so
      d(-log p_y)/dz_k = -[k = y] + exp(z_k) / sum_j exp(z_j) = p_k - [k = y]. With Y the one-hot
      labels and the mean over N examples:  dL/dz2 = (p - Y) / N.
    - Output layer. z2 = h W2 + b2 is linear: dW2 = h^T dz2 (H, C), db2 = sum_n dz2 (C,),
      dh = dz2 W2^T (N, H).
    - Activation, elementwise: dz1 = dh * phi'(z1), where phi'(z) is [z > 0] for ReLU,
      1 - h^2 for tanh and h (1 - h) for the sigmoid.
    - Input layer: dW1 = x^T dz1 (D, H), db1 = sum_n dz1 (H,). dL/dx is not needed.

    `forward`/`backward` follow the Layer protocol (`backward` takes dL/dz2, as
    `SoftmaxCrossEntropy.backward()` returns it), so the training loop trains this net;
    `loss(x, y)` runs the whole derivation above, softmax included, and fills `grads`.
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, rng: np.random.Generator,
                 activation: str = "relu", init: str = "auto", dtype: type = np.float32):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; "
                             f"allowed: {', '.join(ACTIVATIONS)}")
        self.activation = activation
        W1 = init_weight(init, rng, n_in, n_hidden, (n_in, n_hidden), activation)
        # The head feeds a softmax: Xavier keeps the first logits small whatever phi is.
        W2 = init_weight("xavier" if init == "auto" else init, rng, n_hidden, n_out,
                         (n_hidden, n_out), "linear")
        self.params: dict[str, np.ndarray] = {
            "W1": W1.astype(dtype), "b1": np.zeros(n_hidden, dtype=dtype),
            "W2": W2.astype(dtype), "b2": np.zeros(n_out, dtype=dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x: np.ndarray | None = None
        self._z1: np.ndarray | None = None
        self._h: np.ndarray | None = None

    # -- forward ------------------------------------------------------------------------------
    def _phi(self, z: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return np.maximum(z, 0)
        if self.activation == "tanh":
            return np.tanh(z)
        return stable_sigmoid(z)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """Logits z2 (N, C); with `train`, keeps x, z1 and h for `backward`."""
        p = self.params
        z1 = x @ p["W1"] + p["b1"]
        h = self._phi(z1)
        if train:
            self._x, self._z1, self._h = x, z1, h
        return h @ p["W2"] + p["b2"]

    __call__ = forward

    def replica(self) -> TwoLayerNet:
        """A twin for another thread: the same `params` dict, its own `grads` and caches."""
        twin = copy.copy(self)
        twin.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return twin

    # -- backward -----------------------------------------------------------------------------
    def _phi_prime(self) -> np.ndarray:
        if self.activation == "relu":
            return (self._z1 > 0).astype(self._z1.dtype)
        if self.activation == "tanh":
            return 1 - self._h**2
        return self._h * (1 - self._h)

    def backward(self, dz2: np.ndarray) -> None:
        """Fill `grads` from dL/dz2 (N, C), the gradient of the loss with respect to the logits."""
        if self._x is None:
            raise RuntimeError("backward() before forward(train=True)")
        p, g = self.params, self.grads
        g["W2"] = self._h.T @ dz2
        g["b2"] = dz2.sum(axis=0)
        dh = dz2 @ p["W2"].T
        dz1 = dh * self._phi_prime()
        g["W1"] = self._x.T @ dz1
        g["b1"] = dz1.sum(axis=0)

    # -- softmax cross-entropy, by hand ------------------------------------------------------
    def loss_value(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy of the softmax of the logits, without caching anything."""
        logp = log_softmax(self.forward(x, train=False))
        return float(-logp[np.arange(len(y)), y].mean())

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy; fills `grads` with dL/dW1, dL/db1, dL/dW2, dL/db2."""
        logp = log_softmax(self.forward(x, train=True))
        n = len(y)
        rows = np.arange(n)
        dz2 = np.exp(logp)  # p
        dz2[rows, y] -= 1.0  # p - Y
        dz2 /= n  # (p - Y) / N
        self.backward(dz2)
        return float(-logp[rows, y].mean())

    # -- checkpoints ------------------------------------------------------------------------
    def set_params(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the parameters by `arrays` (same names and shapes; cast to this net's dtype)."""
        for name in PARAM_NAMES:
            if name not in arrays:
                raise KeyError(f"parameter {name!r} missing")
            if arrays[name].shape != self.params[name].shape:
                raise ValueError(f"parameter {name!r} has shape {arrays[name].shape}, expected "
                                 f"{self.params[name].shape}")
        for name in PARAM_NAMES:
            self.params[name] = np.asarray(arrays[name], dtype=self.params[name].dtype).copy()


def two_layer_net(in_features: int, hidden: Sequence[int], out_features: int, *,
                  rng: np.random.Generator, activation: str = "relu", init: str = "auto",
                  dtype: type = np.float32) -> TwoLayerNet:
    """TwoLayerNet from the `model=two_layer` keys: `hidden` is a list of exactly one width."""
    if len(hidden) != 1:
        raise ValueError(f"a 2-layer net has exactly one hidden layer, got widths {list(hidden)}")
    return TwoLayerNet(in_features, int(hidden[0]), out_features, rng=rng,
                       activation=activation, init=init, dtype=dtype)


def kink_crossings(net: TwoLayerNet, x: np.ndarray, h: float) -> int:
    """How many hidden ReLU inputs a perturbation of size `h` in W1 or b1 could push across 0.

    Perturbing W1[i, j] by h moves z1[n, j] by h x[n, i]; b1[j], by h. Where |z1| is within that
    reach, the centred difference straddles the kink and measures no derivative at all.
    """
    if net.activation != "relu":
        return 0
    z1 = x @ net.params["W1"] + net.params["b1"]
    reach = h * np.maximum(1.0, np.abs(x).max(axis=1, keepdims=True))
    return int(np.sum(np.abs(z1) <= reach))


def check_gradients(net: TwoLayerNet, x: np.ndarray, y: np.ndarray, *, h: float = 1e-5,
                    max_entries: int | None = None, rng: np.random.Generator | None = None,
                    ) -> dict[str, dict[str, float]]:
    """Analytic gradients of `net.loss` against centred differences, per parameter.

    Every entry of a tensor is checked, or a random subset of `max_entries` (drawn from `rng`)
    where the tensor is larger. Use a float64 net and float64 `x`. Returns, per parameter name,
    {"rel_error", "checked", "total"}; rel_error is `gradcheck.rel_error` over the checked entries.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    net.loss(x, y)
    analytic = {k: v.copy() for k, v in net.grads.items()}
    out: dict[str, dict[str, float]] = {}
    for name in PARAM_NAMES:
        param = net.params[name]
        size = param.size
        if max_entries is None or size <= max_entries:
            idx = np.arange(size)
        else:
            idx = np.sort(rng.choice(size, size=max_entries, replace=False))
        numeric = numerical_gradient(lambda: net.loss_value(x, y), param, h=h, indices=idx)
        err = rel_error(analytic[name].reshape(-1)[idx], numeric.reshape(-1)[idx])
        out[name] = {"rel_error": err, "checked": int(idx.size), "total": int(size)}
    return out
