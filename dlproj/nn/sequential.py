"""Sequential: named layers run in order; parameters exposed as "layer.param" for optimizers.

A ReLU that feeds a max pool whose windows do not overlap runs as one step both ways. Forward:
the pool first, then ReLU on its output, a quarter of the values at 2x2 (max is monotone, so
max(relu(x)) = relu(max(x))); the pool keeps the ReLU's input and finds the same first maximum
wherever the maximum is positive. Backward: MaxPool2d.backward_through_relu applies ReLU's mask
to the pooled gradient instead of the full-size one. The gradients are the same bits as the
layer-by-layer pass's; the outputs the same values, a zero's sign aside where a window holds -0.0
and nothing positive (tests/test_conv_layers.py compares both ways; speed:
scripts/relu_pool_one_step.py).
"""

from __future__ import annotations

import numpy as np

from dlproj.nn.activations import ReLU
from dlproj.nn.layers import Layer
from dlproj.nn.pooling import MaxPool2d


def _relu_into_max_pool(layers: list[Layer], i: int) -> bool:
    """Whether layers i and i + 1 are a ReLU and a max pool whose windows do not overlap: one step
    both ways. Exact types: a subclass may compute something else, which the step would skip."""
    return (i + 1 < len(layers) and type(layers[i]) is ReLU and type(layers[i + 1]) is MaxPool2d
            and layers[i + 1].disjoint())


class Sequential:
    def __init__(self, layers: list[tuple[str, Layer]]):
        self.layers = layers

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        layers = [layer for _, layer in self.layers]
        i = 0
        while i < len(layers):
            if _relu_into_max_pool(layers, i):
                # ReLU's eval forward: its mask is the pool's (maximum > 0), read going back.
                x = layers[i].forward(layers[i + 1].forward(x, train), train=False)
                i += 2
            else:
                x = layers[i].forward(x, train)
                i += 1
        return x

    __call__ = forward

    def replica(self) -> Sequential:
        """The same network for another thread: shared parameters, own gradients and caches."""
        return Sequential([(n, layer.replica()) for n, layer in self.layers])

    def backward(self, dout: np.ndarray) -> np.ndarray:
        layers = [layer for _, layer in self.layers]
        i = len(layers)
        while i:
            i -= 1
            if i and _relu_into_max_pool(layers, i - 1):
                dout = layers[i].backward_through_relu(dout)
                i -= 1  # the ReLU's backward is done
            else:
                dout = layers[i].backward(dout)
        return dout

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{n}.{k}": v for n, layer in self.layers for k, v in layer.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{n}.{k}": v for n, layer in self.layers for k, v in layer.grads.items()}

    def set_params(self, values: dict[str, np.ndarray]) -> None:
        """Load arrays saved from `params` (a checkpoint); names and shapes must match."""
        own = self.params
        missing = sorted(set(own) - set(values))
        if missing:
            raise KeyError(f"checkpoint lacks parameters: {', '.join(missing)}")
        for n, layer in self.layers:
            for k in layer.params:
                arr = np.asarray(values[f"{n}.{k}"])
                if arr.shape != layer.params[k].shape:
                    raise ValueError(f"{n}.{k}: checkpoint shape {arr.shape}, "
                                     f"model shape {layer.params[k].shape}")
                layer.params[k] = arr.astype(layer.params[k].dtype)
