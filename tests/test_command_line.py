"""The command line as a new user meets it: every config error in one paragraph with exit 2 and
nothing written, `--help` from conf/ alone, figures only when wanted, and a Ctrl-C after
training that leaves the run resumable (issue 21)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_here

FAST = ["experiment=xor", "train.epochs=20"]


def _refused(run, words: str) -> None:
    err = run.proc.stderr
    said = [line for line in err.splitlines() if line.startswith("dlproj:")]
    assert run.proc.returncode == 2, run.output
    assert len(said) == 1 and words in said[0], err
    assert "Traceback" not in err and "search path" not in err and "HYDRA_FULL_ERROR" not in err
    assert not list(run.outputs.rglob("results.json")) and not list(run.outputs.rglob(".hydra"))


@pytest.mark.parametrize("args, words", [
    (["optimizer=adm"], "'optimizer': 'adm' (did you mean adam?). Allowed: one of adam, adamw"),
    (["section=3", "pooling=mx"], "'pooling': 'mx' (did you mean max?)"),
    (["logger=[csv,tensorbord]"], "'logger': 'tensorbord' (did you mean tensorboard?)"),
    (["-m", "optimizer=sgd,adma"], "'optimizer': 'adma' (did you mean adam?)"),
    (["experiment=xorr"], "'experiment': 'xorr' (did you mean xor?)"),
    (["optimizer.lr=???"], "Missing value for 'optimizer.lr'"),
    (["model.hidden=256"], "'model.hidden': 256. Allowed: a list in brackets, e.g. "
                           "`model.hidden=[256]`"),
    (["train.epochs=abc"], "'train.epochs': abc. Allowed: an integer"),
    (["optimizer.lr=fast"], "'optimizer.lr': fast. Allowed: a number"),
    (["data.download=maybe"], "'data.download': maybe. Allowed: true or false"),
    (["trian.epochs=3"], "Unknown key 'trian.epochs' (did you mean train.epochs?)"),
    # Hydra's settings the run directory's owner rests on: nothing written before its lock.
    (["hydra.output_subdir=.hydra"], "'hydra.output_subdir': '.hydra'. Allowed: null"),
    (["~hydra.output_subdir"], "'hydra.output_subdir': '~'. Allowed: null"),
    (["-m", "seed=1,2", "hydra/job_logging=default"], "'hydra/job_logging': 'default'. "
                                                     "Allowed: console"),
    (["hydra.job.chdir=true"], "'hydra.job.chdir': 'true'. Allowed: false"),
    (["train.epoch=3"], "Unknown key 'train.epoch' (did you mean train.epochs?)"),
    (["train.precison=32"], "Unknown key 'train.precison' (did you mean train.precision?)"),
    (["data.train_limt=10"], "Unknown key 'data.train_limt' (did you mean data.train_limit?)"),
    (["optimizer.betta1=0.8"], "Unknown key 'optimizer.betta1' (did you mean optimizer.beta1?)"),
    (["train.early_stopping.patiense=2"],
     "Unknown key 'train.early_stopping.patiense' (did you mean "
     "train.early_stopping.patience?)"),
    (["seed=[1"], "Cannot read the command line"),
], ids=lambda v: v if isinstance(v, str) and "=" in v and len(v) < 30 else None)
def test_a_config_error_is_one_paragraph_and_exit_2(tmp_path, args, words):
    _refused(run_here([*args, *FAST] if "-m" not in args else args, tmp_path), words)


S4 = ["section=4", "experiment=compare"]
MLFLOW = [*FAST, "logger=mlflow"]
# Every string key whose '' (or blanks) names nothing, with a run that reads it. Each is refused
# where its rules live, never read as "not given": logger.mlflow.tracking_uri='' ran, writing
# MLflow's default store (./mlflow.db) into the current directory.
EMPTY = [
    ("experiment", []), ("device", FAST), ("resume", []),
    ("checkpoint", ["section=4", "experiment=transfer"]),
    ("data.root", FAST), ("train.precision", FAST), ("train.early_stopping.monitor", FAST),
    ("train.early_stopping.mode", FAST), ("threads.workers", FAST), ("threads.blas", FAST),
    ("model.name", ["experiment=mlp"]), ("model.activation", ["experiment=mlp"]),
    ("model.init", ["experiment=mlp"]), ("model.weights", S4), ("model.finetune", S4),
    ("optimizer.name", FAST), ("schedule.name", FAST), ("pooling.name", FAST),
    ("augmentation.name", FAST), ("dataset.name", S4), ("+params.objective", FAST),
    ("logger.mlflow.tracking_uri", MLFLOW), ("logger.mlflow.experiment_name", MLFLOW),
    ("logger.mlflow.artifact_location", MLFLOW),
]


@pytest.mark.parametrize("value", ["''", "' '"], ids=["empty", "blank"])
@pytest.mark.parametrize("key, args", EMPTY, ids=[key for key, _ in EMPTY])
def test_an_empty_value_is_a_config_error(dlproj_run, tmp_path, monkeypatch, key, args, value):
    monkeypatch.chdir(tmp_path)  # where MLflow's default store would be written
    _refused(dlproj_run([*args, f"{key}={value}"]), f"Invalid value for '{key.lstrip('+')}'")
    assert not list(tmp_path.rglob("mlflow.db")) and not list(tmp_path.rglob("mlruns"))


def test_an_empty_tracking_uri_in_a_sweep_makes_no_store(dlproj_run, tmp_path, monkeypatch):
    """The sweep's parent run (a callback, before any job checks its config) makes no store
    either: each job refuses the key."""
    monkeypatch.chdir(tmp_path)
    run = dlproj_run(["-m", "seed=0,1", *MLFLOW, "logger.mlflow.tracking_uri=''"])
    assert run.proc.returncode != 0, run.output
    assert run.proc.stderr.count("Invalid value for 'logger.mlflow.tracking_uri'") == 2, run.output
    assert not list(tmp_path.rglob("results.json")) and not list(tmp_path.rglob("mlflow.db"))


@pytest.mark.parametrize("args", [["--cfg", "job"], ["seed=2", "--cfg", "hydra"],
                                  ["--cfg", "job", "--package", "train"], ["-c", "job"]])
def test_hydras_own_flags_and_their_values_are_not_overrides(tmp_path, args):
    run = run_here(args, tmp_path)
    assert run.proc.returncode == 0 and "dlproj:" not in run.proc.stderr, run.output
    assert ("hydra:" if "hydra" in args else "epochs") in run.proc.stdout


def test_hydras_own_usage_errors_are_one_paragraph(tmp_path):
    _refused(run_here(["-m", "seed=1,2", "--cfg", "hydra"], tmp_path),
             "Only one of --run, --multirun, --cfg")


def test_help_is_read_from_conf_without_hydra(tmp_path):
    from dlproj.list import help_text

    text = help_text()
    assert "schema/" not in text and "study" not in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert lines["optimizer"].split()[1:] == ["adam,", "adamw,", "momentum,", "rmsprop,", "sgd"]
    assert "overfit" in lines and "quick" in lines  # each preset with what it does
    assert "python -m dlproj.list" in text and "--cfg job" in text
    run = run_here(["--help"], tmp_path)
    assert run.proc.returncode == 0 and run.proc.stdout.strip() == text
    # The process answers before Hydra (or anything heavy) is imported.
    probe = ("import runpy, sys; sys.argv = ['dlproj', '--help']; "
             "runpy.run_module('dlproj', run_name='__main__'); "
             "print(sorted(m for m in ('hydra', 'numpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


@pytest.mark.parametrize("args, drawn", [
    ([], True), (["debug=quick"], False), (["debug=overfit"], False),
    (["debug=quick", "figures=true"], True), (["figures=false"], False)])
def test_figures_only_when_wanted(tmp_path, args, drawn):
    run = run_here([*FAST, *args], tmp_path)
    assert run.proc.returncode == 0, run.output
    assert bool(list(run.run_dir.glob("*.png"))) is drawn
    assert (run.run_dir / "model.npz").is_file()  # the rest of the run is written either way


def test_figures_are_not_a_setting(tmp_path):
    a = run_here(FAST, tmp_path / "a").results()
    b = run_here([*FAST, "figures=false"], tmp_path / "b").results()
    assert a["setting"] == b["setting"] and a["metrics"] == b["metrics"]


# Where the signal comes once training has ended: after the checkpoint (before any figure), or
# while the last figure is drawn (no stop check follows it inside the experiment).
AFTER_TRAINING = {
    "before its figures": ("s.save_checkpoint", "before its figures and files", False),
    "during its last figure": ("dlproj.plots.save.save_figure",
                               "with its figures and files written", True),
}


@pytest.mark.parametrize("when", list(AFTER_TRAINING))
def test_ctrl_c_after_training_leaves_the_run_resumable(tmp_path, when):
    """A signal once training has ended stops the run, whatever it was writing; it is recorded
    interrupted at its last epoch, and the printed resume finishes it."""
    target, said, drawn = AFTER_TRAINING[when]
    owner, name = target.rsplit(".", 1)
    code = ("import os, signal, sys; import dlproj.experiments.section1 as s; "
            f"import dlproj.plots.save; real = {target}; "
            f"{owner}.{name} = lambda *a: (real(*a), os.kill(os.getpid(), signal.SIGINT)); "
            "from dlproj.runtime.app import main; sys.argv = ['dlproj', *sys.argv[1:]]; main()")
    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    env.pop("HYDRA_FULL_ERROR", None)
    started = time.time()
    proc = subprocess.run([sys.executable, "-c", code, *FAST], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    (results,) = tmp_path.rglob("results.json")
    run_dir, record = results.parent, json.loads(results.read_text())
    assert record["status"] == "interrupted" and record["last_epoch"] == 20
    assert f"stopped after training (epoch 20 of 20), {said}" in proc.stderr
    assert (run_dir / "decision_boundary.png").is_file() == drawn
    assert time.time() - started < 120
    resumed = run_here([f"resume={run_dir}"], tmp_path)
    assert resumed.proc.returncode == 0, resumed.output
    done = json.loads(results.read_text())
    assert done["status"] == "completed" and done["resumed_from_epoch"] == 20
    assert (run_dir / "decision_boundary.png").is_file()
    # Nothing was trained again: the resumed run ends with the interrupted run's last epoch.
    assert done["metrics"]["train_loss"] == record["metrics"]["train_loss"]
