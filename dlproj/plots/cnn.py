"""Section 3 figures: confusion matrix, first-layer filters, feature maps, receptive fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle


def confusion_matrix_figure(counts: np.ndarray, title: str = "") -> plt.Figure:
    """counts[true, predicted]: raw counts (left) and rows normalised to 1 (right)."""
    k = len(counts)
    norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax, mat, fmt, label in ((axes[0], counts, "d", "count"),
                                (axes[1], norm, ".2f", "fraction of the true class")):
        im = ax.imshow(mat, cmap="Blues")
        fig.colorbar(im, ax=ax, fraction=0.046, label=label)
        hi = mat.max() / 2
        for i in range(k):
            for j in range(k):
                ax.text(j, i, format(mat[i, j], fmt), ha="center", va="center", fontsize=7,
                        color="white" if mat[i, j] > hi else "black")
        ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true")
    axes[0].set_title("counts")
    axes[1].set_title("row-normalised")
    fig.suptitle(title or "confusion matrix (test set)")
    fig.tight_layout()
    return fig


def filters_figure(W: np.ndarray, title: str = "") -> plt.Figure:
    """First-layer kernels, W : (kh, kw, C_in, C_out); one panel per output channel (channel 0
    of the input), each on its own symmetric colour scale."""
    n = W.shape[-1]
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows), squeeze=False)
    for idx, ax in enumerate(axes.flat):
        ax.axis("off")
        if idx < n:
            w = W[:, :, 0, idx]
            lim = np.abs(w).max() or 1.0
            ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{idx}", fontsize=8)
    fig.suptitle(title or "conv1 filters (red +, blue -)")
    fig.tight_layout()
    return fig


def feature_maps_figure(images: np.ndarray, maps: Mapping[str, np.ndarray],
                        labels: Sequence[int], per_layer: int = 8) -> plt.Figure:
    """For each digit (a row block): the input and the first `per_layer` channels of each layer.

    images : (D, 28, 28); maps[title] : (D, C, H, W), the row's label being `title`
    (e.g. "conv1 + ReLU", "pool1").
    """
    names = list(maps)
    d = len(images)
    n_rows, n_cols = d * len(names), per_layer + 1
    # Fixed margins (no tight_layout): the row labels sit in the left margin, so they never
    # squeeze the panels.
    cell, margin, top = 0.95, 1.3, 0.85
    width, height = margin + cell * n_cols, top + cell * 1.25 * n_rows
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, height), squeeze=False,
                             gridspec_kw={"left": margin / width, "right": 0.99,
                                          "top": 1 - top / height, "bottom": 0.01,
                                          "wspace": 0.08, "hspace": 0.25})
    for ax in axes.flat:
        ax.axis("off")
    for i in range(d):
        for li, name in enumerate(names):
            r = i * len(names) + li
            if li == 0:
                axes[r, 0].imshow(images[i], cmap="gray")
                axes[r, 0].set_title(f"digit {labels[i]}", fontsize=9)
            fmap = maps[name][i]
            for c in range(min(per_layer, len(fmap))):
                axes[r, c + 1].imshow(fmap[c], cmap="viridis")
                if r == 0:
                    axes[r, c + 1].set_title(f"channel {c + 1}", fontsize=8)
            box = axes[r, 0].get_position()
            fig.text(box.x0 - 0.01, (box.y0 + box.y1) / 2, name, fontsize=9, ha="right",
                     va="center")
    fig.suptitle(f"feature maps of {d} test digits ({', '.join(names)})", fontsize=11,
                 y=1 - 0.2 / height, va="top")
    return fig


def receptive_field_figure(rows: Sequence, maps: Mapping[str, np.ndarray],
                           image: np.ndarray | None = None) -> plt.Figure:
    """One panel per layer: the measured gradient support of the probed unit (shaded) and the
    field from the arithmetic (outlined), over a digit when given."""
    shown = [r for r in rows if r.layer in maps]
    fig, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.3), squeeze=False)
    for ax, row in zip(axes[0], shown, strict=True):
        support = maps[row.layer]
        if image is not None:
            ax.imshow(image, cmap="gray_r", alpha=0.35)
        ax.imshow(np.ma.masked_where(~support, support), cmap="autumn", alpha=0.6,
                  vmin=0, vmax=1)
        ax.add_patch(Rectangle((row.top - 0.5, row.top - 0.5), row.rf, row.rf, fill=False,
                               edgecolor="navy", lw=1.5))
        ax.set_title(f"{row.layer}: RF {row.rf}x{row.rf}, stride {row.stride}\n"
                     f"measured {row.measured_h}x{row.measured_w}, "
                     f"stride {row.measured_stride}", fontsize=9)
        ax.set_xticks([0, support.shape[1] - 1])
        ax.set_yticks([0, support.shape[0] - 1])
    fig.suptitle("receptive field of one unit per layer "
                 "(shaded: gradient support; outline: arithmetic)")
    fig.tight_layout()
    return fig
