"""The run directory's one owner (dlproj/runtime/owner.py): its lock is taken before anything is
written there, and a run writes nothing until it starts: a refused or failed resume leaves the run
byte for byte as it was, and a config error leaves no directory at all. In process: the runner's
own code path (compose + execute, what `python -m dlproj` calls)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from dlproj.config.compose import compose_config, normalize_overrides
from dlproj.runtime.owner import lock as hold
from dlproj.runtime.runner import execute
from tests.conftest import run_here

# schedule=constant: a resume may train further (cosine's rates depend on train.epochs)
TINY = ["experiment=mlp", "schedule=constant", "model.hidden=[16]", "data.train_limit=256",
        "data.test_limit=64", "data.val_size=64", "train.epochs=2",
        "train.checkpoint_min_seconds=0"]


def _execute(run_dir: Path, overrides: list[str]) -> int | None:
    """`python -m dlproj OVERRIDES` into `run_dir`; the exit code (None: it returned)."""
    overrides = normalize_overrides(overrides)
    try:
        execute(compose_config(overrides), run_dir=run_dir, is_multirun=False,
                overrides=overrides)
    except SystemExit as exc:
        return exc.code
    return None


def _files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A completed run with its checkpoint, .hydra/, log and record."""
    run_dir = tmp_path_factory.mktemp("owner") / "run"
    assert _execute(run_dir, TINY) is None
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    assert {".hydra/config.yaml", ".hydra/overrides.yaml", "dlproj.log",
            "last.npz"} <= set(_files(run_dir))
    return run_dir


def _resume(run_dir: Path, *extra: str) -> list[str]:
    return [*TINY, *extra, f"resume={run_dir}"]


@pytest.mark.parametrize("case", ["in use", "cut checkpoint", "no data", "another config",
                                  "bad value", "resume elsewhere", "shorter", "completed again",
                                  "plus key"])
