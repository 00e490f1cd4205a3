"""Figures across the runs of a sweep: each setting's mean over seeds, with a ± one-std band.

Every function takes a pandas DataFrame in *long* format, one row per (run, epoch) or per
(run, step), and returns a matplotlib Figure (saving it is the caller's business):

- ``setting_label`` (str): the setting the run belongs to (e.g. ``optimizer=adam
  schedule=step``); one colour per setting, the same in every panel.
- ``seed`` (int): the run's seed; a setting's seeds are averaged, the band is their standard
  deviation (no band with one seed).
- ``epoch`` (int, 1-based): as in metrics.csv / grad_norms.csv.
- the metric columns, named as the runs' CSV files name them (below).

On a log axis (the gradient norms) a band is cut at a third of the mean where one std would reach
zero or below. Settings whose labels vary two keys (optimizer x schedule) get a colour family per
value of the first and a line style per value of the second, so that coinciding curves (constant
and step decay before the first step) stay visible.

`runs_frame` builds such a frame from run directories (a torn last CSV line, left by a killed
run, is ignored as `dlproj.files.csvlog.read_rows` does).

section2_grad_norms(frame)         per-epoch rows of Section 2's metrics.csv (``grad_norm_W1``,
                                   ``grad_norm_W2``: the epoch's mean over its steps) or per-step
                                   rows of grad_norms.csv (``step`` and the same columns; averaged
                                   into epochs here). One panel per weight matrix.
section4_gradient_flow(frame)      per-step rows of Section 4's grad_norms.csv (``step`` and one
                                   column per layer, gradflow's names: ``stem.0`` first, ``head``
                                   last), plus ``network`` (``plain`` / ``resnet``, or PlainNet /
                                   SmallResNet) and ``depth`` (model.depth). One panel per depth:
                                   first layer (solid) and last layer (dashed) per network.
activation_study(frame)            per-epoch rows of Section 1's metrics.csv (``train_loss``,
                                   ``val_acc``, ``test_acc``): training loss and validation
                                   accuracy per epoch, and the final test accuracy (the last
                                   epoch's ``test_acc``) per setting, each seed a dot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

ID_COLUMNS = ("setting_label", "seed", "epoch")
NETWORK_NAMES = {"plain": "PlainNet", "resnet": "SmallResNet"}
GRAD_NORM_LABEL = {"grad_norm_W1": r"$\|\partial L/\partial W_1\|_2$",
                   "grad_norm_W2": r"$\|\partial L/\partial W_2\|_2$"}


# -- reading runs -------------------------------------------------------------------------------

def _label_from_overrides(record: dict[str, Any]) -> str:
    """A label from the run's command-line overrides, seed and output paths left out."""
    keep = [o for o in record.get("overrides", [])
            if not o.lstrip("+~").startswith(("seed=", "hydra.", "data.root=", "resume="))]
    return " ".join(keep) or "defaults"


def runs_frame(run_dirs: Iterable[str | Path], csv_name: str = "metrics.csv", *,
               label: Callable[[dict[str, Any]], str] | None = None,
               columns: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
               ) -> pd.DataFrame:
    """The rows of `csv_name` of every completed run in `run_dirs`, in the long format above.

    setting_label: `label(record)`, else the run's command-line overrides without the seed (they
    name every swept key alike in every run of a sweep). `columns(record)` adds constant columns
    per run (e.g. ``network``, ``depth`` from record["config"]). Runs without results.json, not
    completed, or without the CSV are left out."""
    from dlproj.files.csvlog import read_rows

    frames = []
    for run_dir in map(Path, run_dirs):
        try:
            record = json.loads((run_dir / "results.json").read_text())
        except (OSError, ValueError):
            continue
        path = run_dir / csv_name
        if record.get("status") != "completed" or not path.is_file():
            continue
        rows = read_rows(path)
        if not rows:
            continue
        # The command's overrides name every swept key in every run alike; a setting label
        # leaves out keys at their experiment's default (relu, adam), which breaks the legend.
        name = (label or _label_from_overrides)(record)
        frame = pd.DataFrame(rows)
        frame.insert(0, "seed", record.get("seed"))
        frame.insert(0, "setting_label", name)
        for key, value in (columns(record) if columns else {}).items():
            frame[key] = value
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    return pd.concat(frames, ignore_index=True)


# -- shared pieces ------------------------------------------------------------------------------

