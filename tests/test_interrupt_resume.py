"""Runs that survive real use: SIGINT/SIGTERM on real subprocesses, resume to the same metrics,
Ctrl-C in a multirun, early stopping. (A sweep's exit code and closing lines: test_section1's
sweep and test_activation_study's.)

Only the run that receives the signal needs a process of its own; the uninterrupted reference
and the resume run in this process (conftest.run_here, the same entry point)."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_here

TIMING = {"epoch_seconds"}
MLP_TINY = ["data.train_limit=1200", "data.test_limit=300", "data.val_size=300",
            "model.hidden=[32]", "train.batch_size=64"]
S2_TINY = ["section=2", "optimizer=momentum", "schedule=step", "schedule.step_size=2",
           *MLP_TINY]
# One torch thread: on a busy 2-core machine two threads per run are several times slower.
S4_TINY = ["section=4", "model=resnet", "model.depth=2", "model.width=4", "train.batch_size=32",
           "data.train_limit=320", "data.test_limit=64", "data.val_size=64", "threads.blas=1"]
QUIET_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _env(outputs: Path) -> dict[str, str]:
    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0", **QUIET_ENV}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def interrupt_after(args: list[str], outputs: Path, sig: int, *, epochs_done: int,
                    timeout: float = 240) -> tuple[subprocess.CompletedProcess, Path]:
    """Start `python -m dlproj ARGS`, send `sig` the moment it logs the end of epoch
    `epochs_done` or a later one (its `epoch N/TOTAL` line, written after that epoch's metrics
    row; SIGKILL one epoch later), i.e. while the next epoch is under way, and wait for it to end.

    The signal goes out from the thread that reads the run's stdout, as soon as the line
    arrives: no polling interval in which a fast run could finish before it is interrupted."""
    # SIGKILL leaves no record: wait for the next epoch's line, so that epoch N's checkpoint
    # (written after its log line) is surely on disk.
    due = epochs_done + (1 if sig == signal.SIGKILL else 0)
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", *args], cwd=ROOT,
                            env=_env(outputs), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out: list[str] = []
    err: list[str] = []
    sent = threading.Event()

    def read_stdout() -> None:
        for line in proc.stdout:
            logged = re.search(r" - epoch (\d+)/", line)
            if not sent.is_set() and logged and int(logged[1]) >= due:
                proc.send_signal(sig)
                sent.set()
            out.append(line)

    def read_stderr() -> None:
        err.extend(proc.stderr)

    readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for t in readers:
        t.start()
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for t in readers:
            t.join(timeout=10)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(out), "".join(err))
    assert sent.is_set(), f"the run ended before epoch {epochs_done} was logged\n{done.stderr}"
    metrics = sorted(outputs.rglob("metrics.csv"))
    assert metrics, done.stdout + done.stderr
    return done, metrics[0].parent


def _resume_and_compare(tmp_path: Path, args: list[str], sig: int, *, exact: bool,
                        step_log: str | None = None) -> dict:
    # The reference without figures (never read; figures are drawn after training and are not
    # a setting): the resumed run draws them.
    reference = run_here([*args, "figures=false"], tmp_path / "reference")
    assert reference.proc.returncode == 0, reference.output

    proc, run_dir = interrupt_after(args, tmp_path / "interrupted", sig, epochs_done=1)
    assert proc.returncode == 128 + sig, proc.stderr
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "interrupted"
    assert record["signal"] == signal.Signals(sig).name
    assert record["last_epoch"] >= 1 and record["checkpoint_epoch"] == record["last_epoch"]
    # The interpreter that ran it, not a bare `python` (which may not be the virtualenv's).
    assert record["resume_command"] == f"{shlex.quote(sys.executable)} -m dlproj resume={run_dir}"
    assert "Traceback" not in proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if ln.startswith("dlproj:")]
    assert len(said) == 1 and record["resume_command"] in said[0], proc.stderr
    suffix = ".pt" if "section=4" in args else ".npz"
    assert (run_dir / f"last{suffix}").is_file()
    assert not list(run_dir.glob(".*.tmp-*")), "a temporary file was left behind"

    resumed = run_here([f"resume={run_dir}"], tmp_path / "unused")
    assert resumed.proc.returncode == 0, resumed.output
    after = json.loads((run_dir / "results.json").read_text())
    assert after["status"] == "completed"
    assert after["resumed_from_epoch"] == record["last_epoch"]
    # Its wall time is the run's: the first session's up to the checkpoint it continues (no
    # more than that session's whole time, no less than its epochs'), then this session's.
    earlier = after["wall_seconds"] - after["session_seconds"]
    with open(run_dir / "metrics.csv", newline="") as fh:
        first_epochs = sum(float(row["epoch_seconds"])
                           for row in list(csv.DictReader(fh))[:record["last_epoch"]])
    assert first_epochs <= earlier + 1e-3 and earlier <= record["wall_seconds"], (earlier, record)
    assert after["session_seconds"] > 0

    files = ["metrics.csv"] + ([step_log] if step_log else [])
    for name in files:
        want, got = _rows(reference.run_dir / name), _rows(run_dir / name)
        assert len(got) == len(want), name
        if exact:
            assert got == want, f"{name} differs after resume"
        else:
            for a, b in zip(want, got, strict=True):
                assert a.keys() == b.keys()
                np.testing.assert_allclose([float(a[k]) for k in a], [float(b[k]) for k in b],
                                           rtol=1e-6, atol=1e-6, err_msg=name)
    assert not (tmp_path / "unused").exists(), "resume must write into the run's own directory"
    return after


def test_numpy_resume_after_sigint_is_bit_for_bit(tmp_path):
    """Section 2 (optimizer state, step schedule, per-step gradient-norm log) through a SIGINT."""
    args = [*S2_TINY, "train.epochs=8", "train.checkpoint_min_seconds=0"]
    _resume_and_compare(tmp_path, args, signal.SIGINT, exact=True, step_log="grad_norms.csv")


def test_numpy_resume_after_sigterm_is_bit_for_bit(tmp_path):
    """Section 3's CNN with Adam and a cosine schedule, stopped by SIGTERM (what SLURM sends)."""
    args = ["section=3", "data.train_limit=300", "data.test_limit=100", "data.val_size=100",
            "train.epochs=5", "train.checkpoint_min_seconds=0"]
    _resume_and_compare(tmp_path, args, signal.SIGTERM, exact=True)


