"""Cross-run figures: each compares the settings of one study question, drawn when they exist.

A line is one *setting* (never a pool of settings): its mean over seeds, shaded ± std where it
has more than one seed, in one colour across every panel of the figure. The settings compared
form a *family*: they agree on everything but the compared keys. Where several families exist
(a quick and a full budget, say), the one with the most settings, then the most runs, is drawn.
Each figure is written as PNG (150 dpi) and PDF.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from dlproj.config.setting import is_excluded
from dlproj.report.runs import CorruptFile, Problem, read_csv

log = logging.getLogger("dlproj.report")

DPI = 150
AXIS = {"train_loss": "training loss", "test_acc": "test accuracy (fraction)",
        "val_acc": "validation accuracy (fraction)", "train_acc": "training accuracy (fraction)",
        "test_mse": "test MSE", "test_loss": "test loss", "val_loss": "validation loss"}
SHORT = {"model.name": "model", "model.depth": "depth", "optimizer.name": "optimizer",
         "schedule.name": "schedule", "pooling.name": "pooling", "model.weights": "weights",
         "model.finetune": "trains", "augmentation.name": "augmentation"}


def axis_label(metric: str) -> str:
    return AXIS.get(metric, metric.replace("_", " "))


def family(runs: pd.DataFrame, vary: tuple[str, ...]) -> pd.DataFrame:
    """The largest family of completed runs with curves, with `values` (of `vary`) per run."""
    prefixes = tuple(k[: -len("name")] for k in vary if k.endswith(".name")) or ("\0",)
    ok = runs[(runs["status"] == "completed") & runs["curve"].notna()]
    if ok.empty:
        return ok

    def fam(config: dict) -> tuple:
        return tuple(sorted((k, v) for k, v in config.items() if not is_excluded(k)
                            and k not in vary and not k.startswith(prefixes)))

    ok = ok.assign(family=[fam(c) for c in ok["config"]],
                   values=[tuple(c.get(k) for k in vary) for c in ok["config"]])
    size = ok.groupby("family")["values"].agg(lambda v: (len(set(v)), len(v)))
    return ok[ok["family"] == size.idxmax()].sort_values("values", key=lambda s: s.map(str))


def line_label(vary: tuple[str, ...], values: tuple) -> str:
    parts = []
    for key, value in zip(vary, values, strict=True):
        if isinstance(value, str) and value.startswith(".../"):
            value = "our checkpoint"  # a checkpoint another run made (offline pretraining)
        parts.append(f"{SHORT.get(key, key)}={value}")
    return ", ".join(parts)


def curves(members: pd.DataFrame) -> pd.DataFrame:
    """The runs' metrics.csv rows stacked, with `setting` and `seed`."""
    frames = [run.curve.assign(setting=run.setting, seed=run.seed)
              for run in members.itertuples() if run.curve is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class Palette:
    """One colour per setting, the same in every panel of a figure."""

    def __init__(self, settings: list[str]) -> None:
        import matplotlib.pyplot as plt

        cmap = plt.get_cmap("tab10")
        self.colors = {s: cmap(i % 10) for i, s in enumerate(dict.fromkeys(settings))}

    def __getitem__(self, setting: str) -> Any:
        return self.colors[setting]


def plot_mean(ax, members: pd.DataFrame, metric: str, palette: Palette,
              labels: dict[str, str], *, logy: bool = False) -> bool:
    """Mean over seeds per epoch, ± std band; a line per setting. False when nothing to draw."""
    from matplotlib.ticker import MaxNLocator

    long = curves(members)
    if long.empty or metric not in long or "epoch" not in long:
        return False
    drawn = False
    for setting, rows in long.groupby("setting", sort=False):
        per_epoch = rows.dropna(subset=[metric]).groupby("epoch")[metric].agg(
            ["mean", "std", "count"])
        if per_epoch.empty:
            continue
        n = rows["seed"].nunique()
        ax.plot(per_epoch.index, per_epoch["mean"], marker="o", ms=3, color=palette[setting],
                label=f"{labels[setting]} (n={n})")
        if n > 1:
            std = per_epoch["std"].fillna(0)
            ax.fill_between(per_epoch.index, per_epoch["mean"] - std, per_epoch["mean"] + std,
                            color=palette[setting], alpha=0.2, lw=0)
        drawn = True
    ax.set(xlabel="epoch", ylabel=axis_label(metric))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return drawn


def _first_metric(members: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    long = curves(members)
    return next((m for m in names if m in long and long[m].notna().any()), None)


def _of(runs: pd.DataFrame, section: int, experiment: str) -> pd.DataFrame:
    return runs[(runs["section"] == section) & (runs["experiment"] == experiment)]


def _prepare(runs: pd.DataFrame, vary: tuple[str, ...], metrics: tuple[str, ...]):
    if runs.empty:
        return None
    members = family(runs, vary)
    if members.empty or members["values"].nunique() < 2:
        return None
    acc = _first_metric(members, metrics)
    if acc is None:
        return None
    labels = {s: line_label(vary, v) for s, v in zip(members["setting"], members["values"],
                                                      strict=True)}
    return members, acc, labels, Palette(list(members["setting"]))


def _legend(fig, axes) -> None:
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, -0.02))


