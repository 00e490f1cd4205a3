"""im2col / col2im for channels-last (NHWC) images, by looping over the kernel offsets.

A convolution becomes one matrix product: every output position's kh x kw x C input patch is one
row of `cols` (N * Ho * Wo, kh * kw * C), and the kernel is a (kh * kw * C, C_out) matrix.
Channels last keeps C contiguous, so each of the kh * kw offset copies moves whole pixels and the
product is already NHWC. Zero padding is never materialised: each offset copies only the output
rows whose input pixel lies inside the image, and the rest of `cols` stays zero. col2im adds the
kh * kw shifted slices back, one strided add per offset (np.add.at was 6-10x slower here).
"""

from __future__ import annotations

import numpy as np


def conv_output_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1, as torch computes it."""
    return (size + 2 * padding - kernel) // stride + 1


def _valid(offset: int, size: int, out_size: int, stride: int, padding: int
           ) -> tuple[slice, slice] | None:
    """For one kernel offset along one axis: (output slice, input slice) of in-image pixels."""
    # Output o reads input h = stride * o + offset - padding; keep 0 <= h < size.
    lo = max(0, -(-(padding - offset) // stride))
    hi = min(out_size - 1, (size - 1 + padding - offset) // stride)
    if lo > hi:
        return None
    h_lo = stride * lo + offset - padding
    return slice(lo, hi + 1), slice(h_lo, h_lo + stride * (hi - lo) + 1, stride)


def offsets(shape_hw: tuple[int, int], kh: int, kw: int, stride: int, padding: int):
    """Yield (i, j, out_rows, out_cols, in_rows, in_cols) for every kernel offset that sees
    at least one in-image pixel."""
    h, w = shape_hw
    ho, wo = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    for i in range(kh):
        rows = _valid(i, h, ho, stride, padding)
        if rows is None:
            continue
        for j in range(kw):
            cols = _valid(j, w, wo, stride, padding)
            if cols is not None:
                yield i, j, rows[0], cols[0], rows[1], cols[1]


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0,
           out: np.ndarray | None = None) -> np.ndarray:
    """Patches of an NHWC batch, zero padded by `padding` on each side.

    x : (N, H, W, C)  ->  cols : (N, Ho, Wo, kh, kw, C). `out`, when given, must be zero
    wherever a patch reaches into the padding (a buffer reused for one input shape is).
    """
    n, h, w, c = x.shape
    ho, wo = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    if out is None:
        out = np.zeros((n, ho, wo, kh, kw, c), dtype=x.dtype)
    for i, j, ro, co, ri, ci in offsets((h, w), kh, kw, stride, padding):
        out[:, ro, co, i, j, :] = x[:, ri, ci, :]
    return out


def col2im(dcols: np.ndarray, shape_hw: tuple[int, int], stride: int = 1, padding: int = 0,
           out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of im2col: add every patch's gradient back onto the (unpadded) input.

    dcols : (N, Ho, Wo, kh, kw, C)  ->  (N, H, W, C). `out`, when given, is overwritten.
    """
    n, _, _, kh, kw, c = dcols.shape
    if out is None:
        out = np.zeros((n, *shape_hw, c), dtype=dcols.dtype)
    else:
        out.fill(0)
    for i, j, ro, co, ri, ci in offsets(shape_hw, kh, kw, stride, padding):
        out[:, ri, ci, :] += dcols[:, ro, co, i, j, :]
    return out


def patches_view(xp: np.ndarray, kh: int, kw: int, stride: int = 1) -> np.ndarray:
    """All patches of a padded NHWC batch as one strided view, no copy.

    xp : (N, Hp, Wp, C)  ->  (N, Ho, Wo, kh, kw, C). Copying it into a C-contiguous buffer moves
    kw * C contiguous floats at a time (one kernel row), not C as the per-offset loop does.
    """
    n, hp, wp, c = xp.shape
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    sn, sh, sw, sc = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, ho, wo, kh, kw, c), (sn, sh * stride, sw * stride, sh, sw, sc), writeable=False)
