"""Receptive fields: from the layer arithmetic, and measured by back-propagating one unit.

Arithmetic, layer by layer (kernel k, stride s, padding p), starting from the input
(r = 1, j = 1, c = 0):  r' = r + (k - 1) j,  j' = j s,  c' = c + ((k - 1) / 2 - p) j,
where r is the receptive field's side, j the effective stride (input pixels between
neighbouring units) and c the input coordinate of unit 0's receptive-field centre.

Measurement: the receptive field of a unit is the set of input pixels it depends on, i.e. the
support of d(unit)/d(input). On the trained network that support depends on the input (a ReLU
that is off or a max that picks one pixel zeroes paths), so the probe uses the same geometry with
positive weights, zero biases, a positive input (every ReLU on) and average pools in place of
max pools (every window pixel on the path): then the gradient's support is the whole field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dlproj.nn.conv import Conv2d
from dlproj.nn.pooling import AvgPool2d, MaxPool2d, Pool2d
from dlproj.nn.sequential import Sequential


@dataclass
class LayerRF:
    layer: str
    out_size: int         # output height (= width)
    rf: int               # receptive-field side from the arithmetic
    stride: int           # effective stride, input pixels
    center0: float        # input coordinate of unit 0's field centre
    unit: int = -1        # probed unit (row = column) in this layer's output
    measured_h: int = 0   # measured support height / width of d(unit)/d(input)
    measured_w: int = 0
    measured_stride: int = 0  # measured shift of the support between units `unit` and `unit+1`
    full: bool = False    # the support is the whole rectangle (no holes)
    measured_top: int = -1  # first input row of the support (expected: top, below)
    top: int = -1           # first input row of the field from the arithmetic


    @property
    def matches(self) -> bool:
        return (self.measured_h == self.rf and self.measured_w == self.rf
                and self.measured_stride == self.stride and self.full
                and self.measured_top == self.top)

    def as_dict(self) -> dict:
        return {**asdict(self), "matches": self.matches}


def _geometry(layer) -> tuple[int, int, int] | None:
    if isinstance(layer, Conv2d):
        return layer.kernel_size[0], layer.stride, layer.padding
    if isinstance(layer, Pool2d):
        return layer.kernel_size, layer.stride, 0
    return None


def theoretical(model: Sequential, image_size: int) -> list[LayerRF]:
    """One row per spatial layer (conv, ReLU, pool) of `model`, in order."""
    rows, r, j, c, size = [], 1, 1, 0.0, image_size
    for name, layer in model.layers:
        if type(layer).__name__ in ("Flatten", "Linear"):
            break
        geo = _geometry(layer)
        if geo is not None:
            k, s, p = geo
            r, c, j = r + (k - 1) * j, c + ((k - 1) / 2 - p) * j, j * s
            size = (size + 2 * p - k) // s + 1
        if name != "nhwc":
            rows.append(LayerRF(name, size, r, j, c))
    return rows


def _probe(model: Sequential) -> Sequential:
    """Same geometry, float64, positive weights, average pools, every input gradient on."""
    layers = []
    for name, layer in model.layers:
        if isinstance(layer, Conv2d):
            probe = Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                           layer.stride, layer.padding, rng=np.random.default_rng(0),
                           dtype=np.float64, input_grad=True)
            probe.params["W"][...] = 1.0 / probe.params["W"][..., 0].size
            layer = probe
        elif isinstance(layer, MaxPool2d):
            layer = AvgPool2d(layer.kernel_size, layer.stride)
        elif type(layer).__name__ in ("Flatten", "Linear"):
            break
        layers.append((name, layer))
    return Sequential(layers)


def _support(model: Sequential, x: np.ndarray, upto: int, unit: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) map of input pixels with d(output[unit, channel 0])/d(input) != 0."""
    sub = Sequential(model.layers[:upto + 1])
    out = sub.forward(x, train=True)
    dout = np.zeros_like(out)
    dout[0, unit[0], unit[1], 0] = 1.0
    return np.abs(sub.backward(dout)[0, 0]) > 0


def _inside(row: LayerRF, u: int, image_size: int) -> bool:
    lo = row.center0 + u * row.stride - (row.rf - 1) / 2
    return lo >= 0 and lo + row.rf - 1 <= image_size - 1


def measure(model: Sequential, image_size: int = 28, in_channels: int = 1
            ) -> tuple[list[LayerRF], dict[str, np.ndarray]]:
    """The arithmetic rows, each with its measurement filled in, and each layer's support map.

    The probed unit is the middle one whose field, and its right/lower neighbour's, lie inside
    the image (the padding would clip them otherwise).
    """
    rows = theoretical(model, image_size)
    probe = _probe(model)
    names = [n for n, _ in probe.layers]
    x = np.ones((1, in_channels, image_size, image_size))
    maps: dict[str, np.ndarray] = {}
    for row in rows:
        fits = [u for u in range(row.out_size - 1)
                if _inside(row, u, image_size) and _inside(row, u + 1, image_size)]
        if not fits:
            continue
        u = fits[len(fits) // 2]
        idx = names.index(row.layer)
        here = _support(probe, x, idx, (u, u))
        right = _support(probe, x, idx, (u, u + 1))
        rr, cc = np.nonzero(here)
        row.unit = u
        row.top = int(row.center0 + u * row.stride - (row.rf - 1) / 2)
        row.measured_top = int(rr.min())
        row.measured_h = int(rr.max() - rr.min() + 1)
        row.measured_w = int(cc.max() - cc.min() + 1)
        row.full = bool(here.sum() == row.measured_h * row.measured_w)
        row.measured_stride = int(np.nonzero(right)[1].min() - cc.min())
        maps[row.layer] = here
    return rows, maps
