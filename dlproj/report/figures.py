"""Cross-run figures: each compares the runs of one study question, drawn only when they exist.

Runs are compared within a *family*: runs whose configs agree on everything but the keys being
compared (and the seed). Where several families exist (a quick and a full budget, say), the one
with the most settings, then the most runs, is drawn. Curves are means over seeds, shaded ± std.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlproj.report.discover import IGNORED_KEYS, CorruptFile, Problem, RunRecord, read_csv

log = logging.getLogger("dlproj.report")

Groups = dict[tuple, list[RunRecord]]


def _excluded(vary: tuple[str, ...]) -> Callable[[str], bool]:
    prefixes = tuple(k[: -len("name")] for k in vary if k.endswith(".name"))
    return lambda key: key in IGNORED_KEYS or key in vary or key.startswith(prefixes or ("\0",))


def family(runs: list[RunRecord], vary: tuple[str, ...]) -> Groups:
    """The largest family of completed runs with curves, grouped by their values of `vary`."""
    skip = _excluded(vary)
    families: dict[tuple, list[RunRecord]] = defaultdict(list)
    for run in runs:
        if run.status != "completed" or not run.curve:
            continue
        key = tuple(sorted((k, v) for k, v in run.config.items() if not skip(k)))
        families[key].append(run)
    if not families:
        return {}

    def size(members: list[RunRecord]) -> tuple[int, int]:
        return len({tuple(r.config.get(k) for k in vary) for r in members}), len(members)

    best = max(families.values(), key=size)
    groups: Groups = defaultdict(list)
    for run in best:
        groups[tuple(run.config.get(k) for k in vary)].append(run)
    return dict(sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))))


def _label(vary: tuple[str, ...], values: tuple) -> str:
    """`model.name`, `model.depth` = plain, 8 -> "model=plain depth=8"."""
    parts = []
    for key, value in zip(vary, values, strict=True):
        short = key[: -len(".name")] if key.endswith(".name") else key.split(".")[-1]
        if isinstance(value, str) and value.startswith(".../"):
            value = "checkpoint"  # a checkpoint another run made (offline pretraining)
        parts.append(f"{short}={value}")
    return " ".join(parts)


def _mean_curve(members: list[RunRecord], metric: str):
    """Epochs present in every run's curve, with the mean and std of `metric` over the runs."""
    per_run = []
    for run in members:
        points = {row["epoch"]: row[metric] for row in run.curve or []
                  if isinstance(row.get("epoch"), float) and isinstance(row.get(metric), float)}
        if points:
            per_run.append(points)
    if not per_run:
        return [], [], []
    epochs = sorted(set.intersection(*(set(p) for p in per_run)))
    means = [statistics.fmean(p[e] for p in per_run) for e in epochs]
    stds = [statistics.stdev(p[e] for p in per_run) if len(per_run) > 1 else 0.0
            for e in epochs]
    return epochs, means, stds


def _has(groups: Groups, metric: str) -> bool:
    return any(metric in (r.curve[0] if r.curve else {}) for rs in groups.values() for r in rs)


def _first_metric(groups: Groups, names: tuple[str, ...]) -> str | None:
    return next((m for m in names if _has(groups, m)), None)


def _plot_curves(ax, groups: Groups, vary: tuple[str, ...], metric: str, *, logy: bool = False,
                 colors: dict | None = None) -> None:
    from matplotlib.ticker import MaxNLocator

    for values, members in groups.items():
        epochs, means, stds = _mean_curve(members, metric)
        if not epochs:
            continue
        n = len(members)
        kw = {"color": colors[values]} if colors else {}
        line, = ax.plot(epochs, means, marker="o", ms=3, label=f"{_label(vary, values)} (n={n})",
                        **kw)
        if n > 1:
            ax.fill_between(epochs, [m - s for m, s in zip(means, stds, strict=True)],
                            [m + s for m, s in zip(means, stds, strict=True)],
                            color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epoch", ylabel=metric)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _runs_of(runs: list[RunRecord], section: int, experiment: str | None = None):
    return [r for r in runs if r.section == section
            and (experiment is None or r.experiment == experiment)]


def optimizer_schedule(runs: list[RunRecord]):
    """Section 2: accuracy and loss per epoch; a panel per schedule, a line per optimizer."""
    import matplotlib.pyplot as plt

    vary = ("optimizer.name", "schedule.name")
    groups = family(_runs_of(runs, 2, "train"), vary)
    acc = _first_metric(groups, ("test_acc", "val_acc"))
    if len(groups) < 2 or acc is None:
        return None
    schedules = sorted({v[1] for v in groups}, key=str)
    optimizers = sorted({v[0] for v in groups}, key=str)
    cmap = plt.get_cmap("tab10")
    colors = {v: cmap(optimizers.index(v[0]) % 10) for v in groups}
    fig, axes = plt.subplots(2, len(schedules), figsize=(4.2 * len(schedules), 7), squeeze=False)
    for j, schedule in enumerate(schedules):
        sub = {v: rs for v, rs in groups.items() if v[1] == schedule}
        _plot_curves(axes[0][j], sub, vary, acc, colors=colors)
        _plot_curves(axes[1][j], sub, vary, "train_loss", logy=True, colors=colors)
        axes[0][j].set_title(f"schedule: {schedule}")
    fig.suptitle("Section 2: optimizer × schedule (2-layer net on MNIST)")
    fig.tight_layout()
    return fig


def _compare_figure(groups: Groups, vary: tuple[str, ...], metrics: tuple[str, ...], title: str,
                    final_bar: bool = True):
    import matplotlib.pyplot as plt

    acc = _first_metric(groups, metrics)
    if len(groups) < 2 or acc is None:
        return None
    panels = 3 if final_bar else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.8))
    _plot_curves(axes[0], groups, vary, acc)
    _plot_curves(axes[1], groups, vary, "train_loss", logy=True)
    if final_bar:
        labels, means, stds = [], [], []
        for values, members in groups.items():
            finals = [float(r.metrics[acc]) for r in members
                      if isinstance(r.metrics.get(acc), (int, float))]
            if finals:
                labels.append(_label(vary, values))
                means.append(statistics.fmean(finals))
                stds.append(statistics.stdev(finals) if len(finals) > 1 else 0.0)
        axes[2].bar(range(len(labels)), means, yerr=stds, capsize=4, color="tab:blue")
        axes[2].set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        lo = min(m - s for m, s in zip(means, stds, strict=True)) if means else 0
        axes[2].set_ylim(max(0.0, lo - 0.05), min(1.0, max(means) + 0.05) if means else 1)
        axes[2].set(ylabel=f"final {acc}", title="final, mean ± std over seeds")
        axes[2].grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pooling(runs: list[RunRecord]):
    vary = ("pooling.name",)
    groups = family(_runs_of(runs, 3, "cnn"), vary)
    return _compare_figure(groups, vary, ("test_acc", "val_acc"),
                           "Section 3: max vs average pooling (NumPy CNN on MNIST)")


