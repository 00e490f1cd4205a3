"""Cross-run figures (dlproj/plots/compare.py, chosen by dlproj/report/figures.py from the study's
`figures:`): the frame format, the statistics they draw, one colour per setting in every panel,
and real tiny sweeps of Sections 2 and 4 read from disk and drawn as the report draws them."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.ticker import MaxNLocator

from dlproj.config import study as studies
from dlproj.plots import compare
from dlproj.plots.lines import dashes, palette, seed_stats
from dlproj.report.figures import draw, family, stacked
from dlproj.report.runs import dedupe, read_runs, run_csv

matplotlib.use("Agg")


def _frame(settings: dict[tuple, float], keys=("a",), seeds=(0, 1, 2), epochs=3,
           steps=0) -> pd.DataFrame:
    """Synthetic rows: metric = base * epoch + seed (+ step / 100 with per-step rows)."""
    rows = []
    for values, base in settings.items():
        for seed in seeds:
            for epoch in range(1, epochs + 1):
                for k in range(max(steps, 1)):
                    value = base * epoch + seed + (k / 100 if steps else 0)
                    row = {**dict(zip(keys, values, strict=True)), "seed": seed,
                           "epoch": epoch, "grad_norm_W1": value, "grad_norm_W2": 2 * value,
                           "train_loss": 1 / value, "val_acc": value / 100,
                           "test_acc": value / 100}
                    if steps:
                        row["step"] = (epoch - 1) * steps + k + 1
                    rows.append(row)
    return pd.DataFrame(rows)


def _layers(frame: pd.DataFrame, layers: dict[str, pd.Series]) -> pd.DataFrame:
    """Per-step rows as the report passes gradient norms: a row per (step, layer)."""
    return pd.concat([frame.assign(name=name, layer=i, value=values)
                      for i, (name, values) in enumerate(layers.items(), 1)], ignore_index=True)


def _line_colours(ax) -> list[tuple]:
    return [to_rgba(line.get_color()) for line in ax.get_lines()]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _spec(name: str) -> studies.FigureSpec:
    return next(s for s in studies.figures() if s.name == name)


def test_plots_import_nothing_of_the_frame():
    """dlproj/plots takes plain arguments: of dlproj, only files/ and errors/ (and itself)."""
    import ast

    from dlproj import paths

    for path in sorted((paths.PROJECT_ROOT / "dlproj" / "plots").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        ours = [m for m in names if m.split(".")[0] == "dlproj"]
        assert all(m.startswith(("dlproj.plots", "dlproj.files", "dlproj.errors"))
                   for m in ours), (path.name, ours)


def test_seed_stats_mean_std_count():
    frame = _frame({("1",): 1.0, ("2",): 10.0})
    stats = seed_stats(frame, "epoch", "grad_norm_W1", by=["a"])
    row = stats[(stats["a"] == "2") & (stats["epoch"] == 3)].iloc[0]
    assert row["mean"] == pytest.approx(30 + 1) and row["count"] == 3
    assert row["std"] == pytest.approx(np.std([30, 31, 32], ddof=1))


def test_per_step_rows_are_averaged_into_epochs_first():
    per_step = _frame({("1",): 1.0}, seeds=(0, 1), steps=5)
    stats = seed_stats(per_step, "epoch", "grad_norm_W1")
    # seed s, epoch e: mean over k of (e + s + k/100) = e + s + 0.02; then over s in {0, 1}.
    assert stats["mean"].tolist() == pytest.approx([e + 0.5 + 0.02 for e in (1, 2, 3)])
    assert stats["count"].tolist() == [2, 2, 2]


@pytest.mark.parametrize("keys,settings,shown,title", [
    (("optimizer", "schedule"), [("sgd", "step"), ("adam", "step")], ["sgd", "adam"],
     "optimizer"),
    (("optimizer", "schedule"), [("sgd", "step"), ("adam", "constant")],
     ["sgd, step", "adam, constant"], "optimizer, schedule"),
    (("activation",), [("sigmoid",), ("relu",)], ["sigmoid", "relu"], "activation"),
    (("only",), [("one",)], ["one"], "only"),
])
def test_legend_shows_what_varies_and_names_its_keys(keys, settings, shown, title):
    """A key every setting shares is left out of the entries; the title names the others."""
    fig = compare.grad_norms(_frame(dict.fromkeys(settings, 1.0), keys), keys,
                             ["grad_norm_W1"], "t")
    assert _legend_texts(fig) == shown and fig.legends[0].get_title().get_text() == title


def test_setting_labels_name_key_and_value_with_the_seed_count():
    fig = compare.curves_and_bars(_frame({("max",): 1.0, ("avg",): 2.0}, ("pooling",),
                                         seeds=(0, 1)), ["pooling"], "test_acc", "Pooling")
    assert _legend_texts(fig) == ["pooling=max (n=2)", "pooling=avg (n=2)"]


def test_nine_settings_get_nine_colours_grouped_by_optimizer():
    pairs = [(o, s) for o in ("sgd", "rmsprop", "adam")
             for s in ("constant", "step", "exponential")]
    colours = palette(range(9), pairs)
    assert len({to_rgba(c) for c in colours.values()}) == 9
    styles = dashes(range(9), [s for _, s in pairs])
    assert [styles[i] for i in range(3)] == ["-", "--", ":"]
    other = palette(["x", "y", "z"])
    assert len({to_rgba(c) for c in other.values()}) == 3


@pytest.mark.parametrize("order", [("sgd", "rmsprop", "adam", "momentum", "adamw"),
                                   ("adamw", "momentum", "adam", "rmsprop", "sgd")])
def test_an_optimizer_has_one_hue_in_every_figure_whatever_order_its_runs_came_in(order):
    """The grad-norm figure's families (a group per optimizer, a shade per schedule) and the
    curves' colour per optimizer (tab10 over the names sorted) give each optimizer one hue:
    rmsprop was purple in one Section 2 figure and red in the other, as the first took the
    families in the order the runs came in."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import rgb_to_hsv

    pairs = [(o, s) for o in order for s in ("constant", "step")]
    families = palette(range(len(pairs)), pairs)
    names = sorted(order)
    flat = palette(sorted(range(len(names)), key=lambda i: names[i]))  # as curves_by_panel
    tab10 = plt.get_cmap("tab10")

    def hue(colour) -> float:
        return rgb_to_hsv(to_rgba(colour)[:3])[0]

    def apart(a: float, b: float) -> float:
        return min(abs(a - b), 1 - abs(a - b))

    for i, (optimizer, _) in enumerate(pairs):  # the nearest of the curves' hues is its own
        nearest = min(names, key=lambda n: apart(hue(families[i]), hue(flat[names.index(n)])))
        assert nearest == optimizer, (optimizer, nearest)
        assert to_rgba(flat[names.index(optimizer)]) == tab10(names.index(optimizer))


