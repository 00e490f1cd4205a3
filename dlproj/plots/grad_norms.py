"""Gradient L2 norms, drawn by one function (`grad_norm_panel`) for a run's own figures (per
parameter every step or epoch, per layer first vs last or by depth) and for the figures comparing
runs (dlproj/plots/compare.py); log scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from dlproj.plots.lines import epoch_axis, mean_band, palette


def grad_norm_panel(ax: Any, frame: pd.DataFrame, x: str, *, line: str = "line",
                    dash: str | None = None, colours: Mapping[Any, Any] | None = None,
                    dashes: Mapping[Any, str] | None = None, smooth: int = 1,
                    raw: bool = False, marker: str | None = "o", lw: float = 1.6) -> None:
    """Gradient norms (column `value`) against `x` on a log axis: a line per value of the column
    `line` (each in its colour; `colours` or the palette in order) and of `dash` (each in its
    style, `dashes`; without `dash`, `dashes` styles the lines), its mean over seeds with a
    ± std band (`mean_band`).

    `smooth` > 1 first takes a moving mean over that many rows of each run (column `run`, else
    `seed`); `raw` draws the raw values faint behind.
    """
    ax.set_yscale("log")
    colours = colours or palette(list(frame[line]))
    per_run = "run" if "run" in frame else "seed" if "seed" in frame else None
    for key, rows in frame.groupby([line, dash] if dash else [line], sort=False, dropna=False):
        name, colour = key[0], colours[key[0]]
        rows = rows.sort_values(x, kind="stable")
        if smooth > 1:
            runs = rows.groupby(per_run, sort=False) if per_run else [(None, rows)]
            if raw:
                for _, run in runs:
                    ax.plot(run[x], run["value"], color=colour, alpha=0.25, lw=0.5)
            rows = rows.assign(value=pd.concat(
                run["value"].rolling(smooth, 1).mean() for _, run in runs))
        mean_band(ax, rows, x, "value", colour, style=(dashes or {}).get(key[-1], "-"),
                  marker=marker, lw=lw, label=str(name))


def _long(rows: Sequence[dict[str, Any]], x: str, columns: dict[str, str]) -> pd.DataFrame:
    """{line: column}: a row per (line, row) with `x`, `line` and the column's value."""
    return pd.DataFrame([{x: r[x], "line": name, "value": r[col]}
                         for name, col in columns.items() for r in rows])


def _styles(names: Sequence[str]) -> dict[str, str]:
    """A line style per parameter, so that norms of the same size (dW1 and dW2) both show."""
    return {f"||d{n}||": ("-", "--", ":", "-.")[i % 4] for i, n in enumerate(names)}


def grad_norms_per_step(rows: Sequence[dict[str, Any]], names: Sequence[str],
                        title: str = "") -> plt.Figure:
    """rows: {"step", "grad_norm_<name>"...}, one per step. Raw values, faint, and a moving
    average over ~1% of the run on top."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    frame = _long(rows, "step", {f"||d{n}||": f"grad_norm_{n}" for n in names})
    grad_norm_panel(ax, frame, "step", smooth=max(1, len(rows) // 100), raw=True, marker=None,
                    lw=1.4, dashes=_styles(names))
    ax.set(xlabel="step", ylabel="gradient L2 norm", title=title or "gradient norm per step")
    ax.legend(fontsize=8, ncol=len(names))
    fig.tight_layout()
    return fig


def grad_norms_per_epoch(rows: Sequence[dict[str, Any]], names: Sequence[str],
                         title: str = "") -> plt.Figure:
    """rows: metrics rows with `epoch` and `grad_norm_<name>` (the epoch's mean)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    frame = _long(rows, "epoch", {f"||d{n}||": f"grad_norm_{n}" for n in names})
    grad_norm_panel(ax, frame, "epoch", lw=1.5, dashes=_styles(names))
    epoch_axis(ax)
    ax.set(ylabel="mean gradient L2 norm",
           title=title or "gradient norm per epoch (mean over its steps)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _layers(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [k for k in rows[0] if k not in ("step", "epoch")]


def first_vs_last(rows: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Gradient norm of the first and the last layer against the training step (log scale)."""
    layers = _layers(rows)
    ends = list(dict.fromkeys([layers[0], layers[-1]]))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    grad_norm_panel(ax, _long(rows, "step", {n: n for n in ends}), "step",
                    dashes={ends[0]: "-", ends[-1]: "--"} if len(ends) > 1 else None,
                    marker=None, lw=1)
    ax.set(xlabel="step", ylabel="||dL/dW||", title=title or "gradient norm, first vs last layer")
    ax.legend()
    fig.tight_layout()
    return fig


def by_depth(rows: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Mean gradient norm of every layer (x: depth) over each epoch: one line per epoch."""
    layers = _layers(rows)
    epochs = sorted({r["epoch"] for r in rows})
    means = pd.DataFrame(rows).groupby("epoch")[layers].mean()
    frame = pd.DataFrame([{"layer": i, "line": f"epoch {e}", "value": means.at[e, name]}
                          for e in epochs for i, name in enumerate(layers, 1)])
    cmap = plt.get_cmap("viridis")
    colours = {f"epoch {e}": cmap(i / max(len(epochs) - 1, 1)) for i, e in enumerate(epochs)}
    fig, ax = plt.subplots(figsize=(7, 3.6))
    grad_norm_panel(ax, frame, "layer", colours=colours, marker=".", lw=1.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # The layers that trained: from the first conv, or from layer4 under model.finetune=layer4.
    ax.set(xlabel=f"layer (1 = {layers[0]}, {len(layers)} = {layers[-1]})",
           ylabel="mean ||dL/dW||",
           title=title or "gradient norm by depth")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