def test_a_refused_or_failed_resume_leaves_the_run_as_it_was(finished, tmp_path, case, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    overrides = _resume(run_dir, "train.epochs=4")
    if case == "cut checkpoint":
        data = (run_dir / "last.npz").read_bytes()
        (run_dir / "last.npz").write_bytes(data[: len(data) // 2])
    elif case == "no data":
        overrides = _resume(run_dir, f"data.root={tmp_path / 'nowhere'}", "data.download=false")
    elif case == "another config":  # the checkpoint was written with model.hidden=[16]
        overrides = [*_resume(run_dir), "model.hidden=[8]"]
    elif case == "bad value":
        overrides = _resume(run_dir, "train.epochs=0")
    elif case == "resume elsewhere":  # resume= names another run than the directory written
        overrides = [*TINY, f"resume={finished}"]
    elif case == "shorter":  # its checkpoint is at epoch 2: a 1-epoch label would be a lie
        overrides = _resume(run_dir, "train.epochs=1")
    elif case == "completed again":  # completed its 2 epochs: nothing to resume
        overrides = _resume(run_dir, "train.epochs=2")
    elif case == "plus key":  # `+` adds a key no schema declares
        overrides = _resume(run_dir, "train.epochs=4", "+train.warmup=3")
    before = _files(run_dir)
    lock = hold(run_dir) if case == "in use" else None
    try:
        code = _execute(run_dir, overrides)
    finally:
        if lock is not None:
            os.close(lock)
    assert code not in (None, 0), case
    assert _files(run_dir) == before, case
    err = capsys.readouterr().err
    assert err.count("dlproj: ") >= 1 and "Traceback" not in err


def test_a_resume_that_starts_writes_its_record(finished, tmp_path, caplog):
    """Once the checkpoint is read and fits, the run is the owner's again: it trains further and
    rewrites .hydra/ and results.json."""
    import shutil

    caplog.set_level(logging.INFO)  # as Hydra's job logging (conf/hydra/job_logging/) sets it
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    assert _execute(run_dir, _resume(run_dir, "train.epochs=3")) is None
    record = json.loads((run_dir / "results.json").read_text())
    assert (record["status"], record["last_epoch"], record["resumed_from_epoch"]) == (
        "completed", 3, 2)
    assert "train.epochs=3" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    log = (run_dir / "dlproj.log").read_text()
    assert "resumed" in log and "status completed" in log.splitlines()[-1]


@pytest.mark.parametrize("override", ["optimizer.lr=0", "+params.nope=1", "train.epochs=0"])
def test_a_config_error_leaves_no_run_directory(tmp_path, override, capsys):
    run_dir = tmp_path / "run"
    assert _execute(run_dir, [*TINY, override]) == 2
    assert not run_dir.exists()
    assert capsys.readouterr().err.count("dlproj: ") == 1


def test_a_run_that_fails_before_it_writes_is_still_recorded(tmp_path, caplog):
    """A fresh run whose data is missing: a failed run, with its record and .hydra/ (a sweep
    counts it), and nothing of a run's own files."""
    caplog.set_level(logging.INFO)  # as Hydra's job logging (conf/hydra/job_logging/) sets it
    run_dir = tmp_path / "run"
    code = _execute(run_dir, [*TINY, f"data.root={tmp_path / 'nowhere'}", "data.download=false"])
    assert code == 1
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "failed" and "data.download is false" in record["error"]
    assert set(_files(run_dir)) == {".hydra/config.yaml", ".hydra/overrides.yaml",
                                    "dlproj.log", "results.json"}
    # its log says why, as stderr did (the console has it there once, not twice)
    assert f"error: {record['error']}" in (run_dir / "dlproj.log").read_text()


@pytest.mark.parametrize("args, why", [
    ([*TINY, "data.root={tmp}", "data.download=false"], "data.download is false"),  # its data
    ([*TINY, "train.divergence_factor=1.0001", "optimizer.lr=50"], "loss became"),  # diverged
    (["experiment=mlp", "data.test_limit=64", "checkpoint={tmp}/model.npz"], "is not a readable"),
])
def test_the_log_file_says_why_a_run_did_not_complete_and_the_console_once(tmp_path, args, why):
    """dlproj.log held `status failed` alone for an error dlproj caught (its paragraph went to
    stderr only): now the error too, and the console has it once."""
    (tmp_path / "model.npz").write_text("not a checkpoint")
    run = run_here([a.format(tmp=tmp_path) for a in args], tmp_path / "out")
    assert run.proc.returncode == 1, run.output
    record = json.loads((run.run_dir / "results.json").read_text())
    assert why in record["error"], record
    log = (run.run_dir / "dlproj.log").read_text()
    assert why in log, log
    assert (run.proc.stdout + run.proc.stderr).count(record["error"].splitlines()[0]) == 1, \
        run.output


def test_the_log_file_holds_the_lines_logged_before_the_run_started(tmp_path, caplog):
    caplog.set_level(logging.INFO)  # as Hydra's job logging (conf/hydra/job_logging/) sets it
    run_dir = tmp_path / "run"
    assert _execute(run_dir, TINY) is None
    log = (run_dir / "dlproj.log").read_text()
    first = log.splitlines()[0]
    assert "MNIST: 256 train" in first  # logged before the directory was opened
    assert f"section 1 experiment mlp -> {run_dir}" in log  # logged as it was opened
    assert "status completed" in log.splitlines()[-1]


@pytest.mark.parametrize("holds", ["a completed run", "a killed run", "a failed run"])
@pytest.mark.parametrize("multirun", [False, True])
def test_a_new_run_never_writes_over_another(finished, tmp_path, holds, multirun, capsys):
    """A new run (not resume=) into a folder that holds a run (hydra.run.dir or a sweep folder
    given again) is refused before it writes: the old run stays byte for byte; alone it exits 2,
    in a sweep it is noted invalid and the sweep goes on."""
    import shutil

    from dlproj.runtime import sweep

    run_dir = tmp_path / "0"
    shutil.copytree(finished, run_dir)
    if holds == "a killed run":  # no record, its .hydra/ and checkpoint are there
        (run_dir / "results.json").unlink()
    elif holds == "a failed run":
        record = json.loads((run_dir / "results.json").read_text())
        (run_dir / "results.json").write_text(json.dumps({**record, "status": "failed"}))
    before = _files(run_dir)
    overrides = normalize_overrides([*TINY, "seed=3"])
    try:
        record = execute(compose_config(overrides), run_dir=run_dir, is_multirun=multirun,
                         overrides=overrides)
    except SystemExit as exc:
        assert not multirun and exc.code == 2
    else:
        assert multirun and record["status"] == "invalid"
        assert sweep.job_status(run_dir) == "invalid"
    assert _files(run_dir) == before
    err = capsys.readouterr().err
    assert f"{run_dir} already holds a run" in err
    # what it advises is taken: a completed run is trained further, never merely resumed
    assert (f"resume={run_dir} train.epochs=N (more than it ran)" if holds == "a completed run"
            else f"resume={run_dir} to continue it") in err, err


@pytest.mark.parametrize("args,status", [
    (["experiment=xor", "train.epochs=2"], "completed"),
    (["experiment=xor", "train.epochs=2", "train.precision=bf16-mixed"], "invalid"),
    (["section=3", "checkpoint=/nonexistent/model.npz"], "invalid"),
])
def test_the_closing_log_line_names_the_status_with_no_trailing_space(tmp_path, args, status):
    """A run's last line says how it ended; a refused one (invalid) says so in its paragraph
    alone, as README's examples show (a `status invalid in 0.0s` line followed it)."""
    from tests.conftest import run_here

    run = run_here(args, tmp_path / "out")
    if status == "invalid":
        assert "status invalid" not in run.output and run.proc.returncode == 2, run.output
        assert len([x for x in run.proc.stderr.splitlines() if x.startswith("dlproj:")]) == 1
        return
    (line,) = [x for x in run.output.splitlines() if f"status {status} in " in x]
    assert line == line.rstrip()
    for log in (tmp_path / "out").rglob("dlproj.log"):  # the run's own log, where it keeps one
        last = log.read_text().splitlines()[-1]
        assert f"status {status} in " in last and last == last.rstrip()


@pytest.mark.parametrize("when,figures,error,says", [
    ("from the start", "false", "SIGINT at epoch 1 step 1",
     "in its first epoch (of 2), before any was finished"),  # it said "after epoch 0 of 2"
    ("model.npz written", "false", "SIGINT before drawing curves.png",
     "after training (epoch 2 of 2), before all its figures and files were written"),
    ("curves.png drawn", "true", "SIGINT at the end of the run",
     "after training (epoch 2 of 2), with its figures and files written"),
], ids=["in the first step", "before the figures", "after the figures"])
def test_a_stop_is_recorded_with_when_it_came(tmp_path, monkeypatch, capsys, when, figures,
                                               error, says):
    """A stop (Ctrl-C, SIGTERM) at each moment a run looks for one: its record's error and the
    printed line say when, in words ("SIGINT before drawing curves.png", not "SIGINT at before
    drawing ..."), and the resume command is printed."""
    import signal

    from dlproj.runtime import interrupt

    run_dir = tmp_path / "run"
    files = {"from the start": None, "model.npz written": "model.npz",
             "curves.png drawn": "curves.png"}
    asked = files[when]
    monkeypatch.setattr(interrupt, "requested", lambda: signal.SIGINT
                        if asked is None or (run_dir / asked).exists() else None)
    assert _execute(run_dir, [*TINY, f"figures={figures}"]) == 130
    record = json.loads((run_dir / "results.json").read_text())
    assert (record["status"], record["error"], record["signal"]) == (
        "interrupted", error, "SIGINT")
    err = capsys.readouterr().err
    assert f"dlproj: SIGINT: stopped {says}; resume with `" in err, err
