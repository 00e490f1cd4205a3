"""Faults of a sweep: its jobs live and die with the process that launched them (signals, kill -9,
every launcher that runs on this machine), its progress and closing lines say how each job ended,
a double Ctrl-C still leaves the record, a damaged overrides file refuses resume. The other
command-line faults are in tests/test_faults.py."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests.conftest import run_here
from tests.test_faults import _one_paragraph

# -- sweeps live and die with what launched them -----------------------------------------------

def _wait(condition, seconds: float, what: str) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _started(sweep_root: Path, jobs: int) -> bool:
    logs = list(sweep_root.glob("*/*/dlproj.log"))
    return len(logs) >= jobs and all("epoch" in p.read_text() for p in logs)


def _kill_sweep(proc, outputs: Path) -> None:
    """A failed test leaves nothing running: the launching process and every process below it."""
    import signal

    proc.kill()
    for pid in _sweep_processes(outputs, proc.pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _sweep_processes(outputs: Path, launcher: int) -> list[int]:
    """Every live process below `launcher` or orphaned by it: those its DLPROJ_OUTPUTS reaches."""

    mark = f"DLPROJ_OUTPUTS={outputs}".encode() + b"\0"
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError, ValueError):
            if mark in environ.read_bytes() and int(environ.parent.name) != launcher:
                found.append(int(environ.parent.name))
    return found


def _statuses(root: Path) -> list[str]:
    import json

    return sorted(json.loads(p.read_text())["status"] for p in root.rglob("*/results.json")
                  if "report" not in p.parts)


def test_sigterm_to_a_joblib_sweep_reaches_its_workers(tmp_path):
    """SIGTERM to the launching process: the running jobs record `interrupted` at their next
    step, the rest are not started, the closing line names both, nothing outlives the sweep."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m", "hydra/launcher=joblib",
                             "hydra.launcher.n_jobs=2", "experiment=xor", "train.epochs=1000000",
                             "seed=0,1,2,3"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: _started(tmp_path / "multirun", 2), 120, "two running jobs")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        _wait(lambda: not _sweep_processes(tmp_path, proc.pid), 30, "the workers to end")
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert proc.returncode == 143, out
    assert _statuses(tmp_path / "multirun") == ["interrupted", "interrupted"]
    assert "2 interrupted (jobs 0, 1), 2 not started (jobs 2, 3)" in out
    assert out.count(" interrupted; sweep: ") == 2 and "done;" not in out, out
    assert "job 2 " not in out and "job 3 " not in out, out  # never started: no line