def _flow_frame(drop: str | None = None) -> pd.DataFrame:
    frame = _frame({("plain", 1): 1.0}, ("model", "depth"), steps=2)
    frame = _layers(frame, {"stem.0": frame["grad_norm_W1"], "head": frame["grad_norm_W2"]})
    return frame.drop(columns=[drop]) if drop else frame


@pytest.mark.parametrize("draw_it,drop", [
    (lambda f: compare.grad_norms(f, ["a"], ["grad_norm_W1", "grad_norm_W2"], "t"),
     "grad_norm_W2"),
    (lambda f: compare.curves_and_seeds(f, ["a"], ["train_loss", "val_acc", "test_acc"], "t"),
     "val_acc"),
    (lambda f: compare.curves_and_seeds(f, ["a"], ["train_loss", "val_acc", "test_acc"], "t"),
     "seed"),
    (lambda f: compare.gradient_flow(f, ["model", "depth"], ["stem.0", "head"], "t"), "model"),
])
def test_missing_column_is_named(draw_it, drop):
    frame = _flow_frame() if drop == "model" else _frame({("1",): 1.0}, steps=2)
    with pytest.raises(ValueError, match=drop):
        draw_it(frame.drop(columns=[drop]))


def test_empty_frame_is_refused():
    with pytest.raises(ValueError, match="no rows"):
        compare.grad_norms(_frame({("1",): 1.0}).iloc[:0], ["a"], ["grad_norm_W1"], "t")


