"""MaxPool2d and AvgPool2d on NHWC batches, by looping over the kernel offsets.

Each of the kh x kw offsets is one strided (N, Ho, Wo, C) view of the input; pooling combines the
views element-wise. When the windows do not overlap (stride >= kernel, the usual 2x2/2) the
backward pass assigns each view once instead of adding, and zero-fills only when some pixels lie
in no window.
"""

from __future__ import annotations

import numpy as np

from dlproj.nn.im2col import conv_output_size
from dlproj.nn.layers import Layer


class Pool2d(Layer):
    """Base of the k x k pools: geometry, the per-offset views, and the backward scatter."""

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        stride = kernel_size if stride is None else stride
        if kernel_size < 1 or stride < 1:
            raise ValueError(f"{type(self).__name__}: kernel_size and stride must be >= 1, "
                             f"got {kernel_size}, {stride}")
        self.kernel_size, self.stride = kernel_size, stride
        self._x_shape: tuple[int, ...] | None = None

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        k, s = self.kernel_size, self.stride
        return conv_output_size(h, k, s), conv_output_size(w, k, s)

    def _views(self, a: np.ndarray, ho: int, wo: int):
        """The (N, ho, wo, C) view of `a` under each kernel offset, in row-major order."""
        k, s = self.kernel_size, self.stride
        for i in range(k):
            for j in range(k):
                yield a[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s, :]

    def disjoint(self) -> bool:
        """True when no input pixel lies in two windows: each pixel's gradient has one term."""
        return self.stride >= self.kernel_size

    def _tiles(self, h: int, w: int) -> bool:
        """True when every input pixel lies in exactly one window."""
        ho, wo = self.output_shape(h, w)
        return self.stride == self.kernel_size and ho * self.stride == h and wo * self.stride == w

    def _input_grad(self, dout: np.ndarray, masks) -> np.ndarray:
        """dx: dout times each offset's mask (a bool array, or a scalar for every pixel),
        written straight into that offset's view of dx, or added when windows overlap."""
        n, h, w, c = self._x_shape
        ho, wo = self.output_shape(h, w)
        disjoint = self.disjoint()
        dx = np.empty(self._x_shape, dout.dtype) if self._tiles(h, w) else np.zeros(
            self._x_shape, dout.dtype)
        for view, mask in zip(self._views(dx, ho, wo), masks, strict=True):
            if disjoint:
                np.multiply(dout, mask, out=view, dtype=dout.dtype)
            else:
                view += np.multiply(dout, mask, dtype=dout.dtype)
        return dx


class MaxPool2d(Pool2d):
    """y = max over each k x k window; the gradient goes to the window's first maximum
    (row-major), as in torch. A window holding NaN outputs NaN and, as torch's max_pool2d, gives
    its gradient to its last NaN (row-major).

    x : (N, H, W, C) -> (N, Ho, Wo, C), Ho = (H - k) // s + 1.
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        n, h, w, c = x.shape
        ho, wo = self.output_shape(h, w)
        views = self._views(x, ho, wo)
        out = np.array(next(views))
        for v in views:
            np.maximum(out, v, out=out)
        if train:
            self._x, self._out, self._x_shape = x, out, x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # Masks by equality with the max, each offset claiming only what earlier ones did not:
        # ties go to the first maximum. (Multiplying by a mask measured ~10x faster than
        # np.where or an argmax index.) Each mask is used before the next is made, so two
        # arrays serve them all.
        ho, wo = self._out.shape[1:3]
        if np.isnan(self._out).any():
            return self._input_grad(dout, self._nan_masks(ho, wo))

        def masks():
            views = list(self._views(self._x, ho, wo))
            taken = views[0] == self._out
            yield taken
            if len(views) == 1:
                return
            hit = np.empty_like(taken)
            for v in views[1:-1]:
                np.equal(v, self._out, out=hit)
                np.greater(hit, taken, out=hit)  # hit and not taken
                taken |= hit
                yield hit
            # Without NaN every window holds its max: the last offset takes what is left.
            yield np.logical_not(taken, out=taken)

        return self._input_grad(dout, masks())

    def backward_through_relu(self, dout: np.ndarray) -> np.ndarray:
        """The gradient through this pool and the ReLU before it, in one: the pool sends each
        window's gradient to its first maximum only, where ReLU's mask is (maximum > 0), so the
        mask applies to dout, a quarter of the size at 2x2 (pooled output NaN: 0, as ReLU's).
        The same bits as ReLU's backward after this one's where the windows are `disjoint`,
        whether the pool's input was the ReLU's output or, as Sequential runs the two, its input
        (the first maximum moves only in windows whose maximum is not positive, and there every
        pixel's gradient is the same zero or NaN)."""
        return self.backward(np.multiply(dout, self._out > 0, dtype=dout.dtype))

    def _nan_masks(self, ho: int, wo: int) -> list[np.ndarray]:
        """First maximum in windows without NaN; the last NaN in windows with one (torch's
        `val > max || isnan(val)` scan)."""
        views = list(self._views(self._x, ho, wo))
        masks, taken = [], np.zeros(self._out.shape, bool)
        for v in views:
            hit = (v == self._out) & ~taken
            taken |= hit
            masks.append(hit)
        taken = np.zeros(self._out.shape, bool)
        for i in reversed(range(len(views))):
            hit = np.isnan(views[i]) & ~taken
            taken |= hit
            masks[i] |= hit
        return masks


class AvgPool2d(Pool2d):
    """y = mean over each k x k window (no padding, so always k^2 terms); dx = dy / k^2 spread
    over the window.

    x : (N, H, W, C) -> (N, Ho, Wo, C).
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        n, h, w, c = x.shape
        ho, wo = self.output_shape(h, w)
        views = self._views(x, ho, wo)
        out = np.array(next(views))
        for v in views:
            out += v
        out *= x.dtype.type(1.0 / self.kernel_size ** 2)
        if train:
            self._x_shape = x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        share = dout.dtype.type(1.0 / self.kernel_size ** 2)
        return self._input_grad(dout, [share] * self.kernel_size ** 2)