def optimizer_schedule(runs: pd.DataFrame):
    """Section 2: a column per schedule (accuracy, training loss), a line per optimizer."""
    import matplotlib.pyplot as plt

    vary = ("optimizer.name", "schedule.name")
    prepared = _prepare(_of(runs, 2, "train"), vary, ("test_acc", "val_acc"))
    if prepared is None:
        return None
    members, acc, labels, _ = prepared
    optimizers = sorted({v[0] for v in members["values"]}, key=str)
    cmap = plt.get_cmap("tab10")
    # A setting's colour is its optimizer's, the same in every panel.
    palette = Palette([])
    palette.colors = {s: cmap(optimizers.index(v[0]) % 10)
                      for s, v in zip(members["setting"], members["values"], strict=True)}
    labels = {s: f"optimizer={v[0]}" for s, v in zip(members["setting"], members["values"],
                                                      strict=True)}
    schedules = sorted({v[1] for v in members["values"]}, key=str)
    fig, axes = plt.subplots(2, len(schedules), figsize=(4 * len(schedules), 6.4),
                             squeeze=False, sharey="row")
    for j, schedule in enumerate(schedules):
        sub = members[[v[1] == schedule for v in members["values"]]]
        plot_mean(axes[0][j], sub, acc, palette, labels)
        plot_mean(axes[1][j], sub, "train_loss", palette, labels, logy=True)
        axes[0][j].set_title(f"{schedule} schedule")
    _legend(fig, [axes[0][0]])
    fig.suptitle("Optimizer × schedule")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _compare(runs: pd.DataFrame, vary: tuple[str, ...], metrics: tuple[str, ...], title: str):
    """Accuracy and loss per epoch, and final accuracy bars: mean ± std over seeds."""
    import matplotlib.pyplot as plt

    prepared = _prepare(runs, vary, metrics)
    if prepared is None:
        return None
    members, acc, labels, palette = prepared
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    plot_mean(axes[0], members, acc, palette, labels)
    plot_mean(axes[1], members, "train_loss", palette, labels, logy=True)
    axes[0].set_title(axis_label(acc).split(" (")[0])
    axes[1].set_title("training loss")
    finals = pd.DataFrame({"setting": members["setting"],
                           "value": [m.get(acc) for m in members["metrics"]]}).dropna()
    bars = finals.groupby("setting", sort=False)["value"].agg(["mean", "std"])
    std = bars["std"].fillna(0)
    axes[2].bar(range(len(bars)), bars["mean"], yerr=std, capsize=4,
                color=[palette[s] for s in bars.index])
    axes[2].set_xticks([])  # the colours are the legend's
    lo, hi = (bars["mean"] - std).min(), (bars["mean"] + std).max()
    axes[2].set_ylim(max(0.0, lo - 0.05), min(1.0, hi + 0.02) if hi <= 1 else hi * 1.05)
    axes[2].set(xlabel="setting (colours as in the legend)", ylabel=f"final {axis_label(acc)}",
                title="final, mean ± std over seeds")
    axes[2].grid(alpha=0.3, axis="y")
    _legend(fig, axes[:1])
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def pooling(runs: pd.DataFrame):
    return _compare(_of(runs, 3, "cnn"), ("pooling.name",), ("test_acc", "val_acc"),
                    "Max vs average pooling")


