"""Faults of a sweep under the launchers that run its jobs in processes of their own on this
machine (joblib, submitit_local): signals to the launching process reach the workers, a killed
worker's jobs run again, a killed launching process stops its jobs. The sweep faults of the basic
launcher and the rest: tests/test_faults_sweeps.py (whose helpers these share)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests.test_faults_sweeps import _kill_sweep, _started, _statuses, _sweep_processes, _wait

# No sweep report (the aggregate callback, which never fails a sweep: it logs a warning): none
# of these tests reads it, and each sweep would import pandas, scipy and matplotlib to build it
# after its jobs. The report of a stopped sweep: test_interrupt_resume's
# test_ctrl_c_in_a_multirun_stops_the_sweep_and_still_reports.
NO_REPORT = ["~hydra.callbacks.aggregate"]


def _sweep_in_its_own_group(outputs: Path, *args: str):
    """`python -m dlproj -m ARGS` into `outputs`, the leader of a process group of its own (as a
    terminal's foreground job is), its output read as text."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "dlproj", "-m", *args, *NO_REPORT], cwd=ROOT,
                            env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _stopped(proc, outputs: Path, send) -> str:
    """`send()` a signal, then the sweep's output once it and its workers have ended."""
    send()
    out, _ = proc.communicate(timeout=120)
    _wait(lambda: not _sweep_processes(outputs, proc.pid), 30, "the workers to end")
    return out


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
                             "seed=0,1,2,3", *NO_REPORT], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE,
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
                             "hydra.launcher.n_jobs=2", *args, *NO_REPORT], cwd=ROOT, env=env,
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


