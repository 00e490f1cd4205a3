"""Figures comparing settings across runs: a line per setting, its mean over seeds with a ± std
band, one colour per setting in every panel of a figure (dlproj/plots/lines.py).

Each takes a long DataFrame, a row per (run, epoch) (metrics.csv) or per (run, step)
(grad_norms.csv), with
- one column per key that varies between the settings, named as the legend shows it
  (`keys`, e.g. ["optimizer", "schedule"]): a setting is one combination of their values, its
  line comes in the order the combination first appears;
- `seed`; `epoch` (1-based); `step` in per-step rows; optionally `run` (one id per run);
- the metric columns, named as the runs' CSV files name them.
It returns a matplotlib Figure; dlproj/plots/save.py writes it. A column a figure needs and the
frame lacks raises ValueError naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from dlproj.plots.grad_norms import grad_norm_panel
from dlproj.plots.lines import (
    axis_label,
    check,
    dashes,
    epoch_axis,
    figure,
    legend_below,
    mean_band,
    palette,
    seeds_note,
)

NETWORK_NAMES = {"plain": "PlainNet", "resnet": "SmallResNet"}
GRAD_NORM_LABEL = {"grad_norm_W1": r"$\|\partial L/\partial W_1\|_2$",
                   "grad_norm_W2": r"$\|\partial L/\partial W_2\|_2$"}


def _with_lines(frame: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, list[tuple]]:
    """The frame with `line`, the number of its setting, and the settings (their keys' values)
    in order: line i is settings[i]."""
    values = list(zip(*(frame[k] for k in keys), strict=True))
    number = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return frame.assign(line=[number[v] for v in values]), list(number)


def _pairs(keys: Sequence[str], settings: list[tuple], frame: pd.DataFrame) -> dict[int, str]:
    """"model=plain, depth=8 (n=2)" per line: its keys and its number of seeds in `frame`."""
    n = frame.groupby("line")["seed"].nunique()
    return {i: ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
            + f" (n={n.get(i, 0)})" for i, values in enumerate(settings)}


def _values(keys: Sequence[str], settings: list[tuple]) -> tuple[dict[int, str], str, list[int]]:
    """Legend entries of the values that differ between the settings ("adam, step"), the
    legend's title naming their keys ("optimizer, schedule"), and those keys' places."""
    varying = [i for i in range(len(keys))
               if len(settings) < 2 or len({s[i] for s in settings}) > 1]
    shown = {j: ", ".join(str(s[i]) for i in varying) for j, s in enumerate(settings)}
    return shown, ", ".join(keys[i] for i in varying), varying


def _curves(ax: Any, frame: pd.DataFrame, metric: str, colours: dict, labels: dict,
            *, logy: bool = False) -> None:
    """A line per setting of `metric` per epoch."""
    if logy:
        ax.set_yscale("log")
    for line, rows in frame.groupby("line", sort=False):
        mean_band(ax, rows, "epoch", metric, colours[line], label=labels[line])
    ax.set_ylabel(axis_label(metric))
    epoch_axis(ax)


def _legend_of(fig: Figure, ax: Any, title: str = "") -> None:
    legend_below(fig, *ax.get_legend_handles_labels(), title)


def _finals(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Each run's last epoch with `metric`."""
    last = frame.dropna(subset=[metric]).sort_values("epoch", kind="stable")
    return last.groupby(["line", "seed"], sort=False).tail(1)


def curves_and_bars(frame: pd.DataFrame, keys: Sequence[str], metric: str, title: str,
                    loss: str = "train_loss") -> Figure:
    """`metric` and `loss` per epoch, and the final `metric` as bars (mean ± std over seeds)."""
    check(frame, ["seed", "epoch", metric, loss, *keys], "curves_and_bars")
    frame, settings = _with_lines(frame, keys)
    colours, labels = palette(range(len(settings))), _pairs(keys, settings, frame)
    fig, axes = figure(1, 3, 12, 3.8)
    axes = axes[0]
    _curves(axes[0], frame, metric, colours, labels)
    _curves(axes[1], frame, loss, colours, labels, logy=True)
    axes[0].set_title(axis_label(metric).split(" (")[0])
    axes[1].set_title(axis_label(loss).split(" (")[0])
    bars = _finals(frame, metric).groupby("line", sort=False)[metric].agg(["mean", "std"])
    std = bars["std"].fillna(0)
    axes[2].bar(range(len(bars)), bars["mean"], yerr=std, capsize=4,
                color=[colours[ln] for ln in bars.index])
    axes[2].set_xticks([])  # the colours are the legend's
    lo, hi = (bars["mean"] - std).min(), (bars["mean"] + std).max()
    axes[2].set_ylim(max(0.0, lo - 0.05), min(1.0, hi + 0.02) if hi <= 1 else hi * 1.05)
    axes[2].set(xlabel="setting (colours as in the legend)",
                ylabel=f"final {axis_label(metric)}", title="final, mean ± std over seeds")
    axes[2].grid(alpha=0.3, axis="y")
    _legend_of(fig, axes[0])
    fig.suptitle(title)
    return fig


def curves_by_panel(frame: pd.DataFrame, keys: Sequence[str], metric: str, title: str,
                    loss: str = "train_loss") -> Figure:
    """`metric` (top) and `loss` (bottom) per epoch in a column per value of the last key; a
    colour per value of the others, the same in every column."""
    check(frame, ["seed", "epoch", metric, loss, *keys], "curves_by_panel")
    panel, keys = keys[-1], keys[:-1]
    frame, settings = _with_lines(frame, keys)
    colours = palette(sorted(range(len(settings)), key=lambda i: str(settings[i])))
    panels = sorted(frame[panel].unique(), key=str)
    fig, axes = figure(2, len(panels), 4 * len(panels), 6.4, sharey="row")
    for j, value in enumerate(panels):
        sub = frame[frame[panel] == value]
        labels = _pairs(keys, settings, sub)
        _curves(axes[0][j], sub, metric, colours, labels)
        _curves(axes[1][j], sub, loss, colours, labels, logy=True)
        axes[0][j].set_title(f"{value} {panel}")
    _legend_of(fig, axes[0][0])
    fig.suptitle(title)
    return fig


def curves_and_seeds(frame: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str],
                     title: str) -> Figure:
    """`metrics` = (loss, accuracy, final): the first two per epoch, and the last epoch's
    `final` per setting as a bar (mean ± std over seeds) with each seed a dot."""
    loss, curve, final = metrics
    check(frame, ["seed", "epoch", loss, curve, final, *keys], "curves_and_seeds")
    frame, settings = _with_lines(frame, keys)
    shown, legend_title, _ = _values(keys, settings)
    lines = list(range(len(settings)))
    colours = palette(lines)
    fig, axes = figure(1, 3, 13, 4.4, width_ratios=[1, 1, 0.7])
    axes = axes[0]
    for ax, metric in ((axes[0], loss), (axes[1], curve)):
        _curves(ax, frame, metric, colours, shown)
        ax.set_title(axis_label(metric).split(" (")[0])
    axes[0].set_ylabel(f"{axis_label(loss)} (cross-entropy, nats)")
    axes[1].set_ylabel(axis_label(curve).split(" (")[0])
    last = _finals(frame, final)
    ax = axes[2]
    for i, line in enumerate(lines):
        values = last.loc[last["line"] == line, final].to_numpy(float)
        if not len(values):
            continue
        std = values.std(ddof=1) if len(values) > 1 else 0.0
        ax.bar(i, values.mean(), color=colours[line], alpha=0.75, width=0.65,
               yerr=std if len(values) > 1 else None, capsize=4)
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), values, color="k", s=10, zorder=3)
        top = max(values.mean() + std, values.max())
        ax.annotate(f"{values.mean():.3f}", (i, top), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(range(len(lines)), [shown[ln] for ln in lines])
    lo = float(last[final].min()) if len(last) else 0.0
    ax.set_ylim(max(0.0, lo - 0.1 * (1 - lo) - 0.02), 1.0)
    name = axis_label(final).split(" (")[0]
    ax.set(ylabel=f"{name} after the last epoch", title=f"final {name}")
    ax.grid(axis="y", alpha=0.3)
    _legend_of(fig, axes[0], legend_title)
    fig.suptitle(f"{title} ({seeds_note(frame, ['line'])})")
    return fig


def grad_norms(frame: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str],
               title: str) -> Figure:
    """A panel per gradient-norm column in `metrics`, per epoch (per-step rows are averaged into
    their epoch). Settings that vary two keys (optimizer x schedule) get a colour family per
    value of the first and a line style per value of the second."""
    check(frame, ["seed", "epoch", *metrics, *keys], "grad_norms")
    frame, settings = _with_lines(frame, keys)
    shown, legend_title, varying = _values(keys, settings)
    lines = list(range(len(settings)))
    colours, styles = palette(lines), dict.fromkeys(lines, "-")
    if len(varying) == 2:
        pairs = [(s[varying[0]], s[varying[1]]) for s in settings]
        firsts = list(dict.fromkeys(g for g, _ in pairs))
        lines.sort(key=lambda i: firsts.index(pairs[i][0]))  # a group's lines together
        pairs = [pairs[i] for i in lines]
        colours = palette(lines, pairs)
        styles = dashes(lines, [m for _, m in pairs])
    fig, axes = figure(1, len(metrics), 5.2 * len(metrics), 4.8)
    for ax, metric in zip(axes[0], metrics, strict=True):
        grad_norm_panel(ax, frame.assign(value=frame[metric]), "epoch", colours=colours,
                        dashes=styles)
        ax.set_ylabel(GRAD_NORM_LABEL.get(metric, metric) + " (mean over the epoch)")
        ax.set_title(f"weights {metric.removeprefix('grad_norm_')}")
        epoch_axis(ax)
    legend_below(fig, [Line2D([], [], color=colours[ln], ls=styles[ln], lw=2) for ln in lines],
                 [shown[ln] for ln in lines], legend_title)
    fig.suptitle(f"{title} ({seeds_note(frame, ['line'])})")
    return fig


