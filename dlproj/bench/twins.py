"""The bench's models: each NumPy net (timed beside its PyTorch twin, dlproj.torchnets.twins) and
its FLOPs.

FLOPs count the matrix products of one training step: forward, dW, and dx wherever the network
needs it (not for the first layer: neither framework computes the gradient of the input image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlproj.nn.cnn import build_cnn
from dlproj.nn.conv import Conv2d
from dlproj.nn.layers import Linear
from dlproj.nn.mlp import build_mlp
from dlproj.nn.two_layer import TwoLayerNet


@dataclass(frozen=True)
class BenchModel:
    name: str
    what: str
    batch_size: int
    images: bool  # (N, 1, 28, 28) input, else (N, 784)

    def build(self) -> Any:
        rng = np.random.default_rng(0)
        if self.name == "mlp":
            return build_mlp(784, [512, 256], 10, activation="relu", rng=rng)
        if self.name == "two_layer":
            return TwoLayerNet(784, 512, 10, rng=rng, activation="relu")
        return build_cnn([8, 16] if self.name == "cnn_small" else [32, 64], rng=rng)


MODELS = {m.name: m for m in (
    BenchModel("mlp", "Section 1 MLP 784-512-256-10", 128, False),
    BenchModel("two_layer", "Section 2 net 784-512-10", 128, False),
    BenchModel("cnn_small", "Section 3 CNN conv 8/16", 64, True),
    BenchModel("cnn_wide", "Section 3 CNN conv 32/64", 64, True),
)}


def step_flops(np_model, x: np.ndarray) -> int:
    """Multiply-adds x 2 of one training step's GEMMs (convolutions and matrix products)."""
    n = len(x)
    if isinstance(np_model, TwoLayerNet):
        (d, h), c = np_model.params["W1"].shape, np_model.params["W2"].shape[1]
        # forward and dW for both layers, dh for the second
        return 2 * n * (2 * d * h + 3 * h * c)
    total, first = 0, True
    for _, layer in np_model.layers:
        out = layer.forward(x, train=False)
        if isinstance(layer, Conv2d):
            kh, kw = layer.kernel_size
            gemm = 2 * out.shape[0] * out.shape[1] * out.shape[2] * kh * kw \
                * layer.in_channels * layer.out_channels
        elif isinstance(layer, Linear):
            gemm = 2 * n * layer.params["W"].size
        else:
            gemm = 0
        if gemm:
            total += gemm * (2 if first else 3)
            first = False
        x = out
    return total