@pytest.mark.parametrize("launcher,extra", [
    ("submitit_local", []), ("joblib", ["hydra.launcher.n_jobs=2"]),
    ("joblib", ["hydra.launcher.n_jobs=3"]),
], ids=["submitit_local", "joblib", "joblib, a worker idle"])
def test_a_sweep_whose_launching_process_is_killed_stops_its_jobs(tmp_path, launcher, extra):
    """kill -9 of the process that launched a sweep (no signal reaches anyone): its running jobs
    see it gone, record `interrupted` and end; no process of the sweep is left, an idle worker
    neither (it outlived the sweep by minutes: loky's idle timeout)."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m", f"hydra/launcher={launcher}",
                             *extra, "experiment=xor", "train.epochs=1000000", "seed=0,1",
                             *NO_REPORT],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    sweeps = tmp_path / "multirun"
    try:
        _wait(lambda: _started(sweeps, 2), 120, "two running jobs")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _wait(lambda: not _sweep_processes(tmp_path, proc.pid), 30, "the jobs to end")
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert _statuses(sweeps) == ["interrupted", "interrupted"]


@pytest.mark.parametrize("setup,seeds,closing,code", [
    (["exit 9"], "0,1", "2 no record (jobs 0, 1)", 1),
    (["kill -TERM $PPID", "sleep 1", "exit 9"], "0,1", "2 not started (jobs 0, 1)", 143),
    # one job: a second SIGINT would stop the sweep at once, as a second Ctrl-C does
    (["kill -INT $PPID", "sleep 1", "exit 9"], "0", "1 not started (job 0)", 130),
], ids=["its process ends", "after a SIGTERM", "after a SIGINT"])
def test_a_submitit_local_job_without_a_result_does_not_take_its_sweep_down(tmp_path, setup,
                                                                         seeds, closing, code):
    """A job whose process ends without a result (here its controller's shell exits before the
    job starts; a terminal's Ctrl-C did that before the shell's trap): every job is waited for,
    each is named in one line with its log, and the closing line counts it: as leaving no record,
    or, after a stop of the sweep (the shell signals the launching process first), as not
    started. Before, submitit's error at the first such job ended the sweep in a traceback, exit
    1, while the jobs after it ran on."""
    import re

    proc = _sweep_in_its_own_group(tmp_path, "hydra/launcher=submitit_local", "experiment=xor",
                                   f"seed={seeds}",
                                   f"hydra.launcher.setup={setup!r}".replace("'", '"'))
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        _kill_sweep(proc, tmp_path)
    assert proc.returncode == code, out
    assert "Traceback" not in out and "Error" not in out, out
    assert re.search(rf"^sweep: {re.escape(closing)} -> ", out, re.M), out
    if code == 1:  # no stop: each job named with submitit's log of it
        assert len(re.findall(r"job \d ended without a result; its log: \S+_log\.err", out)) == 2
    assert not list(tmp_path.glob("multirun/*/[01]/results.json"))


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


    signum = getattr(signal, sig)
    proc = _sweep_in_its_own_group(tmp_path, "hydra/launcher=submitit_local", "experiment=xor",
                                   "train.epochs=3,1000000")
    sweeps = tmp_path / "multirun"
    try:
        if when == "running":
            _wait(lambda: _started(sweeps, 2) and _statuses(sweeps) == ["completed"], 120,
                  "job 0 to complete and job 1 to train")
        else:  # its workers exist, neither has reached dlproj's signal handling yet
            _wait(lambda: _sweep_processes(tmp_path, proc.pid), 60, "the workers to start")
        out = _stopped(proc, tmp_path, lambda: os.killpg(proc.pid, signum) if to == "group"
                       else proc.send_signal(signum))
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


@pytest.mark.parametrize("sig,sweep,closing", [
    ("SIGINT", ["hydra.launcher.n_jobs=4", "train.epochs=3,1000000", "seed=0,1"],
     "2 completed, 2 interrupted (jobs 2, 3)"),
    ("SIGTERM", ["hydra.launcher.n_jobs=4", "train.epochs=3,1000000", "seed=0,1"],
     "2 completed, 2 interrupted (jobs 2, 3)"),
    ("SIGINT", ["hydra.launcher.n_jobs=2", "train.epochs=1000000", "seed=0,1"],
     "2 interrupted (jobs 0, 1)"),
    ("SIGINT", ["hydra.launcher.n_jobs=2", "train.epochs=1000000", "seed=0,1,2"],
     "2 interrupted (jobs 0, 1), 1 not started (job 2)"),
    ("SIGINT", ["hydra.launcher.n_jobs=2", "train.epochs=1000000", "seed=0,1,2,3,4,5",
                "hydra.sweep.subdir=s${seed}"],
     "2 interrupted (jobs s0, s1), 4 not started (jobs s2, s3, s4, s5)"),
], ids=["SIGINT, two workers idle", "SIGTERM, two workers idle", "SIGINT, both training",
        "SIGINT, a job queued", "SIGINT, jobs queued in folders named by a key"])
def test_a_signal_to_a_joblib_sweeps_process_group_stops_it_cleanly(tmp_path, sig, sweep,
                                                                     closing):
    """A signal to the whole process group of a joblib sweep, as a terminal's Ctrl-C sends it,
    reaches every worker too: one between jobs or idle takes no notice (the stop reaches jobs
    through the sweep's stop file; before, an idle worker died of a KeyboardInterrupt, with a
    traceback, or took the job beside it along, left without a record), one running a job
    records `interrupted`, a queued job is not started. No traceback, the closing line names
    every job, exit 128 + the signal, nothing left running."""
    import re
    import signal


    signum = getattr(signal, sig)
    proc = _sweep_in_its_own_group(tmp_path, "hydra/launcher=joblib", "experiment=xor", *sweep)
    sweeps = tmp_path / "multirun"
    try:
        started, done = (sum(int(n) for n in re.findall(rf"(\d+) {s}", closing))
                         for s in ("(?:completed|interrupted)", "completed"))
        _wait(lambda: _started(sweeps, started) and _statuses(sweeps) == done * ["completed"],
              120, f"{started} jobs started, {done} completed")
        out = _stopped(proc, tmp_path, lambda: os.killpg(proc.pid, signum))
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert proc.returncode == 128 + signum, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert re.search(r"^sweep: (.*) -> ", out, re.M)[1] == closing, out
    not_started = re.search(r"(\d+) not started", closing)
    if not_started:  # each noted in the folder Hydra would have made for it, which is not there
        notes = sorted(p.stem for p in sweeps.glob("*/.unrecorded/*.json"))
        assert notes == re.search(r"not started \(jobs? ([^)]*)\)", closing)[1].split(", ")
        assert not any(p.name in notes for p in sweeps.glob("*/*"))


@pytest.mark.parametrize("n_jobs, closing", [
    (2, "2 interrupted (jobs 0, 1)"),
    (1, "1 interrupted (job 0), 1 not started (job 1)"),  # joblib runs it in this process
], ids=["in workers", "n_jobs=1"])
def test_a_second_ctrl_c_of_a_joblib_sweep_keeps_its_running_jobs_records(tmp_path, n_jobs,
                                                                          closing):
    """A second Ctrl-C (to the whole process group, as a terminal sends it) while a joblib
    sweep's jobs are inside long training steps: each job stops at once and records
    `interrupted`, the sweep waits for them (one line says so and that a third Ctrl-C leaves
    without them) and ends with the closing line naming them all, exit 130, nothing left
    running. Before, the launching process raised KeyboardInterrupt inside joblib, which killed
    its workers as they wrote their records: the sweep ended with no record at all. With
    n_jobs=1 joblib runs the job in the launching process, which stops it as a single run's."""
    import json
    import re
    import signal
    import time

    proc = _sweep_in_its_own_group(  # steps of about a second each, two to an epoch
        tmp_path, "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}", "section=1",
        "experiment=mlp", "model.hidden=[1024,1024]", "data.train_limit=16384",
        "train.batch_size=8192", "seed=0,1")
    sweeps = tmp_path / "multirun"

    def training() -> bool:
        logs = list(sweeps.glob("*/*/dlproj.log"))
        return len(logs) == n_jobs and all("MNIST:" in p.read_text() for p in logs)

    def twice() -> None:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)

    try:
        _wait(training, 120, "two jobs training")
        time.sleep(0.5)  # inside their first step
        out = _stopped(proc, tmp_path, twice)
    finally:
        _kill_sweep(proc, tmp_path)  # what a failure left
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    waited = "second Ctrl-C: waiting for the running jobs' records"
    assert (waited in out) == (n_jobs > 1), out
    assert re.search(r"^sweep: (.*) -> ", out, re.M)[1] == closing, out
    records = [json.loads(p.read_text()) for p in sorted(sweeps.glob("*/*/results.json"))]
    assert [(r["status"], r["signal"]) for r in records] == [("interrupted", "SIGINT")] * n_jobs


