"""Build a multilayer perceptron: Linear -> activation, repeated, then a Linear head."""

from __future__ import annotations

import numpy as np

from dlproj.nn.activations import ACTIVATIONS
from dlproj.nn.layers import Layer, Linear
from dlproj.nn.sequential import Sequential


def build_mlp(in_features: int, hidden: list[int], out_features: int, *, activation: str,
              rng: np.random.Generator, init: str = "auto",
              dtype: type = np.float32) -> Sequential:
    layers: list[tuple[str, Layer]] = []
    width = in_features
    for i, h in enumerate(hidden, start=1):
        # The first layer's input gradient would be dL/d(image): nothing reads it.
        layers.append((f"fc{i}", Linear(width, h, rng=rng, init=init, activation=activation,
                                        dtype=dtype, input_grad=i > 1)))
        layers.append((f"{activation}{i}", ACTIVATIONS[activation]()))
        width = h
    # The head feeds a softmax or a regression output: Xavier keeps its outputs small.
    layers.append((f"fc{len(hidden) + 1}", Linear(width, out_features, rng=rng,
                                                  init="xavier" if init == "auto" else init,
                                                  activation="linear", dtype=dtype,
                                                  input_grad=bool(hidden))))
    return Sequential(layers)


def mlp_from_config(model_cfg, in_features: int, out_features: int, *,
                    rng: np.random.Generator, dtype: type = np.float32) -> Sequential:
    """The `model=` group's builder for MLP configs (dlproj.config.groups.MODEL["mlp"])."""
    return build_mlp(in_features, list(model_cfg.hidden), out_features,
                     activation=model_cfg.activation, init=model_cfg.init, rng=rng, dtype=dtype)