def _job_worker(outputs: Path, launcher: int, job: int, spared: set[int]) -> int | None:
    """The live process running sweep job `job` once it trains (its dlproj.log, open there,
    holds an epoch line), other than those `spared`: a joblib worker."""
    for log in outputs.glob(f"multirun/*/{job}/dlproj.log"):
        with contextlib.suppress(OSError):
            if "epoch" not in log.read_text():
                continue
        for pid in set(_sweep_processes(outputs, launcher)) - spared:
            for fd in Path(f"/proc/{pid}/fd").glob("*"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == str(log):
                        return pid
    return None


# Each case takes a path of its own through the launcher's relaunch (_after_death, _relaunch,
# _again): a lost job beside the killed one and one not started yet, run again from the start;
# a job killed twice, not run again (no record); a killed job resumed from its checkpoint. The
# sweeper (Hydra's basic one or the joblist) is only where the jobs come from: the relaunch is
# the launcher's, so each path is run with one sweeper, the joblist where it is not run twice.
# (Dropped as redundant: "job 0 of 2", killed once without a checkpoint, the path of "job 1 of
# 3", which also has a job not yet started; "job 0 of 2 twice", the path of "job 1 of 2 twice,
# joblist sweeper".)
@pytest.mark.parametrize("jobs,killed,times,joblist,checkpoint", [
    (3, 1, 1, False, False), (2, 1, 2, True, False), (2, 0, 1, False, True),
    (2, 1, 1, True, True)],
    ids=["job 1 of 3", "job 1 of 2 twice, joblist sweeper", "job 0 of 2 after its checkpoint",
         "job 1 of 2 after its checkpoint, joblist sweeper"])
def test_a_joblib_sweep_outlives_a_killed_worker(tmp_path, jobs, killed, times, joblist,
                                                 checkpoint):
    """SIGKILL (what the out-of-memory killer sends) to the worker process of one job of a
    joblib sweep, mid-training: joblib kills the workers beside it, yet the sweep goes on. Each
    job left without a record (the killed one, the one beside it, one not started yet) runs
    again from the start in its own folder and completes; killed a second time, the job is not
    run again: it is `no record` with one line naming it and the signal, the exit 1. No
    traceback, the closing line, nothing left running. The same through the joblist sweeper
    (`python -m dlproj.reproduce`'s)."""
    import json
    import re
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    epochs = 4000
    # With a checkpoint: one at most every 0.2 s (every epoch, 4000 writes, made the run 4 times
    # longer), the first 0.2 s into training; the epochs after it, run again on resume, are then
    # many, and the killed run's rows of them must not be left twice in metrics.csv.
    common = ["experiment=xor", f"train.epochs={epochs}", "figures=false",
              f"train.checkpoint_min_seconds={0.2 if checkpoint else 1000}"]
    if joblist:
        jobs_file = tmp_path / "jobs.json"
        jobs_file.write_text(json.dumps([{"overrides": [*common, f"seed={i}"], "phase": 0}
                                         for i in range(jobs)]))
        args = ["hydra/sweeper=joblist", f"hydra.sweeper.jobs_file={jobs_file}"]
    else:
        args = [*common, "seed=" + ",".join(map(str, range(jobs)))]
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m", "hydra/launcher=joblib",
                             "hydra.launcher.n_jobs=2", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victims: set[int] = set()
    try:
        for _ in range(times):
            _wait(lambda: _job_worker(tmp_path, proc.pid, killed, victims), 120,
                  f"a worker training job {killed}")
            if checkpoint:
                _wait(lambda: list(tmp_path.glob(f"multirun/*/{killed}/last.npz")), 60,
                      f"job {killed}'s first checkpoint")
            pid = _job_worker(tmp_path, proc.pid, killed, victims)
            os.kill(pid, signal.SIGKILL)
            victims.add(pid)
        out, _ = proc.communicate(timeout=240)
        _wait(lambda: not _sweep_processes(tmp_path, proc.pid), 30, "the workers to end")
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert "Traceback" not in out and "TerminatedWorkerError" not in out, out
    assert "a worker process of the sweep died (SIGKILL(-9))" in out, out
    (sweep,) = (tmp_path / "multirun").iterdir()
    closing = re.search(r"^sweep: (.*) -> ", out, re.M)
    assert closing, out
    if times == 1:
        assert proc.returncode == 0, out
        assert closing[1] == f"{jobs} completed", out
        assert _statuses(sweep) == ["completed"] * jobs
        # run again in its own folder: its rows are one run's, each epoch once
        rows = (sweep / str(killed) / "metrics.csv").read_text().splitlines()
        assert len(rows) == epochs + 1
        record = json.loads((sweep / str(killed) / "results.json").read_text())
        resumed = f"job {killed} continues from its killed run's last checkpoint"
        if checkpoint:
            assert resumed in out and record["resumed_from_epoch"] > 0, out
        else:
            assert resumed not in out and "resumed_from_epoch" not in record, out
    else:
        assert proc.returncode == 1, out
        assert closing[1] == f"{jobs - 1} completed, 1 no record (job {killed})", out
        assert _statuses(sweep) == ["completed"] * (jobs - 1)
        assert not (sweep / str(killed) / "results.json").exists()
        assert f"job {killed}: its worker process died again (SIGKILL(-9))" in out, out
        assert "out of memory" in out, out
    assert not (sweep / ".workers").exists()


@pytest.mark.parametrize("launcher", ["submitit_local", "joblib"])
def test_a_sweep_whose_launching_process_is_killed_stops_its_jobs(tmp_path, launcher):
    """kill -9 of the process that launched a sweep (no signal reaches anyone): its running jobs
    see it gone, record `interrupted` and end; no process of the sweep is left."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m", f"hydra/launcher={launcher}",
                             *extra, "experiment=xor", "train.epochs=1000000", "seed=0,1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    sweeps = tmp_path / "multirun"
    try:
        _wait(lambda: _started(sweeps, 2), 120, "two running jobs")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _wait(lambda: not _sweep_processes(tmp_path, proc.pid), 60, "the jobs to end")
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert _statuses(sweeps) == ["interrupted", "interrupted"]


@pytest.mark.parametrize("sig,when,to", [
    ("SIGTERM", "running", "process"), ("SIGINT", "running", "process"),
    ("SIGTERM", "starting", "process"),
    ("SIGINT", "running", "group"), ("SIGINT", "starting", "group"),  # Ctrl-C at a terminal
])
def test_a_signal_to_a_submitit_local_sweep_reaches_its_workers(tmp_path, sig, when, to):
    """SIGTERM or SIGINT to the launching process of a submitit_local sweep (or, as a terminal's
    Ctrl-C, to its whole process group), while its jobs run (one completed, one training) or
    while their processes are still starting up: each job is recorded as completed or
    interrupted or noted as not started, the closing line names them all, the exit is 128 + the
    signal, no traceback (submitit's job controllers print one on a SIGINT of their own), and
    no process of the sweep is left."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    signum = getattr(signal, sig)
    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m",
                             "hydra/launcher=submitit_local", "experiment=xor",
                             "train.epochs=3,1000000"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    sweeps = tmp_path / "multirun"
    try:
        if when == "running":
            _wait(lambda: _started(sweeps, 2) and _statuses(sweeps) == ["completed"], 120,
                  "job 0 to complete and job 1 to train")
        else:  # its workers exist, neither has reached dlproj's signal handling yet
            _wait(lambda: _sweep_processes(tmp_path, proc.pid), 60, "the workers to start")
        os.killpg(proc.pid, signum) if to == "group" else proc.send_signal(signum)
        out, _ = proc.communicate(timeout=120)
        _wait(lambda: not _sweep_processes(tmp_path, proc.pid), 30, "the workers to end")
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert proc.returncode == 128 + signum, out
    assert "Traceback" not in out and "Error" not in out, out
    closing = re.search(r"^sweep: (.*) -> ", out, re.M)
    assert closing, out
    if when == "running":
        assert closing[1] == "1 completed, 1 interrupted (job 1)", out
        assert _statuses(sweeps) == ["completed", "interrupted"]
    else:  # each job in one of the three, whichever it reached
        parts = re.sub(r" \(jobs? [^)]*\)", "", closing[1]).split(", ")
        counts = [re.fullmatch(r"(\d+) (completed|interrupted|not started)", p) for p in parts]
        assert all(counts) and sum(int(m[1]) for m in counts) == 2, out


def test_a_sweep_dies_with_a_killed_reproduce_and_the_rerun_resumes_it(tmp_path):
    """kill -9 of reproduce: its sweep gets SIGTERM (parent-death signal), the job records
    where it stopped, and the next reproduce resumes it instead of starting it again."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.test_reproduce import LONG_XOR

    studies_dir = tmp_path / "studies"
    studies_dir.mkdir()
    import re

    (studies_dir / "long.yaml").write_text(re.sub(r"train.epochs: \d+", "train.epochs: 1000000",
                                                  LONG_XOR))
    outputs = tmp_path / "out"
    script = ("import sys; from pathlib import Path; from dlproj.config import study; "
              f"study.STUDY_DIR = Path({str(studies_dir)!r}); "
              "from dlproj.reproduce.cli import main; "
              f"sys.exit(main(['--study', 'long', '--outputs', {str(outputs)!r}, '--jobs', '1']))")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                            env={**os.environ, "DLPROJ_PROGRESS": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _started(outputs / "multirun", 1), 120, "the job to run")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _wait(lambda: _statuses(outputs / "multirun") == ["interrupted"], 60,
              "the orphaned job to record that it stopped")
    finally:
        proc.kill()
    import pytest as _pytest

    from dlproj.config import study as studies
    from dlproj.config.cache import ComposeCache
    from dlproj.reproduce.plan import plan

    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(studies, "STUDY_DIR", studies_dir)
        (job,) = plan(studies.load("long"), outputs, sweep_dir=outputs / "multirun" / "next",
                      force=False, cache=ComposeCache.of(outputs)).jobs
    assert job.state == "resume"


@pytest.mark.parametrize("gap", [0.0, 0.05, 0.2, 0.6])
def test_a_double_ctrl_c_still_leaves_the_record(tmp_path, gap):
    """Two SIGINTs `gap` seconds apart: the run still ends `interrupted`, its record whole."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "experiment=xor",
                             "train.epochs=1000000"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _started(tmp_path, 1), 60, "the run to train")
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    # 130, or killed by the second SIGINT once the record was written (the shell says 130)
    assert proc.returncode in (130, -signal.SIGINT), err
    (record,) = tmp_path.rglob("results.json")
    result = json.loads(record.read_text())
    assert (result["status"], result["signal"]) == ("interrupted", "SIGINT"), result
    assert "Traceback" not in err


@pytest.mark.parametrize("text", ["- a: [\n", "just text\n", "- 1\n", "{}\n", ""])
def test_a_damaged_overrides_file_refuses_resume_in_one_paragraph(tmp_path, text):
    run = run_here(["experiment=xor", "train.epochs=3"], tmp_path / "outputs")
    assert run.proc.returncode == 0, run.output
    overrides = run.run_dir / ".hydra" / "overrides.yaml"
    overrides.write_text(text)
    before = {p: p.read_bytes() for p in run.run_dir.rglob("*") if p.is_file()}
    again = run_here([f"resume={run.run_dir}", "train.epochs=5"], tmp_path / "outputs")
    assert again.proc.returncode == 2, again.output
    _one_paragraph(again.proc.stderr, f"dlproj: Cannot resume {run.run_dir}")
    assert {p: p.read_bytes() for p in run.run_dir.rglob("*") if p.is_file()} == before


# -- a sweep's progress lines say how each job ended -------------------------------------------

PROGRESS_CASES = {  # how job 1, the second of 4, ended -> its line (None: no line at all)
    "completed": ("completed", None, "job 1 done; sweep: 2/4 jobs in 0s, ETA 0s"),
    "failed": ("failed", None, "job 1 failed; sweep: 2/4 jobs in 0s, ETA 0s"),
    "diverged": ("diverged", None, "job 1 diverged; sweep: 2/4 jobs in 0s, ETA 0s"),
    "interrupted": ("interrupted", "SIGINT", "job 1 interrupted; sweep: 2/4 jobs in 0s"),
    "stopped by SIGTERM": ("interrupted", "SIGTERM", "job 1 interrupted; sweep: 2/4 jobs in 0s"),
    "not started": ("note: not started", "SIGINT", None),
    "invalid": ("note: invalid", None, "job 1 invalid; sweep: 2/4 jobs in 0s, ETA 0s"),
    "in use": ("note: in use", None, "job 1 in use; sweep: 2/4 jobs in 0s, ETA 0s"),
    "raised": ("no record", None, "job 1 failed; sweep: 1/4 jobs in 0s, ETA 0s"),
    # job 0's record is an earlier sweep's (the directory given again): not this one's
    "earlier sweep's": ("completed", None, "job 1 done; sweep: 1/4 jobs in 0s, ETA 0s"),
}


@pytest.mark.parametrize("case", list(PROGRESS_CASES))
def test_a_jobs_progress_line_says_how_it_ended(case, tmp_path, monkeypatch, caplog):
    """The line at a job's end reads its record: "done" only for a completed job; a job a stop
    kept from starting says nothing, neither as it starts nor as it ends; a stopped sweep has
    no ETA. Jobs are named by their directories, as the closing line names them; the count is
    of this sweep's jobs that ended (an earlier sweep's records in the directory are not)."""
    import json
    import logging
    import os
    import signal
    import time

    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from dlproj.runtime import interrupt, sweep

    ended, stop, expected = PROGRESS_CASES[case]
    sweep_dir = tmp_path / "sweep"
    (sweep_dir / "0").mkdir(parents=True)  # job 0 completed before
    (sweep_dir / "0" / "results.json").write_text(json.dumps({"status": "completed"}))
    if case == "earlier sweep's":  # an hour before this sweep started
        os.utime(sweep_dir / "0" / "results.json", (time.time() - 3600,) * 2)
    job_dir = sweep_dir / "1"
    job_dir.mkdir()
    if ended.startswith("note: "):
        sweep.note_unrecorded(job_dir, ["seed=1"], ended.removeprefix("note: "))
        assert not job_dir.exists()  # the empty directory Hydra made for it is not left behind
    elif ended != "no record":
        (job_dir / "results.json").write_text(json.dumps({"status": ended}))
    config = OmegaConf.create({"hydra": {
        "job": {"num": 1}, "runtime": {"output_dir": str(job_dir)},
        "sweep": {"dir": str(sweep_dir)}, "overrides": {"task": ["seed=1"]}}})
    monkeypatch.setenv(sweep.ENV_STARTED, repr(time.time()))
    monkeypatch.setenv(sweep.ENV_JOBS, "4")
    monkeypatch.setattr(interrupt, "_requested", getattr(signal, stop) if stop else None)
    for name in ("_stop_file", "_launcher", "_elsewhere"):  # as the job starts it follows the sweep
        monkeypatch.setattr(interrupt, name, None)
    monkeypatch.delenv(sweep.ENV_STOP_FILE, raising=False)
    monkeypatch.delenv(sweep.ENV_LAUNCHER, raising=False)
    job_return = JobReturn(status=JobStatus.FAILED if ended == "no record" else
                           JobStatus.COMPLETED)
    caplog.set_level(logging.INFO, logger="dlproj.sweep")
    progress = sweep.SweepOutcome()
    progress.on_job_start(config)
    progress.on_job_end(config, job_return)
    lines = [r.getMessage() for r in caplog.records if r.name == "dlproj.sweep"]
    if expected is None:
        assert lines == []
    else:
        assert lines == ["job 1 (2 of 4): seed=1", expected] if not stop else lines == [expected]


def test_a_sweep_job_that_left_nothing_is_counted(tmp_path, monkeypatch):
    """The closing line accounts for every job: one that could leave neither a record nor a
    note (a full disk, a killed worker) is `no record`; the joblist sweeper's jobs are counted
    from its file."""
    import json

    from omegaconf import OmegaConf

    from dlproj.runtime import interrupt, sweep
    from dlproj.runtime.sweep import count_jobs

    monkeypatch.setattr(interrupt, "_requested", None)
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "results.json").write_text(json.dumps({"status": "completed"}))
    sweep.note_unrecorded(tmp_path / "2", ["seed=2"], "invalid")
    line, code = sweep.outcome(tmp_path, expected=4)
    assert line.splitlines()[0] == (f"sweep: 1 completed, 1 invalid (job 2), 2 no record "
                                    f"(jobs 1, 3) -> {tmp_path}")
    assert code == 1
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps([{"overrides": [f"seed={i}"], "phase": 0} for i in range(4)]))
    assert count_jobs(OmegaConf.create({"hydra": {"sweeper": {"jobs_file": str(jobs_file)}}})) \
        == 4