def transfer(runs: pd.DataFrame):
    # The network varies too: the course report's scratch baseline is the SmallResNet, beside
    # the ResNet18 rows (scratch and transferred), so they are one family of lines.
    return _compare(_of(runs, 4, "transfer"), ("model.name", "model.weights", "model.finetune"),
                    ("val_acc", "test_acc"), "Transfer learning settings")


def augmentation(runs: pd.DataFrame):
    return _compare(_of(runs, 4, "compare"), ("augmentation.name",), ("val_acc", "test_acc"),
                    "Augmentation off vs on")


def _grad_norms(run: Any, problems: list[Problem]) -> pd.DataFrame | None:
    path = Path(run.path) / "grad_norms.csv"
    if not path.exists():
        return None
    try:
        frame = read_csv(path)
    except CorruptFile as exc:
        problems.append(Problem(path, str(exc)))
        return None
    layers = [c for c in frame.columns if c not in ("step", "epoch")
              and pd.api.types.is_numeric_dtype(frame[c])]
    return frame[layers] if layers else None


def plain_vs_residual(runs: pd.DataFrame, problems: list[Problem]):
    """Loss and accuracy per epoch, gradient norm by layer, first vs last layer over training."""
    import matplotlib.pyplot as plt

    compare = _of(runs, 4, "compare")
    if compare.empty:
        return None
    compare = compare[[c.get("model.name") in ("plain", "resnet") for c in compare["config"]]]
    vary = ("model.name", "model.depth")
    prepared = _prepare(compare, vary, ("val_acc", "test_acc"))
    if prepared is None or len({v[0] for v in prepared[0]["values"]}) < 2:
        return None
    members, acc, labels, palette = prepared
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.2))
    plot_mean(axes[0][0], members, "train_loss", palette, labels, logy=True)
    plot_mean(axes[0][1], members, acc, palette, labels)
    axes[0][0].set_title("training loss")
    axes[0][1].set_title(axis_label(acc).split(" (")[0])
    for setting, group in members.groupby("setting", sort=False):
        norms = [g for g in (_grad_norms(r, problems) for r in group.itertuples())
                 if g is not None]
        if not norms:
            continue
        depth = min(len(g.columns) for g in norms)
        by_layer = pd.DataFrame([g.iloc[:, :depth].mean().to_numpy() for g in norms])
        x = range(1, depth + 1)
        mean, std = by_layer.mean(), by_layer.std().fillna(0)
        axes[1][0].plot(x, mean, marker="o", ms=3, color=palette[setting])
        if len(norms) > 1:
            axes[1][0].fill_between(x, (mean - std).clip(lower=1e-12), mean + std,
                                    color=palette[setting], alpha=0.2, lw=0)
        first = norms[0]
        axes[1][1].plot(first.iloc[:, 0].to_numpy(), lw=0.8, color=palette[setting])
        axes[1][1].plot(first.iloc[:, depth - 1].to_numpy(), lw=0.8, ls="--",
                        color=palette[setting])
    from matplotlib.ticker import MaxNLocator

    axes[1][0].set(xlabel="layer (input → output)", ylabel="mean gradient L2 norm",
                   yscale="log", title="gradient norm by layer")
    axes[1][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1][1].set(xlabel="training step", ylabel="gradient L2 norm", yscale="log",
                   title="first (—) vs last (--) layer, one seed")
    for ax in axes[1]:
        ax.grid(alpha=0.3)
    _legend(fig, [axes[0][0]])
    fig.suptitle("Plain vs residual networks")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _across_runs(runs: pd.DataFrame, section: int, experiment: str, vary: tuple[str, ...],
                 csv_name: str, draw: Callable[[pd.DataFrame], Any],
                 columns: Callable[[dict], dict] | None = None) -> Any:
    """A dlproj.report.crossrun figure over the largest family of completed runs that differ
    only in `vary` (so runs of other budgets are never pooled in); None below two settings."""
    from dlproj.report import crossrun

    members = family(_of(runs, section, experiment), vary)
    if members.empty or members["values"].nunique() < 2:
        return None

    def per_run(record: dict) -> dict:
        # Lines are named by what varies (`optimizer=sgd schedule=step`), the same for every
        # run of the family whatever else its setting label lists.
        values = [_dotted(record.get("config", {}), key) for key in vary]
        label = " ".join(f"{key.removesuffix('.name')}={value}"
                         for key, value in zip(vary, values, strict=True))
        return {"setting_label": label, **(columns(record) if columns else {})}

    frame = crossrun.runs_frame(members["path"], csv_name, columns=per_run)
    return draw(frame) if not frame.empty else None


