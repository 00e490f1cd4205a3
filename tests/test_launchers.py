"""Sweeps through the joblib and submitit_local launchers and Optuna, read by the report.

These need the `launchers` and `search` extras, which `make install` (and so `make test`) installs.
"""

from __future__ import annotations

import json
import re

import pytest

from dlproj.report.build import build_report

pytestmark = pytest.mark.slow

XOR = ["experiment=xor", "train.epochs=5"]


def _sweep_dir(run) -> object:
    (sweep,) = list((run.outputs / "multirun").iterdir())
    return sweep


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_two_job_sweep_through_launcher_is_reported(dlproj_run, launcher):
    run = dlproj_run(["-m", f"hydra/launcher={launcher}", *XOR, "seed=0,1"], timeout=240)
    assert run.proc.returncode == 0, run.output
    sweep = _sweep_dir(run)
    jobs = sorted(p.name for p in sweep.iterdir() if (p / "results.json").exists())
    assert jobs == ["0", "1"]
    assert [json.loads((sweep / j / "results.json").read_text())["status"] for j in jobs] == [
        "completed", "completed"]
    # The multirun-end callback built the sweep's own report ...
    assert (sweep / "report" / "results.md").is_file()
    assert "sweep report: 2 runs in 1 rows" in run.output
    # ... and the report reads the launcher's jobs like any others: one row, two seeds.
    report = build_report(run.outputs, run.outputs / "report", figures=False)
    (row,) = report.rows.itertuples()
    assert (row.experiment, row.status, row.n, row.seeds) == ("xor", "completed", 2, "0 1")
    assert not report.problems
    if launcher == "submitit_local":
        assert (sweep / ".submitit").is_dir()  # went through submitit, not the basic launcher


def test_optuna_search_returns_the_objective(dlproj_run):
    run = dlproj_run(["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
                      "hydra.sweeper.direction=maximize", "optimizer.lr=interval(0.01,0.1)",
                      "+params.objective=train_acc", *XOR])
    assert run.proc.returncode == 0, run.output
    assert "Best value:" in run.output
    sweep = _sweep_dir(run)
    lrs = [json.loads((sweep / j / "results.json").read_text())["config"]["optimizer"]["lr"]
           for j in ("0", "1")]
    assert all(0.01 <= lr <= 0.1 for lr in lrs) and lrs[0] != lrs[1]
    report = build_report(run.outputs, run.outputs / "report", figures=False)
    assert report.rows["n"].sum() == 2


@pytest.mark.parametrize("objective, best", [("train_acc", max), ("train_loss", min)])
def test_an_optuna_study_goes_the_way_of_its_objective(dlproj_run, objective, best):
    """With no direction given, an accuracy is maximized and a loss minimized: the plugin's
    default, minimize, named the worst trial of val_acc the "Best value", in silence."""
    run = dlproj_run(["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3",
                      "hydra.sweeper.sampler.seed=0", "optimizer.lr=interval(0.01,0.5)",
                      f"+params.objective={objective}", "~hydra.callbacks.aggregate", *XOR])
    assert run.proc.returncode == 0, run.output
    wanted = "maximize" if best is max else "minimize"
    assert f"Directions: ['{wanted}']" in run.output, run.output
    values = [json.loads(p.read_text())["metrics"][objective]
              for p in _sweep_dir(run).glob("*/results.json")]
    said = float(re.search(r"Best value: (\S+)", run.output)[1])
    assert said == pytest.approx(best(values)), (values, run.output)


@pytest.mark.parametrize("direction, objective", [("minimize", "train_acc"),
                                                  ("maximize", "train_loss")])
def test_a_direction_against_the_objective_is_refused(dlproj_run, direction, objective):
    run = dlproj_run(["-m", "hydra/sweeper=optuna", f"hydra.sweeper.direction={direction}",
                      "hydra.sweeper.n_trials=2", "optimizer.lr=interval(0.01,0.5)",
                      f"+params.objective={objective}", *XOR])
    assert run.proc.returncode == 2, run.output
    said = [ln for ln in run.proc.stderr.splitlines() if ln.startswith("dlproj:")]
    assert len(said) == 1 and f"'hydra.sweeper.direction': '{direction}'. Allowed: " in said[0]
    assert not list(run.outputs.rglob("results.json")) and "Traceback" not in run.output


def test_a_grid_whose_last_trial_has_no_value_ends_with_its_closing_line(dlproj_run):
    """Optuna's grid sampler stops the study as it is told its last trial failed (no value):
    a RuntimeError traceback, exit 1, no report. Now a warning, the report and the closing
    line."""
    run = dlproj_run(["-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=grid",
                      "hydra.sweeper.n_trials=2", "optimizer.lr=choice(0.01,0.1)",
                      "+params.objective=val_acc", *XOR])
    assert "Traceback" not in run.output, run.output
    assert "the grid's last trial returned no value" in run.output
    assert run.output.splitlines()[-1].startswith("sweep: 2 completed -> "), run.output
    assert (_sweep_dir(run) / "report" / "results.md").is_file()


@pytest.mark.parametrize("objective, warned", [("train_acc", False), ("train_loss", False),
                                               ("train_accc", True), ("val_acc", True)])