def test_a_sweeps_stop_file_is_its_own(tmp_path, monkeypatch):
    """A job follows the stop file of the sweep that launched it: one resumed in place in an
    older sweep's directory, which was stopped, still runs; a sweep directory given again starts
    unstopped."""
    from omegaconf import OmegaConf

    from dlproj.config.compose import compose_config
    from dlproj.runtime import interrupt, sweep
    from dlproj.runtime.runner import execute

    monkeypatch.setattr(interrupt, "_requested", None)
    monkeypatch.setattr(interrupt, "_stop_file", None)
    monkeypatch.setenv(sweep.ENV_STOP_FILE, "")  # restored after the test
    older = tmp_path / "older"
    older.mkdir()
    (older / sweep.STOP_FILE).write_text("15\n")  # it was stopped by SIGTERM
    outcome = sweep.SweepOutcome()
    for sweep_dir in (tmp_path / "now", older):
        outcome.on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)},
                                                              "launcher": {}}}))
        overrides = ["experiment=xor", "train.epochs=2"]
        record = execute(compose_config(overrides), run_dir=older / f"{sweep_dir.name}",
                         is_multirun=True, overrides=overrides)
        assert record["status"] == "completed", record
        assert interrupt.requested() is None
    assert not (older / sweep.STOP_FILE).exists()