def test_torch_resume_after_sigint_matches_to_1e6(tmp_path):
    pytest.importorskip("torch")
    args = [*S4_TINY, "augmentation=standard", "train.epochs=5",
            "train.checkpoint_min_seconds=0"]
    _resume_and_compare(tmp_path, args, signal.SIGINT, exact=False, step_log="grad_norms.csv")


# What a run killed before its record (results.json) was written leaves of it.
RECORDS = {"gone": lambda p: p.unlink(), "cut short": lambda p: _cut(p, lambda n: n // 2),
           "without threads": lambda p: p.write_text(json.dumps(
               {k: v for k, v in json.loads(p.read_text()).items() if k != "threads"}))}


@pytest.mark.parametrize("args, record", [
    *((S2_TINY, r) for r in RECORDS),
    ([a for a in S4_TINY if a != "threads.blas=1"], "gone")], ids=[*RECORDS, "section 4, gone"])
def test_a_run_killed_before_its_record_resumes_with_its_own_threads(tmp_path, args, record):
    """A run's `threads: auto` counts (its share of the cores: DLPROJ_JOBS, a sweep's n_jobs)
    are kept by its resume where its record is gone or says none (a killed run's): its
    checkpoint says them. The resume took the cores it found instead (2 step workers where
    the run had 1): its sums went in another order, and the record claimed the new counts for
    the whole run."""
    from dlproj.environment import cores

    if cores() < 2:
        pytest.skip("one core: the run's share and the whole machine are one thread alike")
    shared = {"DLPROJ_JOBS": "2"}  # half the cores, as one of two jobs side by side
    run_dir = tmp_path / "r"
    first = run_here([*args, "train.epochs=2", f"hydra.run.dir={run_dir}"], tmp_path / "a",
                     env=shared)
    assert first.proc.returncode == 0, first.output
    RECORDS[record](run_dir / "results.json")
    resumed = run_here([f"resume={run_dir}", "train.epochs=3"], tmp_path / "a")
    assert resumed.proc.returncode == 0, resumed.output
    whole = run_here([*args, "train.epochs=3"], tmp_path / "b", env=shared)
    assert whole.proc.returncode == 0, whole.output
    assert resumed.results(run_dir)["threads"] == whole.results()["threads"]
    if "section=4" not in args:  # the NumPy sections: bit for bit
        assert _rows(run_dir / "metrics.csv") == _rows(whole.run_dir / "metrics.csv")


def test_resume_can_train_further_and_refuses_other_changes(tmp_path, dlproj_run):
    run = dlproj_run(["experiment=xor", "train.epochs=20"])
    run_dir = run.run_dir
    longer = dlproj_run([f"resume={run_dir}", "experiment=xor", "train.epochs=30"])
    assert longer.proc.returncode == 0, longer.output
    rows = _rows(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 31))
    straight = dlproj_run(["experiment=xor", "train.epochs=30", "figures=false"])  # its rows
    # The constant schedule does not depend on the total, so 20 + 10 epochs = 30 epochs.
    assert _rows(straight.run_dir / "metrics.csv") == rows

    for bad in (["optimizer.lr=0.1"], ["seed=3"], ["model=mlp_small"], ["-m", "seed=0,1"]):
        refused = dlproj_run([f"resume={run_dir}", *bad])
        assert refused.proc.returncode == 2, (bad, refused.output)
        assert "Traceback" not in refused.output
        assert "resume" in refused.proc.stderr, refused.proc.stderr
        if bad[0] != "-m":  # what may change, written as keys: `threads.*`, never `hydra..`
            allowed = refused.proc.stderr.partition("Allowed changes: ")[2]
            assert "threads.*, " in allowed and "hydra.* (but hydra.run.dir" in allowed, allowed
            assert ".," not in allowed and ".." not in allowed and "_," not in allowed, allowed
            assert "own config (experiment=xor train.epochs=30)" in refused.proc.stderr  # as typed
    missing = dlproj_run([f"resume={tmp_path / 'nowhere'}"])
    assert missing.proc.returncode == 2 and "not a dlproj run directory" in missing.proc.stderr


