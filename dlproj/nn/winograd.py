"""A 3x3, stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), forward and backward.

im2col (dlproj.nn.im2col) multiplies every 3x3 patch by the kernel: 9 multiplications per input
channel, output channel and output pixel. Winograd's F(2x2, 3x3) (Lavin & Gray, "Fast
Algorithms for Convolutional Neural Networks", 2016) makes each 2x2 block of outputs from one 4x4
input tile d with 16 multiplications instead of 36:

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise; g the 3x3 kernel)

    B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
          [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
          [0 -1  1  0]         [1/2 -1/2  1/2]
          [0  1  0 -1]         [ 0    0    1 ]

Over channels the 16 elementwise products become 16 matrix products: with V[k] (tiles, C_in) the
k-th entry of every tile's B^T d B and U[k] (C_in, C_out) that of every kernel's G g G^T,
M[k] = V[k] @ U[k], and the outputs are A^T M A. The products carry 16/36 of im2col's
multiplications; the transforms are small matrix products too (vec(B^T d B) = (B^T kron B^T)
vec(d)). Every stage is linear, so the backward pass is each stage's transpose in reverse order:

    dM = (A kron A) dY        dU[k] = V[k]^T dM[k]  ->  dW = (G kron G)^T dU
    dV[k] = dM[k] U[k]^T  ->  dd = (B^T kron B^T)^T dV, added back onto the overlapping tiles

Tiles start every 2 pixels and overlap by 2; an odd output size gets one zero row or column of
padding more, which the result drops. The same numbers as im2col's to float round-off (B and A
hold only 0 and +-1, G halves): tests compare both with torch in float64 and float32.
"""

from __future__ import annotations

from functools import cache

import numpy as np

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


@cache
def transforms(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B^T kron B^T) (16, 16), (G kron G) (16, 9), (A^T kron A^T) (4, 16), in `dtype`: each maps
    a row-major flattened tile, kernel or product to the flattened transform."""
    return tuple(np.kron(m, m).astype(dtype) for m in (_BT, _G, _AT))


def tiles(h: int, w: int, padding: int) -> tuple[int, int]:
    """Tiles down and across: one per 2x2 block of the (h + 2p - 2) x (w + 2p - 2) output."""
    return -(-(h + 2 * padding - 2) // 2), -(-(w + 2 * padding - 2) // 2)


def kernel_transform(W: np.ndarray) -> np.ndarray:
    """U (16, C_in, C_out) from kernels W (3, 3, C_in, C_out)."""
    _, kg, _ = transforms(W.dtype)
    _, _, c, co = W.shape
    return (kg @ W.reshape(9, c * co)).reshape(16, c, co)


def input_transform(xp: np.ndarray, th: int, tw: int) -> np.ndarray:
    """V (16, N th tw, C) from a padded NHWC batch xp (N, 2 th + 2, 2 tw + 2, C)."""
    kb, _, _ = transforms(xp.dtype)
    n, c = xp.shape[0], xp.shape[3]
    sn, sh, sw, sc = xp.strides
    d = np.lib.stride_tricks.as_strided(xp, (4, 4, n, th, tw, c),
                                        (sh, sw, sn, 2 * sh, 2 * sw, sc), writeable=False)
    flat = np.ascontiguousarray(d).reshape(16, -1)  # every tile's 16 entries, row-major
    return (kb @ flat).reshape(16, n * th * tw, c)


def output_transform(m: np.ndarray, n: int, th: int, tw: int, bias: np.ndarray) -> np.ndarray:
    """NHWC outputs (N, 2 th, 2 tw, C_out) + bias from M (16, N th tw, C_out)."""
    _, _, ka = transforms(m.dtype)
    co = m.shape[2]
    y = (ka @ m.reshape(16, -1)).reshape(2, 2, n, th, tw, co)
    out = np.empty((n, th, 2, tw, 2, co), dtype=m.dtype)
    np.add(y.transpose(2, 3, 0, 4, 1, 5), bias, out=out)
    return out.reshape(n, 2 * th, 2 * tw, co)


def output_grad(dout: np.ndarray, th: int, tw: int) -> np.ndarray:
    """dM (16, N th tw, C_out) from the outputs' gradient dout (N, Ho, Wo, C_out)."""
    _, _, ka = transforms(dout.dtype)
    n, ho, wo, co = dout.shape
    if (ho, wo) != (2 * th, 2 * tw):  # an odd size: the padded outputs' gradient is zero
        full = np.zeros((n, 2 * th, 2 * tw, co), dtype=dout.dtype)
        full[:, :ho, :wo] = dout
        dout = full
    dy = np.ascontiguousarray(dout.reshape(n, th, 2, tw, 2, co).transpose(2, 4, 0, 1, 3, 5))
    return (ka.T @ dy.reshape(4, -1)).reshape(16, n * th * tw, co)


def kernel_grad(v: np.ndarray, dm: np.ndarray, kernel_shape: tuple[int, ...]) -> np.ndarray:
    """dW (3, 3, C_in, C_out): dU[k] = V[k]^T dM[k], then G kron G transposed."""
    _, kg, _ = transforms(v.dtype)
    du = np.matmul(v.transpose(0, 2, 1), dm)
    return (kg.T @ du.reshape(16, -1)).reshape(kernel_shape)


def input_grad(dm: np.ndarray, u: np.ndarray, n: int, th: int, tw: int) -> np.ndarray:
    """The padded input's gradient (N, 2 th + 2, 2 tw + 2, C_in): dV[k] = dM[k] U[k]^T, each
    tile's B^T kron B^T transposed, the overlapping tiles added up."""
    kb, _, _ = transforms(dm.dtype)
    c = u.shape[1]
    dv = np.matmul(dm, u.transpose(0, 2, 1))
    dd = (kb.T @ dv.reshape(16, -1)).reshape(4, 4, n, th, tw, c)
    dxp = np.empty((n, 2 * th + 2, 2 * tw + 2, c), dtype=dm.dtype)
    dxp[:, 2 * th:] = 0
    dxp[:, :, 2 * tw:] = 0
    # Tile entries (i, j) with i, j < 2 cover rows and columns 0 .. 2t - 1 once: assigned; the
    # other three 2x2 quarters of the tile land 2 rows and/or columns further on: added.
    for qi in (0, 2):
        for qj in (0, 2):
            block = dxp[:, qi:qi + 2 * th, qj:qj + 2 * tw].reshape(n, th, 2, tw, 2, c)
            part = dd[qi:qi + 2, qj:qj + 2].transpose(2, 3, 0, 4, 1, 5)
            if qi == qj == 0:
                np.copyto(block, part)
            else:
                block += part
    return dxp
