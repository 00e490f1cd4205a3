"""The bench's models: each NumPy net, its PyTorch twin with the same weights, and its FLOPs.

A twin computes what the NumPy model computes (the same layers and weights, torch's NCHW
layout), so both frameworks train the same net from the same start. FLOPs count the matrix
products of one training step: forward, dW, and dx wherever the network needs it (not for the
first layer: neither framework computes the gradient of the input image).
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


def _linear(torch, W: np.ndarray, b: np.ndarray):
    lin = torch.nn.Linear(*W.shape)
    lin.weight.data = torch.from_numpy(np.ascontiguousarray(W.T))
    lin.bias.data = torch.from_numpy(b.copy())
    return lin


def torch_twin(np_model, torch):
    """A torch.nn.Sequential computing what the NumPy model computes, with its weights."""
    nn = torch.nn
    if isinstance(np_model, TwoLayerNet):
        p = np_model.params
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[np_model.activation]
        return nn.Sequential(_linear(torch, p["W1"], p["b1"]), act(),
                             _linear(torch, p["W2"], p["b2"]))
    mods: list = []
    shape = None
    for _, layer in np_model.layers:
        kind = type(layer).__name__
        if kind == "Conv2d":
            conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                             layer.stride, layer.padding)
            conv.weight.data = torch.from_numpy(layer.params["W"].transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.from_numpy(layer.params["b"].copy())
            mods.append(conv)
            channels = layer.out_channels
        elif kind == "ReLU":
            mods.append(nn.ReLU())
        elif kind in ("MaxPool2d", "AvgPool2d"):
            mods.append(getattr(nn, kind)(layer.kernel_size, layer.stride))
        elif kind == "Flatten":
            mods.append(nn.Flatten())
            shape = channels
        elif kind == "Linear":
            W = layer.params["W"]
            if shape is not None:  # NHWC flatten order -> NCHW flatten order
                side = int(round((W.shape[0] // shape) ** 0.5))
                W = W.reshape(side, side, shape, -1).transpose(2, 0, 1, 3).reshape(W.shape)
                shape = None
            mods.append(_linear(torch, W, layer.params["b"]))
    return nn.Sequential(*mods)


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
