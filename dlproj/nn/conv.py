"""Conv2d as one GEMM over im2col patches (or by Winograd), channels last; Flatten; NCHW -> NHWC.

Layout: every image tensor inside the CNN is NHWC (N, H, W, C). Channels last makes im2col copy
whole pixels and lets the GEMM write its output straight into NHWC; `ChannelsLast` converts the
usual NCHW input once at the model's entry. Kernels are stored (kh, kw, C_in, C_out), so
`W.reshape(kh * kw * C_in, C_out)` is the GEMM's right-hand matrix (torch's (C_out, C_in, kh, kw)
is `W.transpose(3, 2, 0, 1)`).

Algorithm: im2col for every geometry; a 3x3, stride-1 convolution with at least
WINOGRAD_MIN_CHANNELS input channels takes Winograd's F(2x2, 3x3) instead (dlproj.nn.winograd:
16 multiplications for every 36 of im2col's, the same numbers to float round-off), unless
`algorithm="im2col"` asks for the patches.
"""

from __future__ import annotations

import numpy as np

from dlproj.nn import winograd
from dlproj.nn.im2col import col2im, conv_output_size, im2col, patches_view
from dlproj.nn.init import init_weight
from dlproj.nn.layers import Layer

ALGORITHMS = ("auto", "im2col", "winograd")
# auto: Winograd from this many input channels on. Its 16 products have only C_in terms each, its
# transforms cost what they cost at any width: a 14x14 layer's step (forward and backward) took
# 0.72x im2col's time at 32 -> 64 channels, 0.85-0.91x at 16 -> 32, 1.37-1.59x at 8 -> 16 (the
# small CNN's conv2) on the 2-core AMD machine of docs/section3.md (scripts/conv_algorithms.py).
WINOGRAD_MIN_CHANNELS = 16