def _check(frame: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {', '.join(missing)}; it has "
                         f"{', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise ValueError(f"{what}: the frame has no rows")


def short_labels(labels: Sequence[str]) -> tuple[dict[str, str], str]:
    """Legend entries without the `key=value` parts every label shares, and a legend title
    naming the keys when each label is `key=value` pairs of the same keys:
    ["optimizer=sgd schedule=step", "optimizer=adam schedule=step"] -> {..: "sgd", ..: "adam"},
    "optimizer". Anything else keeps its label."""
    parts = {lab: lab.split() for lab in labels}
    common = set.intersection(*(set(p) for p in parts.values())) if parts else set()
    if len(labels) < 2:
        common = set()
    rest = {lab: [t for t in p if t not in common] for lab, p in parts.items()}
    pairs = all(t.count("=") == 1 for p in rest.values() for t in p)
    keys = {tuple(t.split("=")[0] for t in p) for p in rest.values()}
    if pairs and len(keys) == 1 and next(iter(keys)):
        shown = {lab: ", ".join(t.split("=")[1] for t in p) for lab, p in rest.items()}
        if len(set(shown.values())) == len(shown):
            return shown, ", ".join(k.split(".")[-1] for k in next(iter(keys)))
    shown = {lab: " ".join(p) or lab for lab, p in rest.items()}
    if len(set(shown.values())) < len(shown):
        shown = {lab: lab for lab in labels}
    return shown, ""


def _key_values(labels: Sequence[str]) -> list[tuple[str, ...]] | None:
    """The values of the `key=value` parts that vary between labels, or None if the labels are
    not all such pairs of the same keys."""
    shown, title = short_labels(labels)
    if not title:
        return None
    return [tuple(shown[lab].split(", ")) for lab in labels]


def setting_colours(labels: Sequence[str]) -> dict[str, Any]:
    """One colour per setting. Settings that vary two keys (optimizer x schedule) get a colour
    family per value of the first key and a shade per value of the second; others tab10 (tab20
    beyond ten settings), in the order given."""
    values = _key_values(labels)
    if values and len(values[0]) == 2:
        firsts = list(dict.fromkeys(v[0] for v in values))
        seconds = list(dict.fromkeys(v[1] for v in values))
        families = ["Blues", "Oranges", "Greens", "Purples", "Reds", "Greys"]
        if len(firsts) <= len(families):
            shades = np.linspace(0.9, 0.45, len(seconds)) if len(seconds) > 1 else [0.7]
            return {lab: plt.get_cmap(families[firsts.index(v[0])])(
                        shades[seconds.index(v[1])])
                    for lab, v in zip(labels, values, strict=True)}
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}


def setting_styles(labels: Sequence[str]) -> dict[str, str]:
    """A line style per value of the second varying key (so that settings whose curves
    coincide, e.g. constant and step decay before the first step, stay visible), else solid."""
    values = _key_values(labels)
    if not values or len(values[0]) != 2:
        return dict.fromkeys(labels, "-")
    seconds = list(dict.fromkeys(v[1] for v in values))
    styles = ["-", "--", ":", "-."]
    return {lab: styles[seconds.index(v[1]) % len(styles)]
            for lab, v in zip(labels, values, strict=True)}


def _settings(frame: pd.DataFrame) -> list[str]:
    """The settings in the order they first appear, grouped by the first varying key's value
    where the labels vary two keys (all of one optimizer, then the next)."""
    labels = list(dict.fromkeys(frame["setting_label"]))
    values = _key_values(labels)
    if values and len(values[0]) == 2:
        firsts = list(dict.fromkeys(v[0] for v in values))
        seconds = list(dict.fromkeys(v[1] for v in values))
        order = {lab: (firsts.index(v[0]), seconds.index(v[1]))
                 for lab, v in zip(labels, values, strict=True)}
        labels.sort(key=order.__getitem__)
    return labels


def seed_stats(frame: pd.DataFrame, x: str, metric: str) -> pd.DataFrame:
    """Per (setting_label, x): mean and std over seeds of `metric` (each seed first averaged
    over its rows at that x), and the number of seeds."""
    per_seed = (frame.dropna(subset=[metric])
                .groupby(["setting_label", x, "seed"], sort=False)[metric].mean())
    stats = per_seed.groupby(level=["setting_label", x], sort=False).agg(["mean", "std", "count"])
    return stats.reset_index().sort_values(["setting_label", x], kind="stable")


