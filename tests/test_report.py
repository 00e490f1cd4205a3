"""The report on hand-made run directories: seeds grouped, failures shown, bad files skipped."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest

from dlproj.report import build_report
from dlproj.report.__main__ import main as report_main
from dlproj.report.aggregate import group_runs
from dlproj.report.discover import discover, find_run_dirs, read_csv
from dlproj.report.figures import draw_all
from dlproj.report.tables import study_lines


def make_run(root: Path, name: str, *, section: int = 1, experiment: str = "sin", seed: int = 0,
             status: str = "completed", metrics: dict | None = None, config: dict | None = None,
             curve: list[dict] | None = None, error: str | None = None,
             overrides: list[str] | None = None, results: bool = True) -> Path:
    """A run directory as dlproj leaves it: results.json, metrics.csv, .hydra/config.yaml."""
    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = {"section": section, "experiment": experiment, "seed": seed,
           "train": {"epochs": 3, "batch_size": 128},
           "data": {"root": f"/somewhere/{seed}", "train_limit": None},
           "model": {"name": "mlp_big", "hidden": [64, 64, 64]},
           "optimizer": {"name": "adam", "lr": 0.003}, "params": {}}
    for key, value in (config or {}).items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    (run_dir / ".hydra" / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    (run_dir / ".hydra" / "overrides.yaml").write_text(json.dumps(overrides or []))
    if results:
        (run_dir / "results.json").write_text(json.dumps({
            "section": section, "experiment": experiment, "seed": seed,
            "overrides": overrides or [], "run_dir": str(run_dir), "status": status,
            "metrics": metrics or {}, "error": error, "wall_seconds": 1.5, "config": cfg}))
    if curve:
        with open(run_dir / "metrics.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(curve[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(curve)
    return run_dir


def curve(epochs: int, acc0: float, key: str = "test_acc") -> list[dict]:
    return [{"epoch": e, "lr": 0.001, "train_loss": 1.0 / e, key: acc0 + 0.01 * e}
            for e in range(1, epochs + 1)]


def test_seeds_grouped_into_mean_std_and_n(tmp_path):
    mses = [0.010, 0.012, 0.017]
    for seed, mse in enumerate(mses):
        make_run(tmp_path / "runs", f"2026-01-01_00-00-0{seed}_s1_sin", seed=seed,
                 metrics={"test_mse": mse, "train_loss": 0.01})
    make_run(tmp_path / "runs", "2026-01-01_00-01-00_s1_sin", seed=0,
             config={"model.name": "mlp_small", "model.hidden": [8]},
             metrics={"test_mse": 0.05}, overrides=["model=mlp_small"])
    runs, problems = discover(tmp_path)
    assert not problems
    rows = group_runs(runs)
    assert [(r.setting, r.n) for r in rows] == [("model=mlp_big", 3), ("model=mlp_small", 1)]
    big = rows[0]
    assert big.seeds == [0, 1, 2]
    assert big.stats["test_mse"].mean == pytest.approx(statistics.fmean(mses))
    assert big.stats["test_mse"].std == pytest.approx(statistics.stdev(mses))
    assert rows[1].stats["test_mse"].std is None
    # The course report's number sits beside ours.
    assert big.study is not None and big.study.value == 0.0101
    assert rows[1].study.value == 0.0666


def test_setting_label_shows_what_varies_and_explicit_overrides(tmp_path):
    make_run(tmp_path, "a", metrics={"test_mse": 0.1})
    make_run(tmp_path, "b", config={"optimizer.name": "sgd", "optimizer.lr": 0.1},
             metrics={"test_mse": 0.2}, overrides=["optimizer=sgd"])
    make_run(tmp_path, "c", config={"optimizer.name": "sgd", "optimizer.lr": 10.0},
             metrics={"test_mse": 0.3}, overrides=["optimizer=sgd", "optimizer.lr=10"])
    labels = [r.setting for r in group_runs(discover(tmp_path)[0])]
    # optimizer.lr varies among the sgd runs, so it is shown for them.
    assert labels == ["model=mlp_big optimizer.lr=0.003 optimizer=adam",
                      "model=mlp_big optimizer.lr=0.1 optimizer=sgd",
                      "model=mlp_big optimizer.lr=10 optimizer=sgd"]


def test_failed_and_diverged_runs_are_rows_of_their_own(tmp_path):
    make_run(tmp_path, "ok0", seed=0, metrics={"test_mse": 0.01})
    make_run(tmp_path, "ok1", seed=1, metrics={"test_mse": 0.03})
    make_run(tmp_path, "div", seed=2, status="diverged", metrics={"test_mse": math.inf},
             error="loss became inf at epoch 2 step 4")
    make_run(tmp_path, "bad", seed=3, status="failed", error="RuntimeError: boom\ntraceback")
    rows = group_runs(discover(tmp_path)[0])
    assert [(r.status, r.n) for r in rows] == [("completed", 2), ("diverged", 1), ("failed", 1)]
    assert rows[0].stats["test_mse"].mean == pytest.approx(0.02)  # the diverged inf stays out
    assert rows[2].errors == ["RuntimeError: boom"]
    report = build_report(tmp_path, tmp_path / "report", figures=False)
    assert "| DIVERGED |" in report.markdown and "| FAILED |" in report.markdown
    assert "error: RuntimeError: boom" in report.markdown


@pytest.mark.parametrize("content, reason", [
    ("", "empty file"),
    ("epoch,train_loss\n1,0.5\n2,0.4", "unterminated"),
    ("epoch,train_loss\n1,0.5\n2\n", "fields"),
    ("epoch,train_loss\n", "no rows"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
])
def test_corrupt_csv_is_reported_by_path_and_skipped(tmp_path, content, reason):
    good = make_run(tmp_path, "good", metrics={"test_mse": 0.01}, curve=curve(3, 0.5))
    bad = make_run(tmp_path, "bad", seed=1, metrics={"test_mse": 0.03})
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(bad / "metrics.csv", mode) as fh:
        fh.write(content)
    runs, problems = discover(tmp_path)
    assert [p.path for p in problems] == [bad / "metrics.csv"]
    assert reason in problems[0].reason
    by_path = {r.path: r for r in runs}
    assert by_path[bad].curve is None and by_path[good].curve is not None
    # The run itself still counts: its final record is intact.
    report = build_report(tmp_path, tmp_path / "report")
    assert report.rows[0].n == 2
    assert f"`{bad / 'metrics.csv'}`" in (tmp_path / "report" / "results.md").read_text()


def test_corrupt_or_half_written_results_json_skips_the_run(tmp_path, capsys):
    make_run(tmp_path / "runs", "good", metrics={"test_mse": 0.01})
    bad = make_run(tmp_path / "runs", "half", seed=1, metrics={"test_mse": 0.03})
    text = (bad / "results.json").read_text()
    (bad / "results.json").write_text(text[: len(text) // 2])
    empty = make_run(tmp_path / "runs", "empty", seed=2)
    (empty / "results.json").write_text("")
    assert report_main(["--outputs", str(tmp_path), "--no-figures"]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {bad / 'results.json'}: not valid JSON" in err
    assert f"skipped {empty / 'results.json'}: empty file" in err
    assert "| 1 | sin | model=mlp_big | completed | 1 |" in out


def test_unfinished_run_without_results_is_marked_incomplete(tmp_path):
    make_run(tmp_path, "running", results=False, curve=curve(2, 0.5, key="test_mse"))
    (row,) = group_runs(discover(tmp_path)[0])
    assert row.status == "incomplete"
    assert row.stats["test_mse"].mean == pytest.approx(0.52)


def test_numeric_job_directories_ordered_2_before_10(tmp_path):
    sweep = tmp_path / "multirun" / "2026-01-01_00-00-00.000001"
    for job in (10, 2, 1, 0, 11):
        make_run(sweep, str(job), seed=job, metrics={"test_mse": 0.01})
    (sweep / "report").mkdir()  # a sweep's own report is not a run
    (sweep / ".submitit" / "123").mkdir(parents=True)
    found = find_run_dirs(tmp_path)
    assert [p.name for p in found] == ["0", "1", "2", "10", "11"]
    (row,) = group_runs(discover(tmp_path)[0])
    assert row.seeds == [0, 1, 2, 10, 11]


def test_outputs_folder_reads_runs_and_multirun_only(tmp_path):
    make_run(tmp_path / "runs", "single", metrics={"test_mse": 0.01})
    make_run(tmp_path / "multirun" / "stamp", "0", seed=1, metrics={"test_mse": 0.01})
    make_run(tmp_path / "quick" / "runs", "elsewhere", seed=2, metrics={"test_mse": 0.5})
    assert sorted(p.name for p in find_run_dirs(tmp_path)) == ["0", "single"]


def test_report_files_csv_and_tex(tmp_path):
    for seed in range(2):
        make_run(tmp_path, f"s{seed}", seed=seed, metrics={"test_mse": 0.001 * (seed + 1)})
    make_run(tmp_path, "gc", section=2, experiment="gradcheck",
             metrics={"max_rel_error": 3.5e-9, "rel_error_W1": 3.5e-9},
             config={"model.name": "two_layer"})
    report = build_report(tmp_path, tmp_path / "out", figures=False)
    for name in ("results.md", "results.csv", "results.tex", "index.md"):
        assert (tmp_path / "out" / name).is_file()
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    mse = next(r for r in rows if r["metric"] == "test_mse")
    assert (mse["n"], mse["seeds"], mse["primary"], mse["course_report"]) == ("2", "0 1", "1",
                                                                              "0.0101")
    assert float(mse["mean"]) == pytest.approx(0.0015)
    gc = next(r for r in rows if r["metric"] == "max_rel_error")
    assert gc["course_report"] == "9.9e-09"
    tex = (tmp_path / "out" / "results.tex").read_text()
    assert r"\begin{tabular}" in tex and r"max\_rel\_error" in tex and r"$\pm$" in tex
    # Table 1 of the course report: sin big and the gradient check are matched, the rest not yet.
    table1 = {x.ref.label: x.row for x in study_lines(report.rows, table1_only=True)}
    assert table1["sin(x) approximation, big MLP"] is not None
    assert table1["gradient check, max relative error"] is not None
    assert table1["CNN, max pooling (5 epochs)"] is None
    assert "3.50e-09" in report.markdown and "not run yet" in report.markdown


def test_figures_drawn_only_when_their_runs_exist(tmp_path):
    for seed in range(2):
        make_run(tmp_path, f"max{seed}", section=3, experiment="cnn", seed=seed,
                 config={"pooling.name": "max", "model.name": "cnn_small"},
                 metrics={"test_acc": 0.95}, curve=curve(3, 0.9))
    out = tmp_path / "figs"
    assert draw_all(discover(tmp_path)[0], out, []) == []  # max pooling only: nothing to compare
    make_run(tmp_path, "avg0", section=3, experiment="cnn",
             config={"pooling.name": "avg", "model.name": "cnn_small"},
             metrics={"test_acc": 0.93}, curve=curve(3, 0.88))
    for model in ("plain", "resnet"):
        run = make_run(tmp_path, model, section=4, experiment="compare",
                       config={"model.name": model, "model.depth": 8,
                               "augmentation.name": "none", "dataset.name": "mnist"},
                       metrics={"val_acc": 0.9}, curve=curve(3, 0.8, key="val_acc"))
        (run / "grad_norms.csv").write_text(
            "step,epoch,conv1,block1,fc\n1,1,0.1,0.2,0.3\n2,1,0.05,0.1,0.2\n")
    written = draw_all(discover(tmp_path)[0], out, [])
    assert sorted(p.name for p in written) == ["plain_vs_residual.png", "pooling_max_vs_avg.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    report = build_report(tmp_path, tmp_path / "report")
    index = (tmp_path / "report" / "index.md").read_text()
    assert "](figures/pooling_max_vs_avg.png)" in index
    assert "## All runs" in index and len(report.figures) == 2


def test_read_csv_keeps_strings_and_numbers(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("param,rel_error,passed\nW1,3.5e-09,True\nb1,nan,\n")
    rows = read_csv(path)
    assert rows[0] == {"param": "W1", "rel_error": 3.5e-9, "passed": "True"}
    assert math.isnan(rows[1]["rel_error"]) and rows[1]["passed"] is None


def test_cli_missing_folder_exits_2(tmp_path, capsys):
    assert report_main(["--outputs", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