def _check_paper_figure(fig, n_settings: int, panels: int) -> None:
    """Labelled axes, integer epoch ticks, the same colour per setting in every curve panel."""
    axes = [ax for ax in fig.axes if ax.get_xlabel().startswith("epoch")]
    assert len(fig.axes) == panels and fig._suptitle is not None
    per_panel = []
    for ax in fig.axes:
        assert ax.get_ylabel() and ax.get_title()
        assert ax.get_xlabel() or all(t.get_text() for t in ax.get_xticklabels())
        if ax.get_xlabel().startswith("epoch"):
            locator = ax.xaxis.get_major_locator()
            assert isinstance(locator, MaxNLocator) and locator._integer
    for ax in axes:
        per_panel.append(list(dict.fromkeys(_line_colours(ax))))
    assert all(colours == per_panel[0] for colours in per_panel)
    assert len(per_panel[0]) == n_settings
    legend = fig.legends[0]
    assert len(legend.get_texts()) >= n_settings


def test_section2_figure_one_colour_per_setting_and_bands():
    settings = {(o, s): b for b, (o, s) in enumerate(
        [(o, s) for o in ("sgd", "adam") for s in ("constant", "step")], start=1)}
    keys = ("optimizer", "schedule")
    fig = compare.grad_norms(_frame(settings, keys), keys, ["grad_norm_W1", "grad_norm_W2"],
                             "Section 2")
    _check_paper_figure(fig, 4, panels=2)
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert all(len(ax.collections) == 4 for ax in fig.axes)  # a band per setting
    assert "3 seeds" in fig._suptitle.get_text()
    one_seed = compare.grad_norms(_frame(settings, keys, seeds=(0,)), keys,
                                  ["grad_norm_W1", "grad_norm_W2"], "Section 2")
    assert all(len(ax.collections) == 0 for ax in one_seed.axes)  # no band from one seed
    assert "1 seed" in one_seed._suptitle.get_text()


def test_activation_figure_curves_and_final_accuracy():
    frame = _frame({("sigmoid",): 1.0, ("tanh",): 2.0, ("relu",): 3.0}, ("activation",))
    fig = compare.curves_and_seeds(frame, ["activation"], ["train_loss", "val_acc", "test_acc"],
                                   "Section 1")
    _check_paper_figure(fig, 3, panels=3)
    bars = fig.axes[2].patches
    # Final test accuracy: the last epoch's test_acc, mean over seeds 0, 1, 2.
    assert [b.get_height() for b in bars] == pytest.approx([(3 * b + 1) / 100 for b in (1, 2, 3)])
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == ["sigmoid", "tanh", "relu"]
    # The bars wear the settings' colours of the curves.
    assert [b.get_facecolor()[:3] for b in bars] == [c[:3] for c in
                                                     dict.fromkeys(_line_colours(fig.axes[0]))]


