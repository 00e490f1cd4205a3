"""Claims against the runs as one figure: a panel per judged comparison, each on its own scale,
its effect with its 95% interval, a vertical line at no effect (0 for a difference; 1 for a
ratio, on a log axis), the side the claim asserts shaded; point and interval coloured by the
verdict (the palette's tab10 colours: supported green, contradicted red, inconclusive grey)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

from dlproj.plots.lines import check, figure, legend_below

_TAB10 = plt.get_cmap("tab10")
VERDICT_COLOURS = {"supported": _TAB10(2), "contradicted": _TAB10(3),
                   "inconclusive": _TAB10(7), "not run yet": (0.8, 0.8, 0.8, 1.0)}
ASSERTED = (*_TAB10(2)[:3], 0.10)  # the shade of the side a claim asserts
COLUMNS = ["label", "effect", "low", "high", "verdict", "kind", "ratio", "higher"]


def _limits(values: list[float], null: float, log: bool) -> tuple[float, float]:
    """An x range holding every finite value and the line of no effect, with a margin."""
    xs = [math.log10(v) if log else v for v in (*values, null) if np.isfinite(v) and (v > 0
                                                                                   or not log)]
    lo, hi = min(xs), max(xs)
    pad = (hi - lo) * 0.12 or max(abs(lo), 1e-3 if not log else 0.1)
    lo, hi = lo - pad, hi + pad
    return (10 ** lo, 10 ** hi) if log else (lo, hi)


def _panel(ax: Any, row: Any) -> None:
    null = 1.0 if row.ratio else 0.0
    if row.ratio:
        ax.set_xscale("log")
    colour = VERDICT_COLOURS.get(row.kind, VERDICT_COLOURS["inconclusive"])
    values = [row.effect, row.low, row.high]
    if np.isfinite(row.low) and np.isfinite(row.high):
        ax.hlines(0, row.low, row.high, color=colour, lw=3, zorder=2)
    if np.isfinite(row.effect):
        ax.plot([row.effect], [0], "o", color=colour, mec="black", mew=0.6, ms=7, zorder=3)
    ax.axvline(null, color="black", lw=1, zorder=1)
    lo, hi = _limits(values, null, row.ratio)
    ax.axvspan(*((null, hi) if row.higher else (lo, null)), color=ASSERTED, lw=0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-1, 1)
    ax.set_yticks([0], [row.label], fontsize="small")
    ax.set_title(row.verdict, loc="right", fontsize="x-small", color="0.3", pad=2)
    if np.isfinite(row.effect):
        ax.tick_params(axis="x", which="both", labelsize="x-small")  # log axes label minors
        if row.ratio and hi / lo < 100:  # a narrow log axis: ×0.98, not 9.8 × 10^-1
            times = FuncFormatter(lambda v, _: f"×{v:g}")
            ax.xaxis.set_major_formatter(times)
            if hi / lo >= 10:  # across a decade: every minor tick labelled would overlap
                ax.xaxis.set_minor_locator(LogLocator(subs=(2, 5)))
            ax.xaxis.set_minor_formatter(times)
            ax.tick_params(axis="x", which="minor", length=3.5)  # labels in one row
        ax.grid(axis="x", alpha=0.3)
    else:  # nothing to read off a scale
        ax.set_xticks([], minor=False)
        ax.set_xticks([], minor=True)


def effect_intervals(rows: pd.DataFrame, title: str = "") -> Figure:
    """rows: a comparison each, with `label`, `effect`, `low` and `high` (its 95% interval; NaN:
    none), `verdict` (in words, above the panel) and its `kind` (supported | contradicted |
    inconclusive | not run yet: the colour), `ratio` (a ratio, drawn
    on a log axis around 1; else a difference around 0) and `higher` (the claim asserts a
    positive difference / a ratio above 1)."""
    check(rows, COLUMNS, "effect_intervals")
    fig, axes = figure(len(rows), 1, 8.5, 0.72 * len(rows) + 1.2)
    for ax, row in zip(axes[:, 0], rows.itertuples(), strict=True):
        _panel(ax, row)
    shown = [k for k in VERDICT_COLOURS if k in set(rows["kind"])]
    handles = [Line2D([], [], color=VERDICT_COLOURS[k], marker="o", mec="black", mew=0.6, lw=3)
               for k in shown] + [Patch(color=ASSERTED), Line2D([], [], color="black", lw=1)]
    legend_below(fig, handles, [*shown, "asserted side", "no effect"])
    fig.suptitle(title or "The course report's claims: effect and 95% interval over seeds")
    return fig