def test_an_objective_the_run_does_not_report_is_said(dlproj_run, objective, warned):
    """A misspelled `params.objective` would give a sweeper NaN for every trial in silence: a
    completed run that lacks it says so, with the final metrics it has (xor: train_acc,
    train_loss); one that has it says nothing."""
    run = dlproj_run([f"+params.objective={objective}", *XOR])
    assert run.proc.returncode == 0, run.output
    line = (f"dlproj: params.objective='{objective}' is none of this run's final metrics, so "
            f"what it returns to the sweeper is NaN. Allowed: train_acc, train_loss.")
    assert (line in run.proc.stderr) == warned, run.output


def test_objective_value_is_nan_for_runs_that_did_not_complete():
    import math

    from dlproj.runtime.app import objective_value

    assert objective_value({"status": "completed", "metrics": {"val_acc": 0.9}}, "val_acc") == 0.9
    assert math.isnan(objective_value({"status": "diverged", "metrics": {"val_acc": 0.1}},
                                      "val_acc"))
    assert math.isnan(objective_value({"status": "completed", "metrics": {}}, "val_acc"))


def test_jobs_that_returned_before_a_worker_died_keep_their_returns(tmp_path):
    """After joblib gave up on a batch (a worker killed), the jobs that had returned keep what
    they returned (an optimising sweeper reads it), and one that left its record but no return
    gives NaN: neither runs again. The notes are what each job writes as it starts and returns."""
    import math
    from concurrent.futures.process import BrokenProcessPool

    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from dlproj.runtime.joblib_launcher import WORKERS, RelaunchingJoblibLauncher

    marks = tmp_path / WORKERS
    marks.mkdir()
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "results.json").write_text(json.dumps({"status": "completed"}))
    notes = [{"returned": 0.25}, {}, {"returned": float("nan")}]
    for idx, note in enumerate(notes):
        note.update(run_dir=str(tmp_path / str(idx)), held=False)
        (marks / f"{idx}.json").write_text(json.dumps(note))
    launcher = RelaunchingJoblibLauncher(n_jobs=2)
    returns = launcher._after_death(BrokenProcessPool("killed"), marks,
                                    [["seed=0"], ["seed=1"], ["seed=2"]], 0)
    assert [r.overrides for r in returns] == [["seed=0"], ["seed=1"], ["seed=2"]]
    assert returns[0].return_value == 0.25
    assert math.isnan(returns[1].return_value) and math.isnan(returns[2].return_value)


def test_section2_search_space_composes():
    from conftest import ROOT
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from dlproj.config.compose import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
            cfg = compose("config", overrides=["hydra/sweeper=section2", "hydra/launcher=slurm",
                                               "section='2'"], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction == "maximize" and "optimizer.lr" in sweeper.params
    # Section 2's needs (dlproj/config/slurm_needs.py), and the threads follow the CPUs.
    assert (cfg.hydra.launcher.cpus_per_task, cfg.hydra.launcher.mem_gb) == (1, 2)
    assert cfg.hydra.launcher.setup[0] == "export OMP_NUM_THREADS=1"


OPTUNA_FAILS = {  # the trials' runs -> the trials Optuna is told failed, the closing line, exit
    "one diverges": (["optimizer.lr=choice(0.5,1e9)", "hydra.sweeper.n_trials=4",
                      "+params.objective=train_acc"], "diverged", True),
    "every one diverges": (["optimizer.lr=interval(1e8,1e9)", "hydra.sweeper.n_trials=2",
                            "+params.objective=train_acc"], "diverged", False),
    "no objective value": (["optimizer.lr=interval(0.1,0.5)", "hydra.sweeper.n_trials=2",
                            "+params.objective=val_acc"],
                           "completed without a value of params.objective", False),
}


@pytest.mark.parametrize("case", list(OPTUNA_FAILS))
def test_an_optuna_trial_that_returns_no_value_does_not_take_its_study_down(dlproj_run, case):
    """A trial whose run did not complete returns NaN, which the plugin used to tell Optuna as a
    value (refused: a traceback, the later trials never run, no closing line). Now Optuna is told
    the trial failed, one warning says how its run ended, every trial runs, the best value is of
    those that returned one (or a warning says there is none), and the closing line counts them."""
    args, ended, some_value = OPTUNA_FAILS[case]
    run = dlproj_run(["-m", "hydra/sweeper=optuna", "hydra.sweeper.direction=maximize",
                      "hydra.sweeper.sampler.seed=0", "~hydra.callbacks.aggregate", *XOR,
                      *args], timeout=240)
    output = run.output
    assert "Traceback" not in output, output
    sweep = _sweep_dir(run)
    records = {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/results.json")}
    trials = int(next(a for a in args if "n_trials" in a).rpartition("=")[2])
    assert len(records) == trials, output  # every trial ran
    failed = [n for n, r in sorted(records.items())
              if ended.startswith(r["status"]) and (r["status"] != "completed"
                                                    or "val_acc" not in r["metrics"])]
    assert failed, output
    for n in failed:
        assert f"Failed experiment: trial {n} {ended} ({sweep / n})" in output, output
    assert ("Best value:" in output) == some_value, output
    assert ("no trial returned a value, so the study has no best value" in output) != some_value
    statuses = sorted(r["status"] for r in records.values())
    assert run.proc.returncode == (0 if set(statuses) == {"completed"} else 1), output
    assert f"{statuses.count(ended.split()[0])} {ended.split()[0]}" in output.splitlines()[-1]