def test_a_stopped_joblib_sweep_hands_its_queue_to_no_worker(monkeypatch):
    """After a stop, the joblib launcher gives joblib no further job of its queue (`_UntilStopped`:
    joblib takes jobs from it a few ahead of its workers): a queued job started in a worker would
    only see the stop and note itself `not started`, seconds per job; the launcher notes it. Here
    with joblib's own loky pool and a 40-job queue stopped once 3 jobs have returned."""
    import signal
    import time

    from joblib import Parallel, delayed

    from dlproj.runtime import interrupt
    from dlproj.runtime.joblib_launcher import _UntilStopped

    monkeypatch.setattr(interrupt, "_requested", None)
    monkeypatch.setattr(interrupt, "_stop_file", None)
    jobs = [[f"seed={i}"] for i in range(40)]
    queue = _UntilStopped(jobs)
    assert len(queue) == 40 and queue[7] == ["seed=7"] and list(queue) == jobs
    returned = []
    for value in Parallel(n_jobs=2, batch_size=1, return_as="generator")(
            delayed(time.sleep)(0.2) for _ in queue):
        returned.append(value)
        if len(returned) == 3:
            monkeypatch.setattr(interrupt, "_requested", signal.SIGINT)
    assert 3 <= len(returned) <= 3 + 2 * 2 + 2, len(returned)  # + joblib's pre_dispatch, 2*n_jobs
    assert list(queue) == []