def transfer(runs: list[RunRecord]):
    vary = ("model.weights", "model.finetune")
    groups = family(_runs_of(runs, 4, "transfer"), vary)
    return _compare_figure(groups, vary, ("val_acc", "test_acc"),
                           "Section 4: transfer settings (weights / what trains)")


def augmentation(runs: list[RunRecord]):
    vary = ("augmentation.name",)
    groups = family(_runs_of(runs, 4, "compare"), vary)
    return _compare_figure(groups, vary, ("val_acc", "test_acc"),
                           "Section 4: augmentation off vs on")


def _grad_columns(rows: list[dict[str, Any]]) -> list[str]:
    return [k for k in rows[0] if k not in ("step", "epoch") and isinstance(rows[0][k], float)]


def plain_vs_residual(runs: list[RunRecord], problems: list[Problem]):
    """Section 4: loss and accuracy per epoch, gradient norm by depth and over training."""
    import matplotlib.pyplot as plt

    vary = ("model.name", "model.depth")
    groups = family([r for r in _runs_of(runs, 4, "compare")
                     if r.config.get("model.name") in ("plain", "resnet")], vary)
    acc = _first_metric(groups, ("val_acc", "test_acc"))
    if len({v[0] for v in groups}) < 2 or acc is None:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    _plot_curves(axes[0][0], groups, vary, "train_loss", logy=True)
    _plot_curves(axes[0][1], groups, vary, acc)
    axes[0][0].set_title("training loss")
    axes[0][1].set_title(acc)
    for values, members in groups.items():
        by_layer: list[list[float]] = []
        first_last: list[tuple[list[float], list[float]]] = []
        for run in members:
            path = run.path / "grad_norms.csv"
            if not path.exists():
                continue
            try:
                rows = read_csv(path)
            except CorruptFile as exc:
                problems.append(Problem(path, str(exc)))
                continue
            cols = _grad_columns(rows)
            if not cols:
                continue
            by_layer.append([statistics.fmean(r[c] for r in rows if isinstance(r[c], float))
                             for c in cols])
            first_last.append(([r[cols[0]] for r in rows], [r[cols[-1]] for r in rows]))
        if not by_layer:
            continue
        depth = min(len(b) for b in by_layer)
        mean = [statistics.fmean(b[i] for b in by_layer) for i in range(depth)]
        label = f"{_label(vary, values)} (n={len(by_layer)})"
        axes[1][0].plot(range(1, depth + 1), mean, marker="o", ms=3, label=label)
        first, last = first_last[0]
        line, = axes[1][1].plot(first, lw=0.8, label=f"{_label(vary, values)}: first")
        axes[1][1].plot(last, lw=0.8, ls="--", color=line.get_color(),
                        label=f"{_label(vary, values)}: last")
    axes[1][0].set(xlabel="layer (input → output)", ylabel="mean gradient L2 norm",
                   yscale="log", title="gradient flow by depth")
    axes[1][1].set(xlabel="step", ylabel="gradient L2 norm", yscale="log",
                   title="first vs last layer (first seed)")
    for ax in axes[1]:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle("Section 4: plain vs residual (model / depth)")
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[..., Any]] = {
    "optimizer_schedule.png": optimizer_schedule,
    "pooling_max_vs_avg.png": pooling,
    "plain_vs_residual.png": plain_vs_residual,
    "transfer_settings.png": transfer,
    "augmentation.png": augmentation,
}


def draw_all(runs: list[RunRecord], out_dir: Path, problems: list[Problem]) -> list[Path]:
    """Draw every figure whose runs exist into `out_dir`; returns the files written.

    Stale figures from an earlier report whose runs are gone are removed, so the folder shows
    what the current runs support.
    """
    import matplotlib

    matplotlib.use("Agg")
    from dlproj.runtime.atomic import save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        target = out_dir / name
        try:
            fig = draw(runs, problems) if name == "plain_vs_residual.png" else draw(runs)
        except Exception as exc:  # a figure must never take the table down with it
            log.warning("figure %s not drawn: %s: %s", name, type(exc).__name__, exc)
            problems.append(Problem(target, f"not drawn ({type(exc).__name__}: {exc})"))
            fig = None
        if fig is None:
            target.unlink(missing_ok=True)
            continue
        written.append(save_figure(fig, target))
    return written