def test_ctrl_c_of_a_basic_sweep_ends_in_the_truthful_lines(tmp_path):
    """Real SIGINT to a basic-launcher sweep during job 1: job 1 says it was interrupted, jobs
    2 and 3 say nothing, and the closing line names each, exit 130."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m", "experiment=xor",
                             "train.epochs=1000000", "seed=0,1,2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: _started(tmp_path / "multirun", 1), 120, "job 1 to train")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    assert _statuses(tmp_path / "multirun") == ["interrupted"]
    assert "job 0 interrupted; sweep: 1/3 jobs in " in out, out
    assert "done;" not in out and "ETA" not in out and "job 1 " not in out, out
    assert "sweep: 1 interrupted (job 0), 2 not started (jobs 1, 2) -> " in out, out
    assert "Traceback" not in out




@pytest.mark.parametrize("first,second,closing", [
    ("-1,0.1", "0.2,0.1", "1 completed, 1 invalid (job 1)"),  # job 0's old note is not its
    ("0.1,0.2", "0.3,0.4", "2 invalid (jobs 0, 1)"),  # every folder holds a run
    ("-1,-2", "0.1,0.2", "2 completed"),  # the old notes were of jobs that left no folder
])
def test_a_sweep_folder_given_again_is_told_by_this_sweep_only(tmp_path, first, second, closing):
    """`hydra.sweep.dir` of an earlier sweep: its runs are not written over (each such job is
    refused, invalid), and the closing line counts this sweep's jobs once each, not the earlier
    sweep's notes or records."""
    sweep_dir = tmp_path / "sweep"
    # No sweep report (the aggregate callback): the closing line is SweepOutcome's.
    args = ["-m", "experiment=xor", "train.epochs=5", "figures=false",
            f"hydra.sweep.dir={sweep_dir}", "~hydra.callbacks.aggregate"]
    run_here([*args, f"optimizer.lr={first}"], tmp_path / "out")
    before = {p: p.read_bytes() for p in sweep_dir.glob("*/results.json")}
    again = run_here([*args, f"optimizer.lr={second}"], tmp_path / "out")
    assert f"sweep: {closing} -> {sweep_dir}" in again.output, again.output
    assert again.proc.returncode == (0 if closing == "2 completed" else 1)
    assert {p: p.read_bytes() for p in before} == before


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("where, orphaned", [
    ("this host, gone", True), ("this host, alive", False), ("another host, same pid", False),
    ("another host, a pid gone here", False), ("this process", False), ("unset", False)])
