"""Build a multilayer perceptron: Linear -> activation, repeated, then a Linear head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlproj.nn.activations import ACTIVATIONS
from dlproj.nn.layers import Layer, Linear
from dlproj.nn.sequential import Sequential


def build_mlp(in_features: int, hidden: Sequence[int], out_features: int, *, activation: str,
              rng: np.random.Generator, init: str = "auto",
              dtype: type = np.float32) -> Sequential:
    """`in_features` -> hidden[0] -> ... -> `out_features`; `activation` after every hidden
    layer (dlproj.nn.activations.ACTIVATIONS), He or Xavier init (`auto`: by the activation)."""
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