def _epoch_position(frame: pd.DataFrame, runs: list[str]) -> pd.Series:
    """Each step's place in training, in epochs: epoch - 1 + (k + 1) / steps of that epoch."""
    keys = [*runs, "epoch"]
    order = frame.sort_values("step", kind="stable")
    k = order.groupby(keys, sort=False, dropna=False).cumcount()
    n = order.groupby(keys, sort=False, dropna=False)["epoch"].transform("size")
    return (order["epoch"] - 1 + (k + 1) / n).reindex(frame.index)


def gradient_flow(norms: pd.DataFrame, keys: Sequence[str], layers: Sequence[str], title: str,
                  smooth: float = 0.1) -> Figure:
    """The gradient norm of the first and the last layer (`layers`, by name) over training, a
    colour per value of the first key (the network), a panel per value of the second (the
    depth). `norms`: a row per (run, step, layer) with `name` and `value`. Each run's norms are
    smoothed by a moving mean over `smooth` of an epoch, then averaged over seeds at each step."""
    first, last = layers
    check(norms, ["seed", "epoch", "step", "name", "value", *keys], "gradient_flow")
    network, depth = keys[0], keys[1]
    runs = ["run" if "run" in norms else "seed", "name"]
    frame = norms[norms["name"].isin([first, last])]
    frame = frame.assign(**{network: frame[network].map(lambda n: NETWORK_NAMES.get(n, n))})
    frame["position"] = _epoch_position(frame, [*keys, *runs])
    networks = list(dict.fromkeys(frame[network]))
    colours = palette(networks)
    depths = sorted(frame[depth].unique())
    fig, axes = figure(1, len(depths), 4.6 * len(depths), 4.4, sharey=True)
    for ax, d in zip(axes[0], depths, strict=True):
        for net in networks:
            rows = frame[(frame[depth] == d) & (frame[network] == net)]
            if rows.empty:
                continue
            steps = rows.groupby([*runs, "epoch"], dropna=False).size().max()
            grad_norm_panel(ax, rows, "position", line=network, dash="name", colours=colours,
                            dashes={first: "-", last: "--"},
                            smooth=max(1, int(round(smooth * steps))), marker=None)
        ax.set_title(f"depth {d} ({2 * int(d) + 2} weighted layers)")
        epoch_axis(ax, "epoch (training progress)")
        ax.set_xlim(left=0)
    axes[0][0].set_ylabel(r"gradient norm $\|\partial L/\partial W\|_2$")
    handles = [Line2D([], [], color=colours[n], lw=2) for n in networks]
    handles += [Line2D([], [], color="0.3", ls="-"), Line2D([], [], color="0.3", ls="--")]
    legend_below(fig, handles, [*networks, f"first layer ({first})", f"last layer ({last})"])
    fig.suptitle(f"{title} ({seeds_note(frame, keys)})")
    return fig