SCHEDULES = {  # schedule -> whether a run of it may change train.epochs on resume
    "constant": True, "step": True, "exponential": True,
    "constant with warm-up": True,  # the warm-up counts its own epochs, not the run's
    "cosine": False,  # half a cosine over the run: its rates depend on train.epochs
    "cosine with warm-up": False,
}


def _files(run_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def _check_resumed(resumed, schedule: str, run_dir: Path, before: dict, fresh) -> None:
    """Allowed: the resumed run is `fresh()`'s, bit for bit; refused: one paragraph, exit 2,
    the run left as it was."""
    if SCHEDULES[schedule]:
        assert resumed.proc.returncode == 0, resumed.output
        assert _rows(run_dir / "metrics.csv") == _rows(fresh().run_dir / "metrics.csv")
    else:
        assert resumed.proc.returncode == 2, resumed.output
        assert f"to resume {run_dir}: its schedule=cosine sets the learning rate by " \
               "train.epochs" in resumed.proc.stderr, resumed.proc.stderr
        assert _files(run_dir) == before


def _schedule(schedule: str) -> list[str]:
    name, *warm = schedule.split(" with ")
    return [f"schedule={name}", *(["schedule.step_size=2"] if name == "step" else []),
            *(["schedule.warmup_epochs=2"] if warm else [])]


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_a_resume_that_trains_further_is_a_run_of_that_length(schedule, dlproj_run):
    """A resumed run is recorded as a run of its new train.epochs, so it must be one: it may
    train further where the rates of its epochs so far do not depend on train.epochs (then it
    is the fresh run of that length, bit for bit), and is refused where they do (epochs 1-3 of
    a 3-epoch cosine are not those of a 5-epoch one), leaving the run as it was."""
    args = ["section=2", "optimizer=momentum", *MLP_TINY, *_schedule(schedule), "figures=false"]
    run_dir = dlproj_run([*args, "train.epochs=3"]).run_dir
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}", "train.epochs=5"])
    _check_resumed(resumed, schedule, run_dir, before,
                   lambda: dlproj_run([*args, "train.epochs=5"]))


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_an_interrupted_run_resumed_shorter_is_a_run_of_that_length(schedule, tmp_path,
                                                                    dlproj_run):
    """The same rule for an interrupted long run resumed with fewer epochs."""
    args = ["experiment=xor", f"schedule={schedule}", "figures=false"]
    _, run_dir = interrupt_after([*args, "train.epochs=100000"], tmp_path / "long",
                                 signal.SIGINT, epochs_done=2)
    then = json.loads((run_dir / "results.json").read_text())["checkpoint_epoch"] + 3
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}", f"train.epochs={then}"])
    _check_resumed(resumed, schedule, run_dir, before,
                   lambda: dlproj_run([*args, f"train.epochs={then}"]))