def _band(ax: Any, stats: pd.DataFrame, x: str, colour: Any, style: str = "-",
          marker: str | None = "o") -> None:
    xs, mean = stats[x].to_numpy(float), stats["mean"].to_numpy(float)
    ax.plot(xs, mean, style, color=colour, lw=1.6, marker=marker, ms=3.5)
    std = stats["std"].fillna(0.0).to_numpy(float)
    if (stats["count"] > 1).any():
        lower = mean - std
        if ax.get_yscale() == "log":  # a band reaching zero would stretch a log axis
            lower = np.maximum(lower, mean / 3)
        ax.fill_between(xs, lower, mean + std, color=colour, alpha=0.2, lw=0)


def _epoch_axis(ax: Any, label: str = "epoch") -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)


def _seeds_note(frame: pd.DataFrame) -> str:
    n = frame.groupby("setting_label")["seed"].nunique()
    lo, hi = int(n.min()), int(n.max())
    seeds = f"{lo} seed{'s' if lo > 1 else ''}" if lo == hi else f"{lo}-{hi} seeds"
    return f"mean ± std over {seeds}" if hi > 1 else "1 seed"


def _figure(n_panels: int, width: float, height: float, **kw: Any) -> tuple[Figure, Any]:
    """A row of panels in a constrained layout (a legend below them gets its own room)."""
    fig, axes = plt.subplots(1, n_panels, figsize=(width, height), squeeze=False,
                             layout="constrained", **kw)
    return fig, axes[0]


def _legend(fig: Figure, handles: list[Any], labels: list[str], title: str = "") -> None:
    ncol = len(labels) if len(labels) <= 5 else (5 if max(map(len, labels)) < 18 else 3)
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False,
               title=title or None, fontsize="small", title_fontsize="small")


def _settings_legend(fig: Figure, labels: list[str], colours: dict[str, Any],
                     styles: dict[str, str] | None = None) -> None:
    shown, title = short_labels(labels)
    styles = styles or dict.fromkeys(labels, "-")
    handles = [Line2D([], [], color=colours[lab], ls=styles[lab], lw=2) for lab in labels]
    _legend(fig, handles, [shown[lab] for lab in labels], title)


# -- Section 2: gradient norms per optimizer x schedule -----------------------------------------

def section2_grad_norms(frame: pd.DataFrame,
                        metrics: Sequence[str] = ("grad_norm_W1", "grad_norm_W2"),
                        log: bool = True) -> Figure:
    """‖dW1‖ and ‖dW2‖ per epoch, one line per setting (optimizer x schedule), ± std band."""
    _check(frame, [*ID_COLUMNS, *metrics], "section2_grad_norms")
    labels = _settings(frame)
    colours, styles = setting_colours(labels), setting_styles(labels)
    fig, axes = _figure(len(metrics), 5.2 * len(metrics), 4.8)
    for ax, metric in zip(axes, metrics, strict=True):
        if log:
            ax.set_yscale("log")
        stats = seed_stats(frame, "epoch", metric)
        for lab in labels:
            _band(ax, stats[stats["setting_label"] == lab], "epoch", colours[lab], styles[lab])
        ax.set_ylabel(GRAD_NORM_LABEL.get(metric, metric) + " (mean over the epoch)")
        ax.set_title(f"weights {metric.removeprefix('grad_norm_')}")
        _epoch_axis(ax)
    _settings_legend(fig, labels, colours, styles)
    fig.suptitle(f"Section 2: gradient norm per epoch ({_seeds_note(frame)})")
    return fig


# -- Section 4: first vs last layer, plain vs residual, per depth -------------------------------

def _epoch_position(frame: pd.DataFrame) -> pd.Series:
    """Each step's place in training, in epochs: epoch - 1 + (k + 1) / steps of that epoch."""
    keys = ["setting_label", "seed", "epoch"]
    order = frame.sort_values("step", kind="stable") if "step" in frame else frame
    k = order.groupby(keys, sort=False).cumcount()
    n = order.groupby(keys, sort=False)["epoch"].transform("size")
    return (order["epoch"] - 1 + (k + 1) / n).reindex(frame.index)


