"""The PyTorch twin of a NumPy net: a torch.nn.Sequential that computes what the NumPy model
computes, with its weights (torch's NCHW layout), so that both frameworks run the same net from
the same start. The tests compare the NumPy layers' gradients with the twin's autograd; the bench
times both (dlproj/bench/). Like dlproj.torchnets.optim's twins of the NumPy optimizers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlproj.nn.two_layer import TwoLayerNet


def _linear(W: np.ndarray, b: np.ndarray) -> nn.Linear:
    lin = torch.nn.Linear(*W.shape)
    lin.weight.data = torch.from_numpy(np.ascontiguousarray(W.T))
    lin.bias.data = torch.from_numpy(b.copy())
    return lin


def twin(np_model) -> nn.Sequential:
    """A torch.nn.Sequential computing what the NumPy model computes, with its weights."""
    if isinstance(np_model, TwoLayerNet):
        p = np_model.params
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[np_model.activation]
        return nn.Sequential(_linear(p["W1"], p["b1"]), act(),
                             _linear(p["W2"], p["b2"]))
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
            mods.append(_linear(W, layer.params["b"]))
    return nn.Sequential(*mods)
