"""The study's CNN: conv -> ReLU -> pool -> conv -> ReLU -> pool -> (fc -> ReLU ->) fc.

Input NCHW (N, 1, 28, 28); inside, NHWC (see dlproj.nn.conv). Layer names are what figures and
checkpoints show: conv1, relu1, pool1, conv2, relu2, pool2, flatten, [fc1, relu3,] fc.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dlproj.nn.activations import ReLU
from dlproj.nn.conv import ChannelsLast, Conv2d, Flatten
from dlproj.nn.layers import Layer, Linear
from dlproj.nn.pooling import MaxPool2d, Pool2d
from dlproj.nn.sequential import Sequential


def build_cnn(channels: Sequence[int], *, rng: np.random.Generator,
              pooling: Callable[[int], Pool2d] = MaxPool2d, kernel_size: int = 3,
              padding: int = 1, pool_size: int = 2, fc_hidden: int = 0, in_channels: int = 1,
              image_size: int = 28, num_classes: int = 10, conv_algorithm: str = "auto",
              dtype: type = np.float32) -> Sequential:
    """One conv -> ReLU -> pool block per entry of `channels`, then the classifier.

    `pooling(pool_size)` makes each block's pool: MaxPool2d or AvgPool2d (the `pooling=` group).
    `conv_algorithm`: auto, im2col or winograd (dlproj.nn.conv.ALGORITHMS).
    """
    layers: list[tuple[str, Layer]] = [("nhwc", ChannelsLast())]
    c_in, size = in_channels, image_size
    for b, c_out in enumerate(channels, start=1):
        conv = Conv2d(c_in, c_out, kernel_size, 1, padding, rng=rng, dtype=dtype,
                      input_grad=b > 1, algorithm=conv_algorithm)
        pool = pooling(pool_size)
        layers += [(f"conv{b}", conv), (f"relu{b}", ReLU()), (f"pool{b}", pool)]
        size = pool.output_shape(*conv.output_shape(size, size))[0]
        if size < 1:
            raise ValueError(f"a {image_size}x{image_size} image vanishes after block {b}")
        c_in = c_out
    layers.append(("flatten", Flatten()))
    features = c_in * size * size
    if fc_hidden:
        layers += [("fc1", Linear(features, fc_hidden, rng=rng, dtype=dtype)),
                   (f"relu{len(channels) + 1}", ReLU())]
        features = fc_hidden
    layers.append(("fc", Linear(features, num_classes, rng=rng, init="xavier",
                                activation="linear", dtype=dtype)))
    return Sequential(layers)


def feature_map_layers(model: Sequential) -> dict[str, str]:
    """The layers whose outputs are drawn as feature maps, with their titles: each conv block's
    conv output after its ReLU (`relu<b>`, "conv<b> + ReLU"), then its pool (`pool<b>`)."""
    names = [name for name, _ in model.layers]
    out: dict[str, str] = {}
    for name in names:
        if name.startswith("conv"):
            b = name[len("conv"):]
            out[f"relu{b}"] = f"{name} + ReLU"
            out[f"pool{b}"] = f"pool{b}"
    return {k: v for k, v in out.items() if k in names}


def activations(model: Sequential, x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Outputs of the named layers for input `x` (no caching), each back in NCHW."""
    out: dict[str, np.ndarray] = {}
    for name, layer in model.layers:
        x = layer.forward(x, train=False)
        if name in names:
            out[name] = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
    return out