def test_a_job_follows_its_sweeps_launcher_only_where_it_can_see_it(where, orphaned, tmp_path,
                                                                    monkeypatch):
    """A job is orphaned (it stops) when the process that launched its sweep is gone; a job on
    another machine (a SLURM node) cannot see that process and must not take its pid for one
    of its own machine's: it stops by the stop file alone. A signal to it never writes the stop
    file (that would stop the whole sweep): only the launching process does."""
    import signal
    import socket

    from dlproj.runtime import interrupt, sweep

    here, other = socket.gethostname(), socket.gethostname() + "-node2"
    value = {"this host, gone": f"{here}:{_dead_pid()}", "this host, alive": f"{here}:1",
             "another host, same pid": f"{other}:{os.getpid()}",
             "another host, a pid gone here": f"{other}:{_dead_pid()}",
             "this process": f"{here}:{os.getpid()}", "unset": None}[where]
    stop_file = tmp_path / "stop"
    monkeypatch.setenv(sweep.ENV_STOP_FILE, str(stop_file))
    if value is None:
        monkeypatch.delenv(sweep.ENV_LAUNCHER, raising=False)
    else:
        monkeypatch.setenv(sweep.ENV_LAUNCHER, value)
    for name in ("_requested", "_stop_file", "_launcher", "_elsewhere"):
        monkeypatch.setattr(interrupt, name, None if name != "_elsewhere" else False)
    sweep.follow()
    assert interrupt.orphaned() is orphaned
    interrupt._handler(signal.SIGTERM, None)  # a signal to this process
    launching = where in ("this process", "unset")
    assert stop_file.exists() is launching


@pytest.mark.parametrize("setting, says", [
    ("hydra.launcher.n_jobs=0", "n_jobs == 0"),
    ("hydra.launcher.prefer=nope", "prefer=nope"),
    ("hydra.launcher.batch_size=0", "batch_size must be"),
    ("hydra.launcher.pre_dispatch=abc", "'abc'"),
])
def test_a_joblib_setting_joblib_refuses_is_one_paragraph_and_no_sweep(tmp_path, setting, says):
    """A launcher setting joblib refuses ends as bad input does: one paragraph naming it, exit
    2, no sweep directory (not joblib's traceback beside a sweep of no jobs)."""
    run = run_here(["-m", "hydra/launcher=joblib", setting, "experiment=xor", "train.epochs=1",
                    "figures=false", "seed=0,1"], tmp_path / "out")
    assert run.proc.returncode == 2, run.output
    _one_paragraph(run.proc.stderr, f"dlproj: Invalid value for 'hydra.launcher' ({setting})")
    assert says in run.proc.stderr
    assert not list((tmp_path / "out").glob("multirun/*")), "a sweep directory was left"
