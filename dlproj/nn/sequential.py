"""Sequential: named layers run in order; parameters exposed as "layer.param" for optimizers.

Backward runs the layers in reverse, except a ReLU that feeds a max pool: the two go back in one
(MaxPool2d.backward_through_relu), ReLU's mask applied on the pooled gradient instead of the
full-size one. The same numbers bit for bit (tests/test_conv_layers.py compares both ways);
1-6% off a CNN step's forward and backward (scripts/relu_pool_backward.py).
"""

from __future__ import annotations

import numpy as np

from dlproj.nn.activations import ReLU
from dlproj.nn.layers import Layer
from dlproj.nn.pooling import MaxPool2d


class Sequential:
    def __init__(self, layers: list[tuple[str, Layer]]):
        self.layers = layers

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        for _, layer in self.layers:
            x = layer.forward(x, train)
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
            layer = layers[i]
            # Exact types: a subclass may compute something else, which the step would skip.
            if (i and type(layer) is MaxPool2d and type(layers[i - 1]) is ReLU
                    and layer.disjoint()):
                dout = layer.backward_through_relu(dout)
                i -= 1  # the ReLU's backward is done
            else:
                dout = layer.backward(dout)
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