def section4_gradient_flow(frame: pd.DataFrame, first: str = "stem.0", last: str = "head",
                           smooth: float = 0.1) -> Figure:
    """Gradient norm of the first and the last layer during training, plain vs residual, one
    panel per depth. Each run's per-step norms are smoothed by a moving mean over `smooth` of an
    epoch, then averaged over seeds at each step (band: ± std over seeds)."""
    _check(frame, [*ID_COLUMNS, "step", "network", "depth", first, last],
           "section4_gradient_flow")
    frame = frame.copy()
    frame["network"] = frame["network"].map(lambda n: NETWORK_NAMES.get(n, n))
    frame["position"] = _epoch_position(frame)
    networks = list(dict.fromkeys(frame["network"]))
    colours = setting_colours(networks)
    depths = sorted(frame["depth"].unique())
    fig, axes = _figure(len(depths), 4.6 * len(depths), 4.4, sharey=True)
    for ax, depth in zip(axes, depths, strict=True):
        ax.set_yscale("log")
        at_depth = frame[frame["depth"] == depth]
        for network in networks:
            runs = at_depth[at_depth["network"] == network].sort_values("step", kind="stable")
            if runs.empty:
                continue
            steps = runs.groupby(["setting_label", "seed", "epoch"])["step"].size().max()
            window = max(1, int(round(smooth * steps)))
            for layer, style in ((first, "-"), (last, "--")):
                smoothed = runs.assign(value=runs.groupby(["setting_label", "seed"])[layer]
                                       .transform(lambda s, w=window: s.rolling(w, 1).mean()))
                stats = seed_stats(smoothed, "position", "value")
                _band(ax, stats, "position", colours[network], style, marker=None)
        ax.set_title(f"depth {depth} ({2 * int(depth) + 2} weighted layers)")
        _epoch_axis(ax, "epoch (training progress)")
        ax.set_xlim(left=0)
    axes[0].set_ylabel(r"gradient norm $\|\partial L/\partial W\|_2$")
    handles = [Line2D([], [], color=colours[n], lw=2) for n in networks]
    handles += [Line2D([], [], color="0.3", ls="-"), Line2D([], [], color="0.3", ls="--")]
    names = [*networks, f"first layer ({first})", f"last layer ({last})"]
    _legend(fig, handles, names)
    fig.suptitle(f"Section 4: first vs last layer gradient norm ({_seeds_note(frame)})")
    return fig


# -- Section 1: sigmoid vs tanh vs ReLU ---------------------------------------------------------

def activation_study(frame: pd.DataFrame, loss: str = "train_loss", curve: str = "val_acc",
                     final: str = "test_acc") -> Figure:
    """Training loss and validation accuracy per epoch, and the final test accuracy, per
    setting (activation) in one figure."""
    _check(frame, [*ID_COLUMNS, loss, curve, final], "activation_study")
    labels = _settings(frame)
    colours = setting_colours(labels)
    shown, _ = short_labels(labels)
    fig, axes = _figure(3, 13, 4.4, width_ratios=[1, 1, 0.7])
    for ax, metric, ylabel in ((axes[0], loss, "training loss (cross-entropy, nats)"),
                               (axes[1], curve, "validation accuracy")):
        stats = seed_stats(frame, "epoch", metric)
        for lab in labels:
            _band(ax, stats[stats["setting_label"] == lab], "epoch", colours[lab])
        ax.set_ylabel(ylabel)
        _epoch_axis(ax)
    axes[0].set_title("training loss")
    axes[1].set_title("validation accuracy")
    last = frame.dropna(subset=[final]).sort_values("epoch", kind="stable")
    last = last.groupby(["setting_label", "seed"], sort=False).tail(1)
    ax = axes[2]
    for i, lab in enumerate(labels):
        values = last.loc[last["setting_label"] == lab, final].to_numpy(float)
        if not len(values):
            continue
        std = values.std(ddof=1) if len(values) > 1 else 0.0
        ax.bar(i, values.mean(), color=colours[lab], alpha=0.75, width=0.65,
               yerr=std if len(values) > 1 else None, capsize=4)
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), values, color="k", s=10, zorder=3)
        top = max(values.mean() + std, values.max())
        ax.annotate(f"{values.mean():.3f}", (i, top), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(range(len(labels)), [shown[lab] for lab in labels])
    lo = float(last[final].min()) if len(last) else 0.0
    ax.set_ylim(max(0.0, lo - 0.1 * (1 - lo) - 0.02), 1.0)
    ax.set_ylabel("test accuracy after the last epoch")
    ax.set_title("final test accuracy")
    ax.grid(axis="y", alpha=0.3)
    _settings_legend(fig, labels, colours)
    fig.suptitle(f"Section 1: activation functions, MLP on MNIST ({_seeds_note(frame)})")
    return fig