class Conv2d(Layer):
    """y[n, o, :] = b + sum_{i, j, c} x_pad[n, s o + (i, j), c] W[i, j, c, :]  (cross-correlation).

    x : (N, H, W, C_in) -> y : (N, Ho, Wo, C_out), Ho = (H + 2p - kh) // s + 1.
    Forward: cols (N Ho Wo, kh kw C_in + 1) @ [W; b]; the ones column appended to the patches
    adds the bias inside the GEMM and makes db the last row of dW's product.
    Backward: [dW; db] = cols^T dy;  dcols = dy W^T;  dx = col2im(dcols).
    `input_grad=False` (the first layer) skips dx, which nothing would read.
    `algorithm`: auto, im2col or winograd (3x3 at stride 1 only), as the module says.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int = 0, *, rng: np.random.Generator,
                 init: str = "he", dtype: type = np.float32, input_grad: bool = True,
                 algorithm: str = "auto"):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if min(kh, kw, stride, in_channels, out_channels) < 1 or padding < 0:
            raise ValueError(f"Conv2d: bad geometry kernel={kernel_size} stride={stride} "
                             f"padding={padding} channels={in_channels}->{out_channels}")
        fits = (kh, kw) == (3, 3) and stride == 1
        if algorithm not in ALGORITHMS or (algorithm == "winograd" and not fits):
            raise ValueError(f"Conv2d: algorithm={algorithm!r}; allowed: {', '.join(ALGORITHMS)}"
                             " (winograd for a 3x3 kernel at stride 1 only)")
        self.uses_winograd = algorithm == "winograd" or (
            algorithm == "auto" and fits and in_channels >= WINOGRAD_MIN_CHANNELS)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.input_grad = input_grad
        fan_in, fan_out = kh * kw * in_channels, kh * kw * out_channels
        W = init_weight(init, rng, fan_in, fan_out, (kh, kw, in_channels, out_channels))
        self.params = {"W": W.astype(dtype), "b": np.zeros(out_channels, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        # Training-step buffers (patches, padded input, ...), reused while shapes stay the same.
        self._buffers: dict[str, np.ndarray] = {}
        self._cols: np.ndarray | None = None
        self._x_shape: tuple[int, ...] | None = None

    def replica(self) -> Conv2d:
        twin = super().replica()
        twin._buffers = {}  # a thread writes its patches into buffers of its own
        return twin

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        kh, kw = self.kernel_size
        return (conv_output_size(h, kh, self.stride, self.padding),
                conv_output_size(w, kw, self.stride, self.padding))

    def _buffer(self, name: str, shape: tuple[int, ...], dtype, reuse: bool) -> np.ndarray:
        """A zero-initialised array, kept between training steps of the same batch shape.

        Only the parts a step writes change, so the zero padding written at allocation stays.
        """
        buf = self._buffers.get(name) if reuse else None
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype=dtype)
            if reuse:
                self._buffers[name] = buf
        return buf

    def _patches(self, x: np.ndarray, reuse: bool) -> np.ndarray:
        """(N Ho Wo, K + 1) patches with a trailing ones column; K = kh kw C_in."""
        n, h, w, c = x.shape
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        ho, wo = self.output_shape(h, w)
        k = kh * kw * c
        if c == 1:
            # One channel: patches stored transposed, (K + 1, N Ho Wo), so that each kernel
            # offset's copy fills whole image rows instead of one float per patch (2.6x faster
            # here); the GEMMs read the transpose without copying.
            colsT = self._buffer("cols", (k + 1, n, ho, wo), x.dtype, reuse)
            colsT[k] = 1
            im2col(x, kh, kw, s, p, out=colsT[:k].reshape(kh, kw, n, ho, wo)
                   .transpose(2, 3, 4, 0, 1)[..., None])
            return colsT.reshape(k + 1, -1).T
        cols = self._buffer("cols", (n * ho * wo, k + 1), x.dtype, reuse)
        cols[:, k] = 1
        rs, cs = cols.strides
        view = np.lib.stride_tricks.as_strided(
            cols, (n, ho, wo, kh, kw, c),
            (rs * ho * wo, rs * wo, rs, cs * kw * c, cs * c, cs))
        xp = self._buffer("x_pad", (n, h + 2 * p, w + 2 * p, c), x.dtype, reuse)
        xp[:, p:p + h, p:p + w, :] = x
        np.copyto(view, patches_view(xp, kh, kw, s))
        return cols

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        n, h, w, c = x.shape
        if c != self.in_channels:
            raise ValueError(f"Conv2d expects NHWC input with {self.in_channels} channels, "
                             f"got shape {x.shape}")
        ho, wo = self.output_shape(h, w)
        if self.uses_winograd:
            return self._winograd_forward(x, ho, wo, train)
        cols = self._patches(x, reuse=train)
        W, b = self.params["W"], self.params["b"]
        out = cols @ np.concatenate([W.reshape(-1, self.out_channels), b[None, :]], axis=0)
        if train:
            self._x_shape, self._cols = x.shape, cols
        return out.reshape(n, ho, wo, self.out_channels)

    def _winograd_forward(self, x: np.ndarray, ho: int, wo: int, train: bool) -> np.ndarray:
        n, h, w, c = x.shape
        p = self.padding
        th, tw = winograd.tiles(h, w, p)
        xp = self._buffer("x_pad", (n, 2 * th + 2, 2 * tw + 2, c), x.dtype, train)
        xp[:, p:p + h, p:p + w, :] = x
        v = winograd.input_transform(xp, th, tw)
        u = winograd.kernel_transform(self.params["W"])
        out = winograd.output_transform(np.matmul(v, u), n, th, tw, self.params["b"])
        if train:
            self._x_shape, self._v, self._u = x.shape, v, u
        return out if out.shape[1:3] == (ho, wo) else np.ascontiguousarray(out[:, :ho, :wo])

    def _winograd_backward(self, dout: np.ndarray) -> np.ndarray | None:
        n, h, w, c = self._x_shape
        p = self.padding
        th, tw = winograd.tiles(h, w, p)
        dm = winograd.output_grad(dout, th, tw)
        self.grads["W"] = winograd.kernel_grad(self._v, dm, self.params["W"].shape)
        self.grads["b"] = dout.reshape(-1, self.out_channels).sum(axis=0)
        if not self.input_grad:
            return None
        dxp = winograd.input_grad(dm, self._u, n, th, tw)
        return np.ascontiguousarray(dxp[:, p:p + h, p:p + w, :])

    def _transposed_ok(self) -> bool:
        """dx as a stride-1 convolution of dy with the flipped kernel: for few input channels
        it beats col2im's kh kw strided adds of C-float chunks (measured here at C = 8)."""
        kh, kw = self.kernel_size
        return self.stride == 1 and self.padding <= min(kh, kw) - 1 and self.in_channels <= 16

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        if self.uses_winograd:
            return self._winograd_backward(dout)
        n, h, w, c = self._x_shape
        (kh, kw), p = self.kernel_size, self.padding
        co = self.out_channels
        d2 = dout.reshape(-1, co)
        dWb = self._cols.T @ d2
        self.grads["W"] = dWb[:-1].reshape(self.params["W"].shape)
        self.grads["b"] = dWb[-1].copy()
        if not self.input_grad:
            return None
        W = self.params["W"]
        ho, wo = dout.shape[1:3]
        if self._transposed_ok():
            # dx[n, y, x, c] = sum_{q, r, o} dy_pad[n, y + q, x + r, o] W[kh-1-q, kw-1-r, c, o]
            ph, pw = kh - 1 - p, kw - 1 - p
            dyp = self._buffer("dy_pad", (n, ho + 2 * ph, wo + 2 * pw, co), dout.dtype, True)
            dyp[:, ph:ph + ho, pw:pw + wo, :] = dout
            colsT = self._buffer("dy_cols", (n, h, w, kh, kw, co), dout.dtype, True)
            np.copyto(colsT, patches_view(dyp, kh, kw, 1))
            Wf = W[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, c)
            return (colsT.reshape(n * h * w, -1) @ Wf).reshape(n, h, w, c)
        dcols = d2 @ W.reshape(-1, co).T
        return col2im(dcols.reshape(n, ho, wo, kh, kw, c), (h, w), self.stride, p)


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)); backward restores the shape."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._shape)


class ChannelsLast(Layer):
    """NCHW -> NHWC at the model's entry (a free reshape when C = 1)."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"expected an (N, C, H, W) batch, got shape {x.shape}")
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    def backward(self, dout: np.ndarray | None) -> np.ndarray | None:
        # None: the first convolution skipped its input gradient.
        return None if dout is None else np.ascontiguousarray(dout.transpose(0, 3, 1, 2))