def test_gradient_flow_figure_panel_per_depth():
    parts = []
    for network, scale in (("plain", 1.0), ("resnet", 3.0)):
        for depth in (2, 8):
            frame = _frame({(network, depth): 1.0}, ("model", "depth"), seeds=(0, 1), steps=10)
            parts.append(_layers(frame, {"stem.0": scale / depth * frame["grad_norm_W1"],
                                         "head": scale * frame["grad_norm_W1"]}))
    fig = compare.gradient_flow(pd.concat(parts, ignore_index=True), ["model", "depth"],
                                ["stem.0", "head"], "Section 4")
    assert [ax.get_title() for ax in fig.axes] == ["depth 2 (6 weighted layers)",
                                                  "depth 8 (18 weighted layers)"]
    for ax in fig.axes:
        lines = ax.get_lines()
        assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
        colours = _line_colours(ax)
        assert colours[0] == colours[1] != colours[2] == colours[3]
        # x runs over the training in epochs: 10 steps an epoch, 3 epochs.
        assert lines[0].get_xdata()[0] == pytest.approx(0.1)
        assert lines[0].get_xdata()[-1] == pytest.approx(3.0)
    texts = _legend_texts(fig)
    assert texts[:2] == ["PlainNet", "SmallResNet"] and "first layer (stem.0)" in texts


# -- real runs -------------------------------------------------------------------------------

def _sweep(dlproj_run, args: list[str], env: dict | None = None) -> list[Path]:
    """The run folders of a real sweep. Without the sweep's own report (the aggregate callback,
    its figures drawn from every run): these tests draw the runs as the report does, themselves."""
    run = dlproj_run(["-m", *args, "~hydra.callbacks.aggregate"], env=env, timeout=600)
    assert run.proc.returncode == 0, run.output
    return run.run_dirs


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=150)
    assert path.stat().st_size > 20_000  # a drawn figure, not an empty canvas


def test_real_sweep_drawn_as_the_report_draws_it_torn_line_read_ragged_file_skipped(
        dlproj_run, tmp_path):
    dirs = _sweep(dlproj_run, ["section=2", "optimizer=sgd,adam", "schedule=constant,step",
                               "seed=0,1", "data.train_limit=300", "data.val_size=100",
                               "data.test_limit=100", "train.epochs=3", "figures=false"])
    assert len(dirs) == 8
    spec = _spec("grad_norms_optimizer_schedule")
    runs, problems = read_runs(dirs)
    # Each row is named by every key swept, the defaults (adam, constant) included.
    assert sorted(set(runs["label"].str.split(" data.").str[0])) == [
        "optimizer=adam schedule=constant", "optimizer=adam schedule=step",
        "optimizer=sgd schedule=constant", "optimizer=sgd schedule=step"]
    members = family(dedupe(runs)[0], spec.vary)
    curves = stacked(members, spec, "metrics.csv", problems)
    assert len(curves) == 8 * 3 and set(curves["epoch"]) == {1, 2, 3}
    assert curves.groupby(["optimizer", "schedule"])["seed"].nunique().tolist() == [2] * 4
    steps = stacked(members, spec, "grad_norms.csv", problems)
    assert {"step", "grad_norm_W1", "grad_norm_W2"} <= set(steps.columns) and not problems
    # The per-epoch column is the epoch's mean of the per-step norms.
    one = steps[steps["run"] == str(dirs[0])]
    assert one.groupby("epoch")["grad_norm_W1"].mean().tolist() == pytest.approx(
        run_csv(dirs[0], "metrics.csv", [])["grad_norm_W1"].tolist())
    fig = draw(spec, dedupe(runs)[0], problems)
    _check_paper_figure(fig, 4, panels=2)
    assert fig.legends[0].get_title().get_text() == "optimizer, schedule"
    _save(fig, tmp_path / "grad_norms_section2.png")
    keys = ["optimizer", "schedule"]
    _save(compare.grad_norms(steps, keys, spec.metrics, "per step"), tmp_path / "steps.png")
    # A killed writer's half line is left out, the run's complete epochs still drawn; a ragged
    # file is named under Skipped files, the run left out of the figure, the others drawn.
    with open(dirs[0] / "metrics.csv", "a") as fh:
        fh.write("4,0.1,0.5")
    runs, problems = read_runs(dirs)
    assert not problems
    assert len(stacked(family(runs, spec.vary), spec, "metrics.csv", problems)) == 8 * 3
    with open(dirs[0] / "metrics.csv", "a") as fh:
        fh.write("\n5,0.1\n")
    runs, problems = read_runs(dirs)
    assert [(p.path, "fields" in p.reason) for p in problems] == [
        (dirs[0] / "metrics.csv", True)]
    assert len(stacked(family(runs, spec.vary), spec, "metrics.csv", problems)) == 7 * 3
    _check_paper_figure(draw(spec, runs, problems), 4, panels=2)
    # A failed run is left out.
    record = json.loads((dirs[1] / "results.json").read_text())
    (dirs[1] / "results.json").write_text(json.dumps({**record, "status": "failed"}))
    runs, problems = read_runs(dirs)
    assert len(stacked(family(runs, spec.vary), spec, "metrics.csv", problems)) == 6 * 3


