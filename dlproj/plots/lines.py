"""A line per setting, as every figure draws it: one colour per line (the same in every panel),
the mean over seeds with a ± one-std band, integer epoch ticks, one legend below the panels.

Frames are long: a row per (run, x) with a `seed` column; a line's seeds are averaged at each x
(each seed's rows there first), the band is their sample std (no band from one seed). On a log
axis a band is cut at a third of the mean where one std would reach zero or below.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

AXIS = {"train_loss": "training loss", "test_acc": "test accuracy (fraction)",
        "val_acc": "validation accuracy (fraction)", "train_acc": "training accuracy (fraction)",
        "test_mse": "test MSE", "test_loss": "test loss", "val_loss": "validation loss"}
FAMILIES = ("Blues", "Oranges", "Greens", "Reds", "Purples", "Greys")  # tab10's first hues
DASHES = ("-", "--", ":", "-.")


def axis_label(metric: str) -> str:
    return AXIS.get(metric, metric.replace("_", " "))


def palette(lines: Sequence[Hashable], pairs: Sequence[tuple] | None = None) -> dict[Any, Any]:
    """One colour per line, in the order given: tab10 (tab20 beyond ten).

    `pairs` gives each line a (group, member), e.g. (optimizer, schedule): then a colour family
    per group and a shade per member, so that a group's lines read together. Groups take their
    families in the order of their names, in tab10's hues: the colour a figure of a line per
    group gives them, its lines sorted by name (plots/compare.py curves_by_panel), whatever
    order the runs came in (rmsprop was red in one Section 2 figure and purple in the next).
    """
    lines = list(dict.fromkeys(lines))
    if pairs is not None:
        groups = sorted(dict.fromkeys(g for g, _ in pairs), key=str)
        members = sorted(dict.fromkeys(m for _, m in pairs), key=str)
        if len(groups) <= len(FAMILIES):
            tones = np.linspace(0.9, 0.45, len(members)) if len(members) > 1 else [0.7]
            return {line: plt.get_cmap(FAMILIES[groups.index(g)])(tones[members.index(m)])
                    for line, (g, m) in zip(lines, pairs, strict=True)}
    cmap = plt.get_cmap("tab10" if len(lines) <= 10 else "tab20")
    return {line: cmap(i % cmap.N) for i, line in enumerate(lines)}


def dashes(lines: Sequence[Hashable], members: Sequence[Hashable]) -> dict[Any, str]:
    """A line style per member (solid, dashed, dotted, ...), e.g. per schedule: lines whose
    curves coincide (constant and step decay before the first step) stay visible."""
    order = list(dict.fromkeys(members))
    return {line: DASHES[order.index(m) % len(DASHES)]
            for line, m in zip(lines, members, strict=True)}


def seed_stats(frame: pd.DataFrame, x: str, value: str,
               by: Sequence[str] = ()) -> pd.DataFrame:
    """Per (`by`..., x): mean, std and count over seeds of `value`, each seed first averaged
    over its rows at that x. A frame without `seed` is one seed."""
    if "seed" not in frame:
        frame = frame.assign(seed=0)
    per_seed = (frame.dropna(subset=[value])
                .groupby([*by, x, "seed"], sort=False, dropna=False)[value].mean())
    stats = per_seed.groupby(level=[*by, x], sort=False, dropna=False).agg(
        ["mean", "std", "count"])
    return stats.reset_index().sort_values([*by, x], kind="stable")


def mean_band(ax: Any, rows: pd.DataFrame, x: str, value: str, colour: Any, *,
              style: str = "-", marker: str | None = "o", lw: float = 1.6,
              label: str | None = None) -> bool:
    """One line: the mean over seeds of `value` against `x`, ± std shaded where there is more
    than one seed. False when there is nothing to draw."""
    stats = seed_stats(rows, x, value)
    if stats.empty:
        return False
    xs, mean = stats[x].to_numpy(float), stats["mean"].to_numpy(float)
    ax.plot(xs, mean, style, color=colour, lw=lw, marker=marker, ms=3.5, label=label)
    if (stats["count"] > 1).any():
        std = stats["std"].fillna(0.0).to_numpy(float)
        lower = mean - std
        if ax.get_yscale() == "log":  # a band reaching zero would stretch a log axis
            lower = np.maximum(lower, mean / 3)
        ax.fill_between(xs, lower, mean + std, color=colour, alpha=0.2, lw=0)
    return True


def figure(rows: int, cols: int, width: float, height: float, **kw: Any) -> tuple[Figure, Any]:
    """A grid of panels (axes[row][col]) in a constrained layout: a legend below gets room."""
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False,
                             layout="constrained", **kw)
    return fig, axes


def epoch_axis(ax: Any, label: str = "epoch") -> None:
    """Whole epochs on the x axis, a run of one epoch included (its view is 0.95-1.05)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)


def legend_below(fig: Figure, handles: list[Any], labels: list[str], title: str = "") -> None:
    """One legend below every panel, in as many columns as fit the figure's width."""
    longest = max(map(len, labels), default=1)
    ncol = len(labels) if len(labels) <= 5 else (5 if longest < 18 else 3)
    # An entry is about 4.6 pt a character in "small" type, plus its line sample.
    ncol = max(1, min(ncol, int(fig.get_figwidth() * 72 // (4.6 * longest + 30))))
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False,
               title=title or None, fontsize="small", title_fontsize="small")


def seeds_note(frame: pd.DataFrame, by: Sequence[str]) -> str:
    """"mean ± std over 2 seeds", "... over 1-3 seeds" or "1 seed"."""
    n = frame.groupby(list(by), dropna=False)["seed"].nunique()
    lo, hi = int(n.min()), int(n.max())
    seeds = f"{lo} seed{'s' if lo > 1 else ''}" if lo == hi else f"{lo}-{hi} seeds"
    return f"mean ± std over {seeds}" if hi > 1 else "1 seed"


def check(frame: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    """ValueError naming the columns a drawing needs and the frame lacks, or an empty frame."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {', '.join(missing)}; it has "
                         f"{', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise ValueError(f"{what}: the frame has no rows")