def plain_vs_residual(curves: pd.DataFrame, norms: pd.DataFrame, keys: Sequence[str],
                      metric: str, title: str, loss: str = "train_loss") -> Figure:
    """Loss and `metric` per epoch (`curves`), and from `norms` (per-step gradient norms, a row
    per (run, step, layer): `layer` numbers them from 1, input to output, `value` the norm) the
    mean norm by layer (± std over seeds) and the first vs the last layer over training (the
    setting's first run)."""
    check(curves, ["seed", "epoch", metric, loss, *keys], "plain_vs_residual")
    curves, settings = _with_lines(curves, keys)
    colours, labels = palette(range(len(settings))), _pairs(keys, settings, curves)
    fig, axes = figure(2, 2, 10, 7.2)
    _curves(axes[0][0], curves, loss, colours, labels, logy=True)
    _curves(axes[0][1], curves, metric, colours, labels)
    axes[0][0].set_title(axis_label(loss).split(" (")[0])
    axes[0][1].set_title(axis_label(metric).split(" (")[0])
    if not norms.empty:
        check(norms, ["seed", "layer", "value", *keys], "plain_vs_residual")
        norms = norms.assign(line=[settings.index(v) if v in settings else -1 for v in
                                   zip(*(norms[k] for k in keys), strict=True)])
        run = "run" if "run" in norms else "seed"
        # A setting's layers: as many as its shallowest run has.
        depth = norms["line"].map(norms.groupby(["line", run])["layer"].max().groupby("line").min())
        norms = norms[(norms["line"] >= 0) & (norms["layer"] <= depth)]
        by_layer = norms.groupby(["line", run, "layer"], sort=False).agg(
            seed=("seed", "first"), value=("value", "mean")).reset_index()
        grad_norm_panel(axes[1][0], by_layer, "layer", colours=colours)
        one = norms[norms[run] == norms["line"].map(norms.groupby("line")[run].first())]
        ends = one[(one["layer"] == 1) | (one["layer"] == depth[one.index])]
        ends = ends.assign(end=np.where(ends["layer"] == 1, "first", "last"),
                           index=ends.groupby(["line", "layer"]).cumcount() + 1)  # as the CSV
        grad_norm_panel(axes[1][1], ends, "index", dash="end", colours=colours,
                        dashes={"first": "-", "last": "--"}, marker=None, lw=0.8)
    axes[1][0].set(xlabel="layer (input → output)", ylabel="mean gradient L2 norm",
                   yscale="log", title="gradient norm by layer")
    axes[1][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1][1].set(xlabel="training step", ylabel="gradient L2 norm", yscale="log",
                   title="first (—) vs last (--) layer, one seed")
    for ax in axes[1]:
        ax.grid(alpha=0.3)
    _legend_of(fig, axes[0][0])
    fig.suptitle(title)
    return fig