def _dotted(config: dict, key: str) -> Any:
    for part in key.split("."):
        config = config.get(part, {}) if isinstance(config, dict) else {}
    return config if config != {} else None


def grad_norms_by_optimizer(runs: pd.DataFrame):
    """Section 2 (the course report's §4.2.5): ||dW1||, ||dW2|| per epoch, optimizer x schedule."""
    from dlproj.report.crossrun import section2_grad_norms

    return _across_runs(runs, 2, "train", ("optimizer.name", "schedule.name"), "metrics.csv",
                        section2_grad_norms)


def gradient_flow(runs: pd.DataFrame):
    """Section 4: first- vs last-layer gradient norm, plain vs residual, at each depth."""
    from dlproj.report.crossrun import section4_gradient_flow

    def network(record: dict) -> dict:
        model = record.get("config", {}).get("model", {})
        return {"network": model.get("name"), "depth": model.get("depth")}

    return _across_runs(runs, 4, "compare", ("model.name", "model.depth", "model.width",
                                             "data.train_limit"),
                        "grad_norms.csv", section4_gradient_flow, columns=network)


def activations(runs: pd.DataFrame):
    """Section 1 (§1.3, §8): sigmoid vs tanh vs ReLU on the MNIST MLP."""
    from dlproj.report.crossrun import activation_study

    return _across_runs(runs, 1, "mlp", ("model.activation",), "metrics.csv", activation_study)


FIGURES: dict[str, Callable[..., Any]] = {
    "activation_study": activations,
    "optimizer_schedule": optimizer_schedule,
    "grad_norms_optimizer_schedule": grad_norms_by_optimizer,
    "pooling_max_vs_avg": pooling,
    "plain_vs_residual": plain_vs_residual,
    "gradient_flow_first_last": gradient_flow,
    "transfer_settings": transfer,
    "augmentation": augmentation,
}


def save(fig: Any, png: Path) -> Path:
    """The figure as PNG (DPI) and, beside it, PDF; both written atomically."""
    import matplotlib.pyplot as plt

    from dlproj.files.atomic import atomic_write

    try:
        for path, kw in ((png, {"format": "png", "dpi": DPI}), (png.with_suffix(".pdf"),
                                                                {"format": "pdf"})):
            atomic_write(path, lambda fh, kw=kw: fig.savefig(fh, bbox_inches="tight", **kw))
    finally:
        plt.close(fig)
    return png


def draw_all(runs: pd.DataFrame, out_dir: Path, problems: list[Problem]) -> list[Path]:
    """Draw every figure whose runs exist into `out_dir`; returns the PNGs written (a PDF lies
    beside each). A figure whose runs are gone is removed."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        target = out_dir / f"{name}.png"
        try:
            fig = draw(runs, problems) if name == "plain_vs_residual" else draw(runs)
        except Exception as exc:  # a figure must never take the table down with it
            log.warning("figure %s not drawn: %s: %s", name, type(exc).__name__, exc)
            problems.append(Problem(target, f"not drawn ({type(exc).__name__}: {exc})"))
            fig = None
        if fig is None:
            target.unlink(missing_ok=True)
            target.with_suffix(".pdf").unlink(missing_ok=True)
            continue
        written.append(save(fig, target))
    return written