@pytest.mark.slow
def test_gradient_flow_from_real_compare_runs(dlproj_run, tmp_path):
    dirs = _sweep(dlproj_run, ["section=4", "model=plain,resnet", "model.depth=1,3",
                               "model.width=4", "seed=0,1", "data.train_limit=96",
                               "data.val_size=64", "data.test_limit=32", "train.epochs=2",
                               "train.batch_size=32", "threads.blas=1",  # one torch thread
                               "figures=false"])  # the runs' own: this test draws its own
    spec = _spec("gradient_flow_first_last")
    runs, problems = read_runs(dirs)
    steps = stacked(family(runs, spec.vary), spec, spec.csv, problems, layers=True)
    assert len(steps[["run", "step"]].drop_duplicates()) == 8 * 2 * 3  # 8 runs, 2 epochs of 3
    fig = draw(spec, runs, problems)
    assert len(fig.axes) == 2 and all(len(ax.get_lines()) == 4 for ax in fig.axes)
    _save(fig, tmp_path / "gradient_flow_section4.png")


@pytest.mark.parametrize("names", [("W1", "b1", "W2", "b2"), ("W1", "W2"), ("W1", "W2", "W3")])
@pytest.mark.parametrize("per", ["step", "epoch"])
def test_equal_gradient_norms_stay_distinguishable(names, per):
    """Where parameters' norms coincide (dW1 and dW2 of the 2-layer net), a line drawn over
    another of the same style hides it whatever its colour: each parameter gets its own style."""
    from dlproj.plots.grad_norms import grad_norms_per_epoch, grad_norms_per_step

    rows = [{per: i, **{f"grad_norm_{n}": 1.0 / i for n in names}} for i in range(1, 301)]
    draw_it = grad_norms_per_step if per == "step" else grad_norms_per_epoch
    fig = draw_it(rows, names)
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label() in {f"||d{n}||" for n in names}]
    assert len(lines) == len(names)
    assert len({ln.get_linestyle() for ln in lines}) == len(names)
    matplotlib.pyplot.close(fig)


def _per_run_figures():
    from dlproj.plots.curves import learning_curves
    from dlproj.plots.grad_norms import grad_norms_per_epoch
    from dlproj.plots.schedules import lr_schedule

    return {"learning_curves": learning_curves, "lr_schedule": lr_schedule,
            "grad_norms_per_epoch": lambda rows: grad_norms_per_epoch(rows, ["W1"])}


@pytest.mark.parametrize("epochs", [1, 2, 3])
@pytest.mark.parametrize("name", ["learning_curves", "lr_schedule", "grad_norms_per_epoch"])
def test_a_run_s_figures_tick_whole_epochs(name, epochs):
    """A short run's figures (debug=quick, the quick study) once read `epoch 0.96 ... 1.04`."""
    import matplotlib.pyplot as plt

    rows = [{"epoch": e, "lr": 0.01, "train_loss": 1 / e, "val_loss": 2 / e, "val_acc": e / 10,
             "grad_norm_W1": float(e)} for e in range(1, epochs + 1)]
    fig = _per_run_figures()[name](rows)
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_xlabel() == "epoch"]
    assert axes
    for ax in axes:
        low, high = sorted(ax.get_xlim())
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)