@pytest.mark.parametrize("stopped", [True, False], ids=["after a stop", "a worker died"])
def test_jobs_lost_with_workers_a_stop_killed_are_not_started(stopped, tmp_path, monkeypatch):
    """A terminal's Ctrl-C reaches loky's workers while they still start up (before their
    initializer ignores it): they die, joblib gives up on the batch, and the jobs no worker began
    are noted `not started` (they were `no record`); one a worker had begun keeps no record. A
    worker that died on its own has its lost jobs run again instead."""
    import json
    import signal
    from concurrent.futures.process import BrokenProcessPool
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from dlproj.runtime import interrupt, sweep
    from dlproj.runtime.joblib_launcher import RelaunchingJoblibLauncher

    monkeypatch.setattr(interrupt, "_requested", signal.SIGINT if stopped else None)
    marks = tmp_path / ".workers"
    marks.mkdir()
    (marks / "0.json").write_text(json.dumps({"run_dir": str(tmp_path / "0"), "held": False,
                                              "returned": 0.5}))
    (marks / "1.json").write_text(json.dumps({"run_dir": str(tmp_path / "1"), "held": False}))
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path),
                                                   "subdir": "${hydra.job.num}"}}})
    relaunched = {}
    launcher = SimpleNamespace(config=config, _noted=RelaunchingJoblibLauncher._noted,
                               _relaunch=lambda m, lost, o, f: relaunched.update(lost) or {})
    jobs = [[f"seed={i}"] for i in range(4)]
    returns = RelaunchingJoblibLauncher._after_death(
        launcher, BrokenProcessPool("exit codes of the workers are {SIGINT(-2)}"), marks, jobs, 0)
    assert len(returns) == 4 and returns[0].return_value == 0.5
    statuses = [sweep.job_status(tmp_path / str(i)) for i in range(4)]
    if stopped:
        assert statuses == [None, None, "not started", "not started"] and relaunched == {}
    else:
        assert statuses == [None] * 4 and relaunched == {1: 1, 2: 0, 3: 0}


def test_joblib_workers_draw_no_bars(monkeypatch):
    """Workers side by side on one terminal each drew their bar on the same line (27%, 19%, 32%,
    ... alternating, log lines written into it): a worker starts with bars off; the sweep's own
    lines say how each job goes."""
    import os

    from dlproj.runtime import interrupt, joblib_launcher
    from dlproj.training.progress import show_bars

    monkeypatch.setattr(interrupt, "ignore_stop_signals", lambda: None)  # not in this process
    monkeypatch.setattr(interrupt, "exit_with_parent", lambda: None)
    monkeypatch.setenv("DLPROJ_PROGRESS", "1")
    joblib_launcher.WORKER_SETUP["initializer"]()
    assert os.environ["DLPROJ_PROGRESS"] == "0" and not show_bars()


def test_ctrl_c_of_an_optuna_sweep_ends_in_the_truthful_lines(tmp_path):
    """SIGINT (a terminal's Ctrl-C reaches the whole group) while trial 1 trains: the plugin told
    Optuna the interrupted trial's NaN as a value and ended in a traceback. Now trial 1 is a
    failed trial, the trials after it are not started, the best value is trial 0's, and the
    closing line counts each, exit 130."""
    import signal

    outputs = tmp_path / "out"
    proc = _sweep_in_its_own_group(
        outputs, "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.direction=maximize", "optimizer.lr=choice(0.5,0.1)",
        "+params.objective=train_acc", "experiment=xor", "train.epochs=5000", "figures=false",
        "train.log_every=100")
    _wait(lambda: any(outputs.glob("multirun/*/1/dlproj.log")), 120, "trial 1 to train")
    out = _stopped(proc, outputs, lambda: os.killpg(proc.pid, signal.SIGINT))
    assert proc.returncode == 130, out
    assert "Traceback" not in out, out
    sweep = next((outputs / "multirun").iterdir())
    assert f"Failed experiment: trial 1 interrupted ({sweep / '1'})" in out, out
    assert f"Failed experiment: trial 2 not started ({sweep / '2'})" in out, out
    assert "Best value:" in out, out
    assert (f"sweep: 1 completed, 1 interrupted (job 1), 2 not started (jobs 2, 3) -> {sweep}"
            in out), out