def _cut(path: Path, size) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:size(len(data))])


def _one_row_short(path: Path) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


DAMAGE = {  # what is done to a run that completed 3 epochs -> what resuming it must say
    "last.npz empty": (lambda d: _cut(d / "last.npz", lambda n: 0), "Cannot read the checkpoint"),
    "last.npz cut to 1000 bytes": (lambda d: _cut(d / "last.npz", lambda n: 1000),
                                   "Cannot read the checkpoint"),
    "last.npz cut in half": (lambda d: _cut(d / "last.npz", lambda n: n // 2),
                             "Cannot read the checkpoint"),
    "last.npz another file": (lambda d: (d / "last.npz").write_bytes(bytes(range(256)) * 8),
                              "Cannot read the checkpoint"),
    "metrics.csv removed": (lambda d: (d / "metrics.csv").unlink(),
                            "its metrics.csv holds 0 of the 3 rows its checkpoint counted"),
    "metrics.csv cut to 150 bytes": (lambda d: _cut(d / "metrics.csv", lambda n: 150),
                                     "its metrics.csv holds 0 of the 3 rows"),
    "metrics.csv a row short": (lambda d: _one_row_short(d / "metrics.csv"),
                                "its metrics.csv holds 2 of the 3 rows"),
    "grad_norms.csv removed": (lambda d: (d / "grad_norms.csv").unlink(),
                               "its grad_norms.csv holds 0 of the"),
    "grad_norms.csv a row short": (lambda d: _one_row_short(d / "grad_norms.csv"),
                                   "its grad_norms.csv holds"),
    "s4: last.pt cut in half": (lambda d: _cut(d / "last.pt", lambda n: n // 2),
                                "Cannot read the checkpoint"),
}


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    """three_epochs(args) -> the directory of the completed 3-epoch run of `args`, made on first
    use (in this process) and then shared, read-only: a test damages a copy of it."""
    runs: dict[tuple, Path] = {}

    def get(args: list[str]) -> Path:
        if tuple(args) not in runs:
            run = run_here(args, tmp_path_factory.mktemp("three_epochs"))
            assert run.proc.returncode == 0, run.output
            runs[tuple(args)] = run.run_dir
        return runs[tuple(args)]

    return get


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_checkpoint_or_log_refuses_resume_and_leaves_the_run(case, dlproj_run,
                                                                      three_epochs, tmp_path):
    """Resuming a run whose checkpoint is cut short or not one, or whose CSV logs hold fewer
    rows than its checkpoint counted, is refused in one paragraph, exit 1, the run left as it
    was: not a traceback, and not a resumed run with a hole in its curves. (The run: a copy of
    the directory of one made once for the module; a resume continues the directory it is
    given.)"""
    import shutil

    damage, says = DAMAGE[case]
    args = [*(S4_TINY if case.startswith("s4") else S2_TINY), "train.epochs=3", "figures=false"]
    run_dir = Path(shutil.copytree(three_epochs(args), tmp_path / "run"))
    damage(run_dir)
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}", "train.epochs=4"])
    assert resumed.proc.returncode == 1, resumed.output
    assert "Traceback" not in resumed.output
    assert says in resumed.proc.stderr, resumed.proc.stderr
    assert f"dlproj: {run_dir} was not resumed; its record is as it was." in resumed.proc.stderr
    assert _files(run_dir) == before


def test_ctrl_c_in_a_multirun_stops_the_sweep_and_still_reports(tmp_path):
    outputs = tmp_path / "sweep"
    args = ["-m", "experiment=xor", "train.epochs=200000", "seed=0,1,2"]
    proc, run_dir = interrupt_after(args, outputs, signal.SIGINT, epochs_done=1)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    sweep_dir = run_dir.parent
    assert run_dir.name == "0"
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    assert not (sweep_dir / "1").exists() and not (sweep_dir / "2").exists()
    summary = [ln for ln in proc.stderr.splitlines() if ln.startswith("sweep:")]
    assert summary == [f"sweep: 1 interrupted (job 0), 2 not started (jobs 1, 2) -> {sweep_dir}"]
    assert "not started: experiment=xor train.epochs=200000 seed=1; " in proc.stderr
    # the jobs never started log nothing, Hydra's launcher neither (`#1 : overrides`)
    assert "#0 : " in proc.stderr + proc.stdout
    assert "#1 : " not in proc.stderr + proc.stdout and "#2 : " not in proc.stderr + proc.stdout
    assert "INTERRUPTED" in (sweep_dir / "report" / "results.md").read_text()
    # Resumed on its own, the job is its sweep report's row as it now is (it stayed INTERRUPTED).
    done = json.loads((run_dir / "results.json").read_text())["last_epoch"]
    again = run_here([f"resume={run_dir}", f"train.epochs={done + 2}"], outputs)
    assert again.proc.returncode == 0, again.output
    table = (sweep_dir / "report" / "results.md").read_text()
    assert "INTERRUPTED" not in table and f"train.epochs={done + 2} | completed" in table, table


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_early_stopping_keeps_the_best_epoch(dlproj_run):
    """lr=1e-12 moves no float32 weight: val_acc never improves after epoch 1, so the run must
    stop after `patience` more epochs, and best.npz must hold epoch 1's weights."""
    args = ["experiment=mlp", *MLP_TINY, "optimizer.lr=1e-12", "schedule=constant",
            "train.early_stopping.monitor=val_acc", "train.early_stopping.patience=2"]
    run = dlproj_run([*args, "train.epochs=10"])
    assert run.proc.returncode == 0, run.output
    record = run.results()
    assert record["status"] == "completed" and record["stopped_early"] is True
    assert record["best_epoch"] == 1 and record["mode"] == "max"
    assert record["last_epoch"] == 3 and len(_rows(run.run_dir / "metrics.csv")) == 3
    one_epoch = dlproj_run([*args, "train.epochs=1", "figures=false"])  # read: its model.npz
    best, first = _npz(run.run_dir / "best.npz"), _npz(one_epoch.run_dir / "model.npz")
    first.pop("__layout__")  # model.npz keeps the network's layout beside its parameters
    assert best.keys() == first.keys()
    for k in best:
        np.testing.assert_array_equal(best[k], first[k])
    again = dlproj_run([f"resume={run.run_dir}", "train.epochs=20"])  # it would stop at once
    assert again.proc.returncode == 2 and (
        "which stopped early at epoch 3 of 10") in again.proc.stderr, again.output


def test_patience_that_runs_out_on_the_last_epoch_stops_nothing_early(dlproj_run):
    """No improvement after epoch 1 and patience 2 of 3 epochs: it ran its whole budget, so it
    did not stop early (it said "early stopping after epoch 3" and recorded stopped_early, and
    its resume with more epochs was refused over a patience the user never gave); resumed with
    more epochs it goes on, and stops early at epoch 4."""
    args = ["experiment=mlp", *MLP_TINY, "optimizer.lr=1e-12", "schedule=constant",
            "train.early_stopping.monitor=val_acc", "train.early_stopping.patience=2",
            "figures=false"]
    run = dlproj_run([*args, "train.epochs=3"])
    record = run.results()
    assert (record["status"], record["stopped_early"], record["last_epoch"]) == (
        "completed", False, 3), run.output
    assert "early stopping after" not in run.output
    again = dlproj_run([f"resume={run.run_dir}", "train.epochs=6"])
    assert again.proc.returncode == 0, again.output
    record = again.results(run.run_dir)
    assert (record["stopped_early"], record["last_epoch"]) == (True, 4), again.output


def test_early_stopping_tracks_improvement_with_a_real_metric(dlproj_run):
    run = dlproj_run(["experiment=xor", "train.epochs=400",
                      "train.early_stopping.monitor=train_eval_loss",
                      "train.early_stopping.patience=3"])
    assert run.proc.returncode == 0, run.output
    record = run.results()
    rows = _rows(run.run_dir / "metrics.csv")
    losses = [float(r["train_eval_loss"]) for r in rows]
    assert record["mode"] == "min" and record["best_value"] == min(losses)
    assert record["best_epoch"] == 1 + int(np.argmin(losses))
    assert record["stopped_early"] == (len(rows) < 400)


@pytest.mark.parametrize("override, key", [
    ("train.early_stopping.monitor=valid_acc", "train.early_stopping.monitor"),
    ("train.early_stopping.patience=0", "train.early_stopping.patience"),
    ("train.early_stopping.mode=up", "train.early_stopping.mode"),
    ("train.checkpoint_every=0", "train.checkpoint_every"),
    ("train.checkpoint_min_seconds=-1", "train.checkpoint_min_seconds"),
])
def test_bad_training_keys_name_the_key(dlproj_run, override, key):
    run = dlproj_run(["experiment=xor", "train.epochs=3", override])
    assert run.proc.returncode == 2, run.output
    assert key in run.proc.stderr and "Traceback" not in run.output


MONITOR_CASES = {  # every experiment that trains, on tiny data: its own arguments
    "s1 mlp": MLP_TINY,
    "s1 mlp, no val split": [*MLP_TINY, "data.val_size=0"],  # (data.val_size=0 once crashed)
    "s1 xor": ["experiment=xor"],
    "s1 sin": ["experiment=sin", "params.n_train=64", "params.n_test=32"],
    "s2 train": S2_TINY,
    "s2 train, no val split": [*S2_TINY, "data.val_size=0"],
    "s3 cnn": ["section=3", "data.train_limit=64", "data.test_limit=32", "data.val_size=32"],
    "s4 compare": S4_TINY,
    "s4 compare, no val split": [*S4_TINY, "data.val_size=0"],
}


@pytest.mark.parametrize("case", list(MONITOR_CASES))
def test_a_monitor_that_names_no_column_is_refused_before_the_run_starts(case, dlproj_run):
    """A misspelled `train.early_stopping.monitor` is a config error found before the run
    writes anything (not after its first epoch, as a failed run): exit 2, no run left, no line
    naming the folder it would have made (`... -> RUN_DIR`, logged as a run starts writing), and
    the error lists the columns the run's metrics.csv has (a run without the typo shows them)."""
    args = [*MONITOR_CASES[case], "train.epochs=1", "figures=false"]
    bad = dlproj_run([*args, "train.early_stopping.monitor=vall_acc",
                      "train.early_stopping.mode=max"])
    assert bad.proc.returncode == 2, bad.output
    assert "'train.early_stopping.monitor': 'vall_acc' is not a column" in bad.proc.stderr
    # without a mode: still the monitor (a typo's name says no direction: it blamed the mode)
    typo = dlproj_run([*args, "train.early_stopping.monitor=val_accc"])
    assert "'train.early_stopping.monitor': 'val_accc' is not a column" in typo.proc.stderr
    assert typo.proc.returncode == 2 and "mode" not in typo.proc.stderr, typo.output
    assert not [p for p in bad.outputs.rglob("*") if p.is_file()], "a refused run left files"
    assert " -> " not in bad.output + typo.output  # the folder it would have made is not named
    good = dlproj_run(args)
    assert good.proc.returncode == 0, good.output
    assert f"experiment {good.results()['experiment']} -> {good.run_dir} (" in good.output
    with open(good.run_dir / "metrics.csv") as f:
        header = next(csv.reader(f))
    columns = [c for c in header if c not in ("epoch", "epoch_seconds")]
    assert f"Allowed: one of {', '.join(columns)}, or null (off)." in bad.proc.stderr


def test_monitor_without_a_direction_needs_a_mode(dlproj_run):
    run = dlproj_run(["experiment=xor", "train.epochs=3", "train.early_stopping.monitor=lr"])
    assert run.proc.returncode == 2 and "train.early_stopping.mode" in run.proc.stderr


@pytest.mark.parametrize("more", [1, 2], ids=["second Ctrl-C", "third Ctrl-C"])
def test_ctrl_c_while_the_interrupts_checkpoint_is_written_keeps_the_epoch(more, tmp_path,
                                                                            monkeypatch):
    """The epoch a stopped run finished is saved however many Ctrl-Cs come while it is written
    (a second one there raised, and the checkpoint was lost with the epoch): a resume starts
    from it."""
    import json
    import signal

    from conftest import run_here

    from dlproj.runtime import interrupt
    from dlproj.training.numpy_stack import NumpyStack

    monkeypatch.setattr(interrupt, "_requested", None)
    write, evaluate = NumpyStack.write, NumpyStack.evaluate

    def evaluate_then_stop(self):  # Ctrl-C as epoch 3 is evaluated: it stops after it
        row = evaluate(self)
        if len(self.ctx.metrics.rows) == 2:
            interrupt._handler(signal.SIGINT, None)
        return row

    def write_under_fire(self, path, snap, meta, *, durable):
        if interrupt.requested() is not None:
            for _ in range(more):  # further Ctrl-Cs as the stopped run's checkpoint is written
                interrupt._handler(signal.SIGINT, None)
        write(self, path, snap, meta, durable=durable)

    monkeypatch.setattr(NumpyStack, "evaluate", evaluate_then_stop)
    monkeypatch.setattr(NumpyStack, "write", write_under_fire)
    run = run_here(["experiment=xor", "train.epochs=40", "train.checkpoint_every=1000",
                    "figures=false", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert run.proc.returncode == 130, run.output
    assert (record["status"], record["last_epoch"], record["checkpoint_epoch"]) == (
        "interrupted", 3, 3), run.output
    assert (tmp_path / "run" / "last.npz").is_file()


def test_a_resume_keeps_the_thread_counts_its_run_had(tmp_path, monkeypatch):
    """`threads: auto` is the machine's share of cores, which differs from shell to shell
    (DLPROJ_JOBS, a joblib sweep's n_jobs): a resume takes the counts its run recorded, so it
    goes on as the run would have (the step split sums in another order on another count); a
    count given on the resume's command line is taken as given."""
    import json

    from conftest import run_here

    from dlproj.runtime import threads

    monkeypatch.setattr(threads, "cores", lambda: 4)
    base = ["section=1", "data.train_limit=1024", "data.test_limit=128", "figures=false",
            "schedule=constant"]

    def run(args, jobs):
        done = run_here(args, tmp_path, env={"DLPROJ_JOBS": str(jobs)})
        assert done.proc.returncode == 0, done.output
        return done

    def rows(run_dir):
        lines = (run_dir / "metrics.csv").read_text().splitlines()
        keep = [i for i, c in enumerate(lines[0].split(",")) if c != "epoch_seconds"]
        return [[line.split(",")[i] for i in keep] for line in lines[1:]]

    run([*base, "train.epochs=4", f"hydra.run.dir={tmp_path / 'whole'}"], jobs=1)  # 4 workers
    run([*base, "train.epochs=2", f"hydra.run.dir={tmp_path / 'part'}"], jobs=1)
    assert json.loads((tmp_path / "part" / "results.json").read_text())["threads"] == {
        "workers": 4, "blas": 1, "torch": 4}
    run([f"resume={tmp_path / 'part'}", "train.epochs=4"], jobs=4)  # auto would be 1 worker
    assert rows(tmp_path / "part") == rows(tmp_path / "whole")
    assert json.loads((tmp_path / "part" / "results.json").read_text())["threads"]["workers"] == 4
    run([f"resume={tmp_path / 'part'}", "train.epochs=5", "threads.workers=1"], jobs=4)
    assert json.loads((tmp_path / "part" / "results.json").read_text())["threads"]["workers"] == 1


# A completed run resumed with a value the refusal then names as allowed: following the advice
# is taken (it said `>= 2` of a run completed at 2, then refused 2 as training nothing; and
# `train.epochs > 2` of a cosine run, whose schedule refuses any other train.epochs).
ADVICE = {
    "fewer epochs": (["schedule=constant"], ["train.epochs=1"], "train.epochs > 2",
                     ["train.epochs=3"]),
    "less patience": (["schedule=constant", "train.epochs=30",
                       "+train.early_stopping.monitor=train_loss",
                       "train.early_stopping.patience=2", "train.early_stopping.min_delta=10"],
                      ["train.early_stopping.patience=1"], "train.early_stopping.patience > 2",
                      ["train.early_stopping.patience=3"]),
    "cosine, as it was": (["schedule=cosine"], [], "Allowed: a new run", None),
    "cosine, fewer epochs": (["schedule=cosine"], ["train.epochs=1"], "Allowed: a new run", None),
}


@pytest.mark.parametrize("case", list(ADVICE))
def test_what_a_refused_resume_of_a_completed_run_advises_is_taken(tmp_path, case):
    base, bad, advice, follow = ADVICE[case]
    first = run_here(["experiment=xor", "train.epochs=2", "figures=false", *base],
                     tmp_path / "out")
    assert first.proc.returncode == 0, first.output
    refused = run_here([f"resume={first.run_dir}", *bad], tmp_path / "out")
    assert refused.proc.returncode == 2 and advice in refused.proc.stderr, refused.output
    if follow is None:
        assert "train.epochs >" not in refused.proc.stderr, refused.output
        return
    taken = run_here([f"resume={first.run_dir}", *follow], tmp_path / "out")
    assert taken.proc.returncode == 0, taken.output
