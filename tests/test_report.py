"""The report on hand-made run directories: settings, seeds deduplicated, like with like,
failures shown, bad files skipped, figures."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import statistics
from functools import cache
from pathlib import Path

import pytest

from dlproj.config import study as studies
from dlproj.config.compose import compose
from dlproj.report.__main__ import main as report_main
from dlproj.report.build import build_report
from dlproj.report.runs import dedupe, find_run_dirs, read_csv, read_runs
from dlproj.report.tables import course_lines


@cache
def _config(overrides: tuple[str, ...]) -> str:
    return json.dumps(compose(list(overrides)))


@pytest.fixture(autouse=True, scope="module")
def _study_files_read_once():
    """Each build_report reads its study file (conf/study/course.yaml and its bases) twice, for
    the course numbers and for the figures, half a second each: no test here changes a study
    file, so each is read once for the module and every caller gets a copy of its own (callers
    fill in fields). Reading and checking study files: tests/test_study.py."""
    import copy

    read, seen = studies.read, {}

    def read_once(name: str):
        key = (studies.STUDY_DIR, name)
        if key not in seen:
            seen[key] = read(name)  # an error is raised as before, and not kept
        return copy.deepcopy(seen[key])

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(studies, "read", read_once)
        yield


def make_run(root: Path, name: str, *overrides: str, seed: int = 0, status: str = "completed",
             metrics: dict | None = None, curve: list[dict] | None = None,
             error: str | None = None, results: bool = True, mtime: float | None = None,
             record_setting: bool = False) -> Path:
    """A run directory as dlproj leaves it, its config composed from conf/ with `overrides`.

    By default results.json carries no `setting` (as before settings were recorded): the report
    computes it from the config, as the runner does.
    """
    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = json.loads(_config(tuple(overrides)))
    cfg["seed"] = seed
    cfg["data"]["root"] = f"/somewhere/{seed}"  # machine-local: not part of the setting
    (run_dir / ".hydra" / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    (run_dir / ".hydra" / "overrides.yaml").write_text(json.dumps(list(overrides)))
    if results:
        record = {"section": cfg["section"], "experiment": cfg["experiment"], "seed": seed,
                  "overrides": list(overrides), "run_dir": str(run_dir), "status": status,
                  "metrics": metrics or {}, "error": error, "wall_seconds": 1.5, "config": cfg}
        if record_setting:
            from dlproj.config.setting import setting_of

            s = setting_of(cfg, list(overrides))  # as the runner does
            record.update(setting=s.id, setting_label=s.label)
        (run_dir / "results.json").write_text(json.dumps(record))
        if mtime is not None:
            os.utime(run_dir / "results.json", (mtime, mtime))
    if curve:
        with open(run_dir / "metrics.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(curve[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(curve)
    return run_dir


def curve(epochs: int, acc0: float, key: str = "test_acc") -> list[dict]:
    return [{"epoch": e, "lr": 0.001, "train_loss": 1.0 / e, key: acc0 + 0.01 * e}
            for e in range(1, epochs + 1)]


SIN = ("experiment=sin",)


def course_table(report, table1_only: bool = False) -> dict[str, str]:
    """The report's *Course report vs ours*: each course-report number's label -> our cell."""
    lines = course_lines(report.rows, report.stats, studies.course_numbers())
    return {label.removesuffix(" (Table 1)"): ours for label, ours in
            zip(lines["Course report result"], lines["Ours"], strict=True)
            if not table1_only or label.endswith(" (Table 1)")}


def test_seeds_grouped_into_mean_std_and_n_per_setting(tmp_path):
    mses = [0.010, 0.012, 0.017]
    for seed, mse in enumerate(mses):
        make_run(tmp_path / "runs", f"big{seed}", *SIN, seed=seed, metrics={"test_mse": mse})
    make_run(tmp_path / "runs", "small", *SIN, "model=mlp_small", metrics={"test_mse": 0.05})
    report = build_report(tmp_path, tmp_path / "report", figures=False)
    assert not report.problems
    rows = report.rows
    assert list(zip(rows["label"], rows["n"], strict=True)) == [("defaults", 3),
                                                                ("model=mlp_small", 1)]
    stats = report.stats.set_index(["setting", "metric"])
    big = stats.loc[(rows.at[0, "setting"], "test_mse")]
    assert big["mean"] == pytest.approx(statistics.fmean(mses))
    assert big["std"] == pytest.approx(statistics.stdev(mses))
    assert math.isnan(stats.loc[(rows.at[1, "setting"], "test_mse")]["std"])
    # The experiment's own budget is the course protocol for sin(x): the numbers sit beside ours.
    assert list(rows["course"]) == ["0.0101", "0.0666"]


def test_same_seed_twice_counts_once_and_the_older_run_is_superseded(tmp_path):
    old = make_run(tmp_path, "old", *SIN, seed=0, metrics={"test_mse": 0.5}, mtime=1e9)
    new = make_run(tmp_path, "new", *SIN, seed=0, metrics={"test_mse": 0.1}, mtime=2e9)
    make_run(tmp_path, "seed1", *SIN, seed=1, metrics={"test_mse": 0.3})
    # A failed rerun of seed 0, newer still, does not displace the completed one.
    failed = make_run(tmp_path, "failed", *SIN, seed=0, status="failed", error="boom",
                      mtime=3e9)
    report = build_report(tmp_path, tmp_path / "report", figures=False)
    (row,) = report.rows.itertuples()
    assert (row.status, row.n, row.seeds) == ("completed", 2, "0 1")
    mean = report.stats.set_index("metric").loc["test_mse", "mean"]
    assert mean == pytest.approx(0.2)  # new (0.1) and seed 1 (0.3); old's 0.5 is out
    superseded = dict(zip(report.superseded["path"], report.superseded["superseded_by"],
                          strict=True))
    assert superseded == {old: new, failed: new}
    md = (tmp_path / "report" / "results.md").read_text()
    assert "## Superseded runs" in md and f"`{old}` (completed, seed 0" in md


@pytest.mark.parametrize("budget, shown", [
    (("train.epochs=50",), "train.epochs=50"),
    (("params.n_train=256",), "params.n_train=256"),
    (("data.train_limit=1000", "data.test_limit=300"), "data.test_limit=300 data.train_limit=1000"),
    (("model=mlp_small", "train.batch_size=32"), "model=mlp_small train.batch_size=32"),
    (("optimizer=sgd", "optimizer.lr=0.5"), "optimizer=sgd optimizer.lr=0.5"),
])
def test_budget_and_other_keys_that_differ_from_the_defaults_are_in_the_label(tmp_path, budget,
                                                                               shown):
    make_run(tmp_path, "a", *SIN, metrics={"test_mse": 0.1})
    make_run(tmp_path, "b", *SIN, *budget, metrics={"test_mse": 0.2})
    labels = list(build_report(tmp_path, tmp_path / "r", figures=False).rows["label"])
    assert sorted(labels) == sorted(["defaults", shown])


def test_machine_local_keys_do_not_split_a_setting(tmp_path):
    make_run(tmp_path, "a", "section=3", "device=cpu", "threads.blas=2",
             metrics={"test_acc": 0.9})
    make_run(tmp_path, "b", "section=3", "device=auto", "threads.workers=1", seed=1,
             metrics={"test_acc": 0.8})
    (row,) = build_report(tmp_path, tmp_path / "r", figures=False).rows.itertuples()
    assert (row.n, row.label) == (2, "defaults")


@pytest.mark.parametrize("overrides, why", [
    (("section=3", "train.epochs=1", "data.train_limit=500"), "1 of 5 epochs, 500 train images"),
    (("section=3", "data.test_limit=200"), "200 test images"),
    (("section=2", "optimizer=adam", "train.epochs=2"), "2 of 12 epochs"),
    (("experiment=sin", "train.epochs=40"), "40 of 1500 epochs"),
    (("section=4", "model=plain"), "MNIST, not Oxford-IIIT Pet"),
])
def test_a_run_of_another_protocol_is_not_set_beside_a_course_number(tmp_path, overrides, why):
    metric = {"1": "test_mse", "2": "test_acc", "3": "test_acc", "4": "val_acc"}
    section = next((o[-1] for o in overrides if o.startswith("section=")), "1")
    make_run(tmp_path, "short", *overrides, metrics={metric[section]: 0.9})
    report = build_report(tmp_path, tmp_path / "r", figures=False)
    (row,) = report.rows.itertuples()
    assert "not comparable" in row.course and why in row.course
    course = [ours for ours in course_table(report).values() if ours != "not run yet"]
    assert course and all(c.startswith("— (nearest") for c in course)
    assert f"not comparable: {why}" in report.markdown
    lines = list(csv.DictReader(open(tmp_path / "r" / "results.csv")))
    assert all(line["course_report"] == "" for line in lines)


def test_the_full_protocol_is_set_beside_the_course_number(tmp_path):
    for seed in (0, 1):
        make_run(tmp_path, f"max{seed}", "section=3", seed=seed, metrics={"test_acc": 0.98})
    report = build_report(tmp_path, tmp_path / "r", figures=False)
    assert list(report.rows["course"]) == ["0.9400"]
    (ours,) = [v for label, v in course_table(report).items() if label.startswith("CNN, max")]
    assert ours == "0.9800 ± 0.0000"


def test_failed_diverged_and_interrupted_runs_are_rows_of_their_own(tmp_path):
    make_run(tmp_path, "ok0", *SIN, seed=0, metrics={"test_mse": 0.01})
    make_run(tmp_path, "ok1", *SIN, seed=1, metrics={"test_mse": 0.03})
    make_run(tmp_path, "div", *SIN, seed=2, status="diverged", metrics={"test_mse": math.inf},
             error="loss became inf at epoch 2 step 4")
    make_run(tmp_path, "bad", *SIN, seed=3, status="failed", error="RuntimeError: boom\ntb")
    make_run(tmp_path, "int", *SIN, seed=4, status="interrupted", error="SIGTERM")
    report = build_report(tmp_path, tmp_path / "report", figures=False)
    assert list(zip(report.rows["status"], report.rows["n"], strict=True)) == [
        ("completed", 2), ("diverged", 1), ("interrupted", 1), ("failed", 1)]
    mean = report.stats[report.stats["status"] == "completed"].set_index("metric")["mean"]
    assert mean["test_mse"] == pytest.approx(0.02)  # the diverged inf stays out
    assert report.rows.at[3, "error"] == "RuntimeError: boom"
    for marker in ("| DIVERGED ", "| FAILED ", "| INTERRUPTED ", "error: RuntimeError: boom"):
        assert marker in report.markdown


@pytest.mark.parametrize("content, reason", [
    ("", "empty file"),
    ("epoch,train_loss\n1,0.5", "no rows"),  # torn before its first row ended
    ("epoch,train_loss\n1,0.5\n2\n", "fields"),
    ("epoch,train_loss\n1,0.5,7\n", "fields"),
    ("epoch,train_loss\n", "no rows"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
])
def test_corrupt_csv_is_reported_by_path_and_skipped(tmp_path, content, reason):
    make_run(tmp_path, "good", *SIN, metrics={"test_mse": 0.01}, curve=curve(3, 0.5))
    bad = make_run(tmp_path, "bad", *SIN, seed=1, metrics={"test_mse": 0.03})
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(bad / "metrics.csv", mode) as fh:
        fh.write(content)
    runs, problems = read_runs(tmp_path)
    assert [p.path for p in problems] == [bad / "metrics.csv"]
    assert reason in problems[0].reason
    by_path = dict(zip(runs["path"], runs["curve"], strict=True))
    assert by_path[bad] is None and by_path[tmp_path / "good"] is not None
    # The run itself still counts: its final record is intact.
    report = build_report(tmp_path, tmp_path / "report", figures=False)
    assert report.rows.at[0, "n"] == 2
    assert f"`{bad / 'metrics.csv'}`" in (tmp_path / "report" / "results.md").read_text()


@pytest.mark.parametrize("tail", ["3,0.4", "3,", "3", "3,0.4,9"])
def test_a_torn_last_line_is_left_out_and_the_rest_read(tmp_path, tail):
    """What a killed writer leaves: its complete rows are the run's curve, as resume reads them
    (dlproj.training.csvlog), and nothing is reported."""
    run = make_run(tmp_path, "killed", *SIN, metrics={"test_mse": 0.03})
    (run / "metrics.csv").write_text("epoch,train_loss\n1,0.5\n2,0.45\n" + tail)
    runs, problems = read_runs(tmp_path)
    assert problems == []
    (curve_,) = runs["curve"]
    assert curve_["epoch"].tolist() == [1, 2] and curve_["train_loss"].tolist() == [0.5, 0.45]


def test_corrupt_or_half_written_results_json_skips_the_run(tmp_path, capsys):
    make_run(tmp_path / "runs", "good", *SIN, metrics={"test_mse": 0.01})
    bad = make_run(tmp_path / "runs", "half", *SIN, seed=1, metrics={"test_mse": 0.03})
    text = (bad / "results.json").read_text()
    (bad / "results.json").write_text(text[: len(text) // 2])
    empty = make_run(tmp_path / "runs", "empty", *SIN, seed=2)
    (empty / "results.json").write_text("")
    assert report_main(["--outputs", str(tmp_path), "--no-figures"]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {bad / 'results.json'}: not valid JSON" in err
    assert f"skipped {empty / 'results.json'}: empty file" in err
    assert "| sin          | defaults  | completed |   1 |" in out


@pytest.mark.parametrize("seed", ["missing", None, "zero", 1e400, 1.5, True, [0]])
def test_a_run_without_a_usable_seed_is_a_skipped_file(tmp_path, capsys, seed):
    """A run is one seed of a setting: a record whose seed is missing or not an integer cannot
    be placed, so it is skipped and listed (not a traceback in the claims or the tables)."""
    make_run(tmp_path / "runs", "good", *SIN, metrics={"test_mse": 0.01})
    bad = make_run(tmp_path / "runs", "bad", *SIN, seed=1, metrics={"test_mse": 0.03})
    record = json.loads((bad / "results.json").read_text())
    for holder in (record, record["config"]):
        holder.pop("seed") if seed == "missing" else holder.update(seed=seed)
    (bad / "results.json").write_text(json.dumps(record))
    assert report_main(["--outputs", str(tmp_path), "--no-figures"]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {bad / 'results.json'}: no usable seed" in err, err
    assert "| sin          | defaults  | completed |   1 |" in out


@pytest.mark.parametrize("edit", [
    {"section": 2},  # its config says section 1: a row of its own, not mixed into section 1's
    {"experiment": "xor"},
    {"setting_label": None, "overrides": [1, 2]},  # a label read from overrides not strings
    {"setting_label": None, "overrides": [None, "model=mlp_small"]},
    # Every other field with a value no run writes: blank or non-string errors, an odd status,
    # wall time, label or metrics.
    *({"status": "failed", "error": e} for e in (" ", "\n\t \n", "", 0, False, [], {}, ["x"],
                                                 {"why": 1}, 3.5, "\n  \nboom\nline 2")),
    {"status": None}, {"status": 3}, {"status": ["failed"]},
    {"wall_seconds": "fast"}, {"wall_seconds": None}, {"wall_seconds": [1]},
    {"setting_label": 5}, {"setting_label": ["a", "b"]}, {"experiment": None},
    {"metrics": [1, 2]}, {"metrics": {"test_mse": "low"}}, {"metrics": {"test_mse": None}},
    {"metrics": {"test_mse": float("nan")}}, {"metrics": {"test_mse": True}},
])
def test_a_record_at_odds_with_itself_is_still_a_row(tmp_path, capsys, edit):
    """A results.json edited by hand (its section or experiment no longer its config's, its
    overrides not strings, any field a value no run writes) is read as what it says: the report
    is built, never a traceback."""
    make_run(tmp_path / "runs", "good", *SIN, metrics={"test_mse": 0.01})
    odd = make_run(tmp_path / "runs", "odd", *SIN, seed=1, metrics={"test_mse": 0.03})
    record = json.loads((odd / "results.json").read_text())
    (odd / "results.json").write_text(json.dumps({**record, **edit}))
    assert report_main(["--outputs", str(tmp_path), "--no-figures"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "skipped" not in err
    assert re.search(r"\| sin +\| defaults +\| completed +\|", out), out  # the good run's row
    if edit.get("error") == "\n  \nboom\nline 2":  # the first line that says something
        assert "error: boom" in out and "line 2" not in out


def test_unfinished_run_without_results_is_marked_incomplete(tmp_path):
    make_run(tmp_path, "running", *SIN, results=False, curve=curve(2, 0.5, key="test_mse"))
    report = build_report(tmp_path, tmp_path / "r", figures=False)
    assert list(report.rows["status"]) == ["incomplete"]
    assert report.stats.set_index("metric").loc["test_mse", "mean"] == pytest.approx(0.52)


@pytest.mark.parametrize("given", [["optimizer=adam"], ["optimizer=sgd", "train.epochs=7"],
                                   ["model=mlp_small"], ["schedule=step", "optimizer=rmsprop"]])
def test_a_run_not_finished_is_labelled_as_its_setting_is(tmp_path, given):
    """A run without results.json (running, or killed) is labelled from the command line its
    start wrote (.hydra/overrides.yaml), as its setting's finished runs are: it was labelled
    from its config alone, a row apart with the same id."""
    make_run(tmp_path, "done", *SIN, *given, metrics={"test_mse": 0.1}, record_setting=True)
    make_run(tmp_path, "running", *SIN, *given, seed=1, results=False,
             curve=curve(2, 0.5, key="test_mse"))
    runs, _ = read_runs(tmp_path)
    assert runs["setting"].nunique() == 1 and runs["label"].nunique() == 1, runs[["label"]]


def test_recorded_setting_is_used_and_agrees_with_the_recomputed_one(tmp_path):
    a = make_run(tmp_path, "a", *SIN, "train.epochs=7", metrics={"test_mse": 0.1},
                 record_setting=True)
    make_run(tmp_path, "b", *SIN, "train.epochs=7", seed=1, metrics={"test_mse": 0.1})
    runs, _ = read_runs(tmp_path)
    assert runs["setting"].nunique() == 1
    assert json.loads((a / "results.json").read_text())["setting_label"] == "train.epochs=7"


def test_numeric_job_directories_ordered_2_before_10(tmp_path):
    sweep = tmp_path / "multirun" / "2026-01-01_00-00-00.000001"
    for job in (10, 2, 1, 0, 11):
        make_run(sweep, str(job), *SIN, seed=job, metrics={"test_mse": 0.01})
    (sweep / "report").mkdir()  # a sweep's own report is not a run
    (sweep / ".submitit" / "123").mkdir(parents=True)
    assert [p.name for p in find_run_dirs(tmp_path)] == ["0", "1", "2", "10", "11"]
    report = build_report(tmp_path, tmp_path / "r", figures=False)
    assert report.rows.at[0, "seeds"] == "0 1 2 10 11"


def test_outputs_folder_reads_runs_and_multirun_only(tmp_path):
    make_run(tmp_path / "runs", "single", *SIN, metrics={"test_mse": 0.01})
    make_run(tmp_path / "multirun" / "stamp", "0", *SIN, seed=1, metrics={"test_mse": 0.01})
    make_run(tmp_path / "quick" / "runs", "elsewhere", *SIN, seed=2, metrics={"test_mse": 0.5})
    assert sorted(p.name for p in find_run_dirs(tmp_path)) == ["0", "single"]


def test_report_files_csv_and_booktabs_tex(tmp_path):
    for seed in range(2):
        make_run(tmp_path, f"s{seed}", *SIN, seed=seed, metrics={"test_mse": 0.001 * (seed + 1)})
    make_run(tmp_path, "gc", "section=2", "experiment=gradcheck",
             metrics={"max_rel_error": 3.5e-9, "rel_error_W1": 3.5e-9})
    report = build_report(tmp_path, tmp_path / "out", figures=False)
    for name in ("results.md", "results.csv", "results.tex", "index.md"):
        assert (tmp_path / "out" / name).is_file()
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    mse = next(r for r in rows if r["metric"] == "test_mse")
    assert (mse["n"], mse["seeds"], mse["primary"], mse["course_report"]) == ("2", "0 1", "1",
                                                                              "0.0101")
    assert float(mse["mean"]) == pytest.approx(0.0015)
    gc = next(r for r in rows if r["metric"] == "max_rel_error")
    assert float(gc["course_report"]) == 9.9e-9
    tex = (tmp_path / "out" / "results.tex").read_text()
    for part in (r"\toprule", r"\midrule", r"\bottomrule", r"max\_rel\_error", r"$\pm$"):
        assert part in tex
    table1 = course_table(report, table1_only=True)
    assert len(table1) == 5 and "Adam, constant schedule (12 epochs)" not in table1
    assert table1["sin(x) approximation, big MLP"] == "0.0015 ± 7.07e-04"
    assert table1["gradient check, max relative error"] == "3.50e-09"
    assert table1["CNN, max pooling (5 epochs)"] == "not run yet"


def test_dedupe_keeps_one_run_per_setting_and_seed(tmp_path):
    for i in range(3):
        make_run(tmp_path, f"r{i}", *SIN, seed=i % 2, metrics={"test_mse": 0.1}, mtime=1e9 + i)
    kept, superseded = dedupe(read_runs(tmp_path)[0])
    assert sorted(p.name for p in kept["path"]) == ["r1", "r2"]
    assert [p.name for p in superseded["path"]] == ["r0"]


def test_figures_one_line_per_setting_png_and_pdf(tmp_path):
    for seed in range(2):
        make_run(tmp_path, f"max{seed}", "section=3", seed=seed, metrics={"test_acc": 0.95},
                 curve=curve(3, 0.9))
    from dlproj.report.figures import draw_all

    out, specs = tmp_path / "figs", studies.figures()
    assert draw_all(read_runs(tmp_path)[0], specs, out, []) == []  # max pooling only
    make_run(tmp_path, "avg0", "section=3", "pooling=avg", metrics={"test_acc": 0.93},
             curve=curve(3, 0.88))
    # Another budget is another setting: never pooled into the 3-epoch lines.
    make_run(tmp_path, "max_short", "section=3", "train.epochs=1", metrics={"test_acc": 0.5},
             curve=curve(1, 0.4))
    for model in ("plain", "resnet"):
        run = make_run(tmp_path, model, "section=4", f"model={model}", metrics={"val_acc": 0.9},
                       curve=curve(3, 0.8, key="val_acc"))
        (run / "grad_norms.csv").write_text(
            "step,epoch,conv1,block1,fc\n1,1,0.1,0.2,0.3\n2,1,0.05,0.1,0.2\n")
    written = draw_all(read_runs(tmp_path)[0], specs, out, [])
    assert sorted(p.name for p in written) == ["plain_vs_residual.png", "pooling_max_vs_avg.png"]
    for png in written:
        assert png.stat().st_size > 1000 and png.with_suffix(".pdf").stat().st_size > 1000
        from PIL import Image

        with Image.open(png) as im:
            assert round(im.info["dpi"][0]) >= 150
    from dlproj.report.figures import family

    fam = family(read_runs(tmp_path)[0].query("experiment == 'cnn'"), ("pooling.name",))
    assert sorted(p.name for p in fam["path"]) == ["avg0", "max0", "max1"]
    report = build_report(tmp_path, tmp_path / "report")
    index = (tmp_path / "report" / "index.md").read_text()
    assert "](figures/pooling_max_vs_avg.png)" in index
    # And the study's claims, judged: one figure whatever has run (tests/test_claims.py).
    assert [p.name for p in report.figures][2:] == ["claims.png"]


def test_read_csv_keeps_strings_and_numbers(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("param,rel_error,passed\nW1,3.5e-09,True\nb1,nan,\n")
    frame = read_csv(path)
    assert frame.loc[0, "param"] == "W1" and frame.loc[0, "rel_error"] == 3.5e-9
    assert math.isnan(frame.loc[1, "rel_error"])


@pytest.mark.parametrize("given", ["nope", "a_file", "a_file/below"])
def test_cli_outputs_that_is_no_folder_exits_2(tmp_path, capsys, given):
    (tmp_path / "a_file").write_text("not a folder")
    assert report_main(["--outputs", str(tmp_path / given)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dlproj.report: --outputs: not a folder: {tmp_path / given}. ")
    assert "Allowed:" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("folder", ["nope", "empty"])
def test_the_default_outputs_folder_is_named_as_where_it_came_from(tmp_path, capsys,
                                                                   monkeypatch, folder):
    """No --outputs given: the message names DLPROJ_OUTPUTS / outputs/, not an option the
    user did not type."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DLPROJ_OUTPUTS", str(tmp_path / folder))
    assert report_main(["--no-figures"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlproj.report: the outputs folder (DLPROJ_OUTPUTS, else outputs/): ")
    assert "--outputs" not in err and str(tmp_path / folder) in err


def _no_runs(tmp_path: Path, kind: str) -> list[Path]:
    """An --outputs folder (or two) with no run in it, of the kind named."""
    root = tmp_path / "outputs"
    root.mkdir()
    if kind == "only runs/ and multirun/, empty":
        (root / "runs").mkdir()
        (root / "multirun" / "stamp").mkdir(parents=True)
    elif kind == "only files that are not runs":
        (root / "notes.txt").write_text("to do\n")
        (root / "sweep" / "0").mkdir(parents=True)
        (root / "sweep" / "0" / "metrics.csv").write_text("epoch,train_loss\n1,0.5\n")
    elif kind == "only its report and reproduce's log":
        (root / "report").mkdir()
        (root / "report" / "results.json").write_text("{}")
        (root / "reproduce" / "x" / ".hydra").mkdir(parents=True)
        (root / "reproduce" / "x" / ".hydra" / "config.yaml").write_text("{}")
    elif kind == "a second --outputs, empty":
        make_run(tmp_path / "full", "s", *SIN, metrics={"test_mse": 0.01})
        return [tmp_path / "full", root]
    return [root]


@pytest.mark.parametrize("kind", ["empty", "only runs/ and multirun/, empty",
                                  "only files that are not runs",
                                  "only its report and reproduce's log",
                                  "a second --outputs, empty"])
def test_outputs_without_a_run_is_one_paragraph_exit_2_and_writes_nothing(tmp_path, capsys,
                                                                          kind):
    """A report of no runs is not written (no results.csv the reader cannot read): one
    paragraph naming --outputs and the folder, exit 2, the folders as they were."""
    roots = _no_runs(tmp_path, kind)
    before = sorted(tmp_path.rglob("*"))
    argv = [arg for root in roots for arg in ("--outputs", str(root))]
    assert report_main([*argv, "--no-figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"dlproj.report: --outputs: no runs under {roots[-1]}: nothing "
                             "written. Allowed: "), err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("runs", ["none", "every one skipped (results.json unreadable)",
                                  "one without metrics", "one with metrics"])
def test_results_csv_always_has_its_header_and_reads_back(tmp_path, runs):
    """results.csv is never a 0-byte file: with no row it is the header alone, the same header
    as with rows, and pandas reads it."""
    import pandas as pd

    from dlproj.report.tables import CSV_COLUMNS

    (tmp_path / "outputs").mkdir()
    if runs != "none":
        run = make_run(tmp_path / "outputs", "s", *SIN,
                       metrics={"test_mse": 0.01} if runs == "one with metrics" else {})
        if runs.startswith("every one skipped"):
            (run / "results.json").write_text("{")
    report = build_report(tmp_path / "outputs", tmp_path / "report", figures=False)
    frame = pd.read_csv(tmp_path / "report" / "results.csv")
    assert list(frame.columns) == CSV_COLUMNS
    assert len(frame) == len(report.rows) == (runs in ("one without metrics", "one with metrics"))


def test_the_course_numbers_come_from_the_study_file(tmp_path, capsys):
    make_run(tmp_path, "s", *SIN, metrics={"test_mse": 0.01})
    assert list(build_report(tmp_path, tmp_path / "r", study="quick").rows["course"]) == ["0.0101"]
    report = build_report(tmp_path, tmp_path / "r", study="absent")
    assert list(report.rows["course"]) == [""] and "Course report vs ours" not in report.markdown
    assert [p.reason for p in report.problems] == [
        "no such study file: no course-report numbers, no figures"]
    with pytest.raises(SystemExit) as stop:
        report_main(["--outputs", str(tmp_path), "--study", "nope"])
    assert stop.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_a_run_recorded_before_the_groups_had_schemas_of_their_own_is_the_same_setting(tmp_path):
    """A results.json written before 2026-12-05 has every key of the old single optimizer and
    schedule schemas, no `_target_`, and its own (old) setting id: the report identifies runs by
    the config as recorded, so the old run and a new run of the same command are one setting,
    the older one superseded."""
    new = make_run(tmp_path, "new", "section=2", "optimizer=sgd", "schedule=step",
                   metrics={"test_acc": 0.9}, record_setting=True, mtime=2_000_000_000)
    old = make_run(tmp_path, "old", "section=2", "optimizer=sgd", "schedule=step",
                   metrics={"test_acc": 0.8}, record_setting=True, mtime=1_000_000_000)
    record = json.loads((old / "results.json").read_text())
    config = record["config"]
    config["optimizer"] = {k: v for k, v in config["optimizer"].items() if not k.startswith("_")}
    config["optimizer"].update(alpha=0.99, beta1=0.9, beta2=0.999, eps=1e-08)
    config["schedule"] = {**{k: v for k, v in config["schedule"].items()
                             if not k.startswith("_")}, "min_lr": 0.0}
    record["setting"] = "0123456789"  # what the old code computed from those keys
    (old / "results.json").write_text(json.dumps(record))
    os.utime(old / "results.json", (1_000_000_000, 1_000_000_000))
    report = build_report(tmp_path, tmp_path / "r", figures=False)
    (row,) = report.rows.itertuples()
    assert row.n == 1 and list(report.superseded["path"]) == [old]
    assert list(report.runs["path"]) == [new]


@pytest.mark.parametrize("steps", [1, 3, 7])
def test_the_first_vs_last_layer_panel_counts_steps_as_grad_norms_csv(steps):
    """plain_vs_residual's per-step panel numbers training steps from 1, as grad_norms.csv's
    `step` column does."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from dlproj.plots.compare import plain_vs_residual

    curves = pd.DataFrame({"seed": 0, "epoch": [1, 2], "test_acc": [0.5, 0.6],
                           "train_loss": [1.0, 0.5], "model.name": "plain"})
    norms = pd.DataFrame([{"run": "r0", "seed": 0, "step": s, "layer": layer, "value": s + layer,
                           "model.name": "plain"} for s in range(1, steps + 1)
                          for layer in (1, 2)])
    fig = plain_vs_residual(curves, norms, ["model.name"], "test_acc", "t")
    lines = [line for line in fig.axes[3].get_lines() if len(line.get_xdata())]
    assert lines and all(list(line.get_xdata()) == list(range(1, steps + 1)) for line in lines)
    plt.close(fig)


@pytest.mark.parametrize("file,text,reason", [
    (".hydra/config.yaml", "not: [yaml\n", "unreadable (ParserError: while parsing a flow"),
    (".hydra/config.yaml", "a: b\n c: d\n", "unreadable (ScannerError: mapping values are"),
    ("results.json", '{"status": "compl\n', "not valid JSON (Invalid control character at line 1,"),
    ("results.json", '{"status": \n\n', "not valid JSON (Expecting value at line 3, column 1;"),
])
def test_a_skipped_file_is_one_line_in_the_listing_and_the_report(tmp_path, capsys, file, text,
                                                                   reason):
    """Why a file was skipped is one line: on stderr (`skipped PATH: why`) and as one item of
    results.md's "Skipped files", however many lines the parser's message ran over."""
    make_run(tmp_path / "runs", "good", *SIN, metrics={"test_mse": 0.01})
    # a run without its record yet (killed, or still going) is read from its .hydra/
    bad = make_run(tmp_path / "runs", "bad", *SIN, seed=1, metrics={"test_mse": 0.03},
                   results=file == "results.json")
    (bad / file).write_text(text)
    assert report_main(["--outputs", str(tmp_path), "--no-figures"]) == 0
    _, err = capsys.readouterr()
    line, summary = err.splitlines()  # the skipped file, then the report's one line
    assert summary.startswith("1 runs, 1 rows"), err
    assert line.startswith(f"dlproj.report: skipped {bad / file}: {reason}"), err
    md = (tmp_path / "report" / "results.md").read_text().split("## Skipped files\n")[1]
    assert [ln for ln in md.splitlines() if ln.strip()] == [
        f"- `{bad / file}`: {line.partition(f'{bad / file}: ')[2]}"], md


@pytest.mark.parametrize("cells", [["1.0000", "0.7600"], ["0.7900"], ["1.0000"],
                                   ["+0.0500", "-0.0012"], ["1.00e-04", "2.50e+05"],
                                   ["100.0", "3"]])
def test_a_markdown_cell_is_as_written(cells):
    """Every cell as fmt wrote it, as LaTeX shows it: tabulate printed a column of numbers its own
    way ("1" for 1.0000, "0.76" for 0.7600); numbers right-aligned, text left."""
    import pandas as pd

    from dlproj.tables import md_table

    text = md_table(pd.DataFrame({"Ours": cells, "Setting": ["a"] * len(cells)}))
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()[2:]]
    assert [r[0] for r in rows] == cells
    header, rule = text.splitlines()[:2]
    assert rule.split("|")[1].endswith(":") and not rule.split("|")[2].endswith(":")
