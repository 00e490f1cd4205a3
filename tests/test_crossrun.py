"""Cross-run figures (dlproj/report/crossrun.py): the frame format, the statistics they draw, one
colour per setting in every panel, and real tiny sweeps of Sections 1, 2 and 4 read from disk."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.ticker import MaxNLocator

from dlproj.report import crossrun

matplotlib.use("Agg")


def _frame(settings: dict[str, float], seeds=(0, 1, 2), epochs=3, steps=0) -> pd.DataFrame:
    """Synthetic rows: metric = base * epoch + seed (+ step / 100 with per-step rows)."""
    rows = []
    for label, base in settings.items():
        for seed in seeds:
            for epoch in range(1, epochs + 1):
                for k in range(max(steps, 1)):
                    value = base * epoch + seed + (k / 100 if steps else 0)
                    row = {"setting_label": label, "seed": seed, "epoch": epoch,
                           "grad_norm_W1": value, "grad_norm_W2": 2 * value,
                           "train_loss": 1 / value, "val_acc": value / 100,
                           "test_acc": value / 100}
                    if steps:
                        row["step"] = (epoch - 1) * steps + k + 1
                    rows.append(row)
    return pd.DataFrame(rows)


def _line_colours(ax) -> list[tuple]:
    return [to_rgba(line.get_color()) for line in ax.get_lines()]


def test_seed_stats_mean_std_count():
    frame = _frame({"a=1": 1.0, "a=2": 10.0})
    stats = crossrun.seed_stats(frame, "epoch", "grad_norm_W1")
    row = stats[(stats["setting_label"] == "a=2") & (stats["epoch"] == 3)].iloc[0]
    assert row["mean"] == pytest.approx(30 + 1) and row["count"] == 3
    assert row["std"] == pytest.approx(np.std([30, 31, 32], ddof=1))


def test_per_step_rows_are_averaged_into_epochs_first():
    per_step = _frame({"a=1": 1.0}, seeds=(0, 1), steps=5)
    stats = crossrun.seed_stats(per_step, "epoch", "grad_norm_W1")
    # seed s, epoch e: mean over k of (e + s + k/100) = e + s + 0.02; then over s in {0, 1}.
    assert stats["mean"].tolist() == pytest.approx([e + 0.5 + 0.02 for e in (1, 2, 3)])
    assert stats["count"].tolist() == [2, 2, 2]


@pytest.mark.parametrize("labels,shown,title", [
    (["optimizer=sgd schedule=step", "optimizer=adam schedule=step"],
     ["sgd", "adam"], "optimizer"),
    (["optimizer=sgd schedule=step", "optimizer=adam schedule=constant"],
     ["sgd, step", "adam, constant"], "optimizer, schedule"),
    (["section='1' model.activation=sigmoid data.train_limit=100",
      "section='1' model.activation=relu data.train_limit=100"], ["sigmoid", "relu"],
     "activation"),
    (["model=plain", "model=resnet augmentation=standard"],
     ["model=plain", "model=resnet augmentation=standard"], ""),
    (["free text", "other text"], ["free", "other"], ""),
    (["same", "same"], ["same", "same"], ""),
    (["only=one"], ["one"], "only"),
])
def test_short_labels(labels, shown, title):
    got, got_title = crossrun.short_labels(labels)
    assert [got[lab] for lab in labels] == shown and got_title == title


def test_nine_settings_get_nine_colours_grouped_by_optimizer():
    labels = [f"optimizer={o} schedule={s}" for o in ("sgd", "rmsprop", "adam")
              for s in ("constant", "step", "exponential")]
    colours = crossrun.setting_colours(labels)
    assert len({to_rgba(c) for c in colours.values()}) == 9
    styles = crossrun.setting_styles(labels)
    assert [styles[lab] for lab in labels[:3]] == ["-", "--", ":"]
    other = crossrun.setting_colours(["x", "y", "z"])
    assert len({to_rgba(c) for c in other.values()}) == 3


@pytest.mark.parametrize("fn,drop", [
    (crossrun.section2_grad_norms, "grad_norm_W2"),
    (crossrun.activation_study, "val_acc"),
    (crossrun.activation_study, "seed"),
    (crossrun.section4_gradient_flow, "network"),
])
def test_missing_column_is_named(fn, drop):
    frame = _frame({"a=1": 1.0}, steps=2).assign(network="plain", depth=1, **{"stem.0": 1.0,
                                                                               "head": 2.0})
    with pytest.raises(ValueError, match=drop):
        fn(frame.drop(columns=[drop]))


def test_empty_frame_is_refused():
    with pytest.raises(ValueError, match="no rows"):
        crossrun.section2_grad_norms(_frame({"a=1": 1.0}).iloc[:0])


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
    labels = {f"optimizer={o} schedule={s}": b for b, (o, s) in enumerate(
        [(o, s) for o in ("sgd", "adam") for s in ("constant", "step")], start=1)}
    fig = crossrun.section2_grad_norms(_frame(labels))
    _check_paper_figure(fig, 4, panels=2)
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert all(len(ax.collections) == 4 for ax in fig.axes)  # a band per setting
    assert "3 seeds" in fig._suptitle.get_text()
    one_seed = crossrun.section2_grad_norms(_frame(labels, seeds=(0,)), log=False)
    assert all(len(ax.collections) == 0 for ax in one_seed.axes)  # no band from one seed
    assert "1 seed" in one_seed._suptitle.get_text()


def test_activation_figure_curves_and_final_accuracy():
    frame = _frame({"model.activation=sigmoid": 1.0, "model.activation=tanh": 2.0,
                    "model.activation=relu": 3.0})
    fig = crossrun.activation_study(frame)
    _check_paper_figure(fig, 3, panels=3)
    bars = fig.axes[2].patches
    # Final test accuracy: the last epoch's test_acc, mean over seeds 0, 1, 2.
    assert [b.get_height() for b in bars] == pytest.approx([(3 * b + 1) / 100 for b in (1, 2, 3)])
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == ["sigmoid", "tanh", "relu"]
    # The bars wear the settings' colours of the curves.
    assert [b.get_facecolor()[:3] for b in bars] == [c[:3] for c in
                                                     dict.fromkeys(_line_colours(fig.axes[0]))]


def test_gradient_flow_figure_panel_per_depth():
    rows = []
    for network, scale in (("plain", 1.0), ("resnet", 3.0)):
        for depth in (2, 8):
            frame = _frame({f"model={network} model.depth={depth}": 1.0}, seeds=(0, 1),
                           steps=10)
            frame["network"], frame["depth"] = network, depth
            frame["stem.0"] = scale / depth * frame["grad_norm_W1"]
            frame["head"] = scale * frame["grad_norm_W1"]
            rows.append(frame)
    fig = crossrun.section4_gradient_flow(pd.concat(rows, ignore_index=True))
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
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[:2] == ["PlainNet", "SmallResNet"] and "first layer (stem.0)" in texts


# -- real runs -------------------------------------------------------------------------------

def _sweep(dlproj_run, args: list[str], env: dict | None = None) -> list[Path]:
    run = dlproj_run(["-m", *args], env=env, timeout=600)
    assert run.proc.returncode == 0, run.output
    return run.run_dirs


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=150)
    assert path.stat().st_size > 20_000  # a drawn figure, not an empty canvas


def test_runs_frame_reads_real_sweeps_and_ignores_a_torn_line(dlproj_run, tmp_path):
    dirs = _sweep(dlproj_run, ["section=2", "optimizer=sgd,adam", "schedule=constant,step",
                               "seed=0,1", "data.train_limit=300", "data.val_size=100",
                               "data.test_limit=100", "train.epochs=3"])
    assert len(dirs) == 8
    with open(dirs[0] / "metrics.csv", "a") as fh:  # a killed writer's half line
        fh.write("4,0.1,0.5")
    frame = crossrun.runs_frame(dirs)
    assert len(frame) == 8 * 3 and set(frame["epoch"]) == {1, 2, 3}
    assert frame.groupby("setting_label")["seed"].nunique().tolist() == [2] * 4
    assert frame["setting_label"].str.contains("seed=").sum() == 0
    steps = crossrun.runs_frame(dirs, "grad_norms.csv")
    assert {"step", "grad_norm_W1", "grad_norm_W2"} <= set(steps.columns)
    # The per-epoch column is the epoch's mean of the per-step norms.
    one = steps[(steps["setting_label"] == frame["setting_label"][0]) & (steps["seed"] == 0)]
    per_epoch = frame[(frame["setting_label"] == frame["setting_label"][0])
                      & (frame["seed"] == 0)]
    assert one.groupby("epoch")["grad_norm_W1"].mean().tolist() == pytest.approx(
        per_epoch["grad_norm_W1"].tolist())
    fig = crossrun.section2_grad_norms(frame)
    _check_paper_figure(fig, 4, panels=2)
    assert fig.legends[0].get_title().get_text() == "optimizer, schedule"
    _save(fig, tmp_path / "grad_norms_section2.png")
    _save(crossrun.section2_grad_norms(steps), tmp_path / "grad_norms_section2_steps.png")
    # A failed run is left out.
    record = json.loads((dirs[1] / "results.json").read_text())
    (dirs[1] / "results.json").write_text(json.dumps({**record, "status": "failed"}))
    assert len(crossrun.runs_frame(dirs)) == 7 * 3


@pytest.mark.slow
def test_gradient_flow_from_real_compare_runs(dlproj_run, tmp_path):
    dirs = _sweep(dlproj_run, ["section=4", "model=plain,resnet", "model.depth=1,3",
                               "model.width=4", "seed=0,1", "data.train_limit=96",
                               "data.val_size=64", "data.test_limit=32", "train.epochs=2",
                               "train.batch_size=32"], env={"OMP_NUM_THREADS": "1"})
    frame = crossrun.runs_frame(dirs, "grad_norms.csv", columns=lambda r: {
        "network": r["config"]["model"]["name"], "depth": r["config"]["model"]["depth"]})
    assert len(frame) == 8 * 2 * 3  # 8 runs, 2 epochs of 3 steps
    fig = crossrun.section4_gradient_flow(frame)
    assert len(fig.axes) == 2 and all(len(ax.get_lines()) == 4 for ax in fig.axes)
    _save(fig, tmp_path / "gradient_flow_section4.png")
