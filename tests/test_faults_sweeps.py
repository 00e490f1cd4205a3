"""Faults of a sweep: its jobs live and die with the process that launched them (signals, kill -9;
under the joblib and submitit_local launchers: tests/test_faults_launchers.py), its progress and
closing lines say how each job ended, a double Ctrl-C still leaves the record, a damaged overrides
file refuses resume. The other command-line faults are in tests/test_faults.py."""

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
        time.sleep(0.1)


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
                      force=False, cache=ComposeCache(outputs)).jobs
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


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory) -> Path:
    """The directory of a completed 3-epoch XOR run, made once for the module (in this process);
    read-only: a test damages a copy of it."""
    run = run_here(["experiment=xor", "train.epochs=3"], tmp_path_factory.mktemp("outputs"))
    assert run.proc.returncode == 0, run.output
    return run.run_dir


@pytest.mark.parametrize("text", ["- a: [\n", "just text\n", "- 1\n", "{}\n", "",
                                  "- nokey\n", "- \"'[bad\"\n", "- train.epochs=3\n- a=]\n"])
def test_a_damaged_overrides_file_refuses_resume_in_one_paragraph(tmp_path, text, xor_run):
    """(The run: a copy of the module's XOR run; a resume continues the directory it is
    given.)"""
    import shutil

    run_dir = Path(shutil.copytree(xor_run, tmp_path / "outputs" / "runs" / xor_run.name))
    overrides = run_dir / ".hydra" / "overrides.yaml"
    overrides.write_text(text)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    again = run_here([f"resume={run_dir}", "train.epochs=5"], tmp_path / "outputs")
    assert again.proc.returncode == 2, again.output
    _one_paragraph(again.proc.stderr, f"dlproj: Cannot resume {run_dir}: {overrides} is "
                                      f"damaged")
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("text,saved", [
    ("- section=2\n- optimizer=adam\n", ["section='2'", "optimizer=adam"]),
    ("- section='3'\n- seed=1\n- resume=/x\n", ["section='3'", "seed=1"]),
    ("- experiment=xor\n- 'model.hidden=[8,8]'\n", ["experiment=xor", "model.hidden=[8,8]"]),
    ("[]\n", []),
])
def test_a_runs_saved_overrides_read_as_a_command_line_would_be(tmp_path, text, saved):
    """A run's .hydra/overrides.yaml is read as its command line was: `section=N` quoted as
    dlproj quotes it (unquoted, Hydra would refuse it as a group given an int), `resume=`
    left out."""
    from dlproj.runtime.resume import saved_overrides

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(text)
    assert saved_overrides(tmp_path) == saved


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
    # returned, but its results.json never reached the disk (a full one): not "done"
    "left nothing": ("nothing", None, "job 1 left no record; sweep: 1/4 jobs in 0s, ETA 0s"),
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
        # the empty directory Hydra made for it is not left behind, unless it is another
        # process's ("in use": test_an_in_use_job_leaves_the_owners_folder_alone)
        assert job_dir.exists() == (ended == "note: in use")
    elif ended not in ("no record", "nothing"):
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


@pytest.mark.parametrize("status", ["not started", "invalid"])
@pytest.mark.parametrize("count", [1, 5, 6, 40])
def test_the_closing_line_names_a_few_jobs_by_their_overrides(tmp_path, monkeypatch, status,
                                                             count):
    """The jobs left invalid or not started are named by their overrides below the closing line,
    the first five, then how many more: a long queue stopped is one line, not a wall."""
    from dlproj.runtime import interrupt, sweep

    monkeypatch.setattr(interrupt, "_requested", None)
    for num in range(count):
        sweep.note_unrecorded(tmp_path / str(num), [f"seed={num}"], status)
    line, _ = sweep.outcome(tmp_path, expected=count)
    named = "; ".join(f"seed={num}" for num in range(min(count, sweep.NAMED)))
    more = f"; ... and {count - sweep.NAMED} more" if count > sweep.NAMED else ""
    assert line.splitlines()[1:] == [f"  {status}: {named}{more}"]


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
    # Without the sweep report: the report after a Ctrl-C of a basic sweep is
    # tests/test_interrupt_resume.py's test_ctrl_c_in_a_multirun_stops_the_sweep_and_still_reports.
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", "-m", "experiment=xor",
                             "train.epochs=1000000", "seed=0,1,2", "~hydra.callbacks.aggregate"],
                            cwd=ROOT, env=env,
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


@pytest.mark.parametrize("overrides", [
    ["seed=0,1", "hydra.sweep.subdir=same"],
    ["seed=0,1", "hydra.sweep.subdir=lr_${optimizer.lr}"],  # the same for both jobs
    ["seed=0,1", "hydra.sweep.subdir=."],  # the sweep folder itself
    ["seed=0,1", "hydra.sweep.subdir=g/${hydra.job.num}"],  # not directly in the sweep's
    ["optimizer=sgd,adam", "seed=0,1", "hydra.sweep.subdir=${optimizer.name}"],
    ["optimizer=glob(ad*)", "hydra.sweep.subdir=same"],  # a glob's jobs went unchecked
], ids=lambda o: " ".join(o))
def test_jobs_without_a_folder_of_their_own_are_refused_before_any_runs(tmp_path, overrides):
    """Two jobs in one folder (the second would find the first's run there, and the closing
    line miscounted them): one paragraph naming hydra.sweep.subdir, exit 2, nothing written."""
    run = run_here(["-m", "experiment=xor", "train.epochs=1", "figures=false", *overrides],
                   tmp_path / "outputs")
    assert run.proc.returncode == 2, run.output
    _one_paragraph(run.proc.stderr, "dlproj: Invalid value for 'hydra.sweep.subdir'")
    assert "its own folder" in run.proc.stderr and "job" not in run.proc.stdout
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("subdir", ["seed${seed}", "${hydra.job.num}_x"])
def test_jobs_in_folders_named_otherwise_are_counted_by_name(tmp_path, subdir):
    run = run_here(["-m", "experiment=xor", "train.epochs=1", "figures=false", "seed=0,1",
                    f"hydra.sweep.subdir={subdir}", "~hydra.callbacks.aggregate"],
                   tmp_path / "outputs")
    assert run.proc.returncode == 0, run.output
    (line,) = [ln for ln in run.proc.stderr.splitlines() if ln.startswith("sweep:")]
    assert line.startswith("sweep: 2 completed -> "), line


@pytest.mark.parametrize("phases,batch,stop_after,subdir,launched", [
    ([0, 0, 1, 1], None, None, "${hydra.job.num}", [[0, 1], [2, 3]]),
    ([0, 0, 1, 1], None, 1, "${hydra.job.num}", [[0, 1]]),
    ([0, 0, 0, 1, 2], 2, 1, "${hydra.job.num}", [[0, 1]]),
    ([0, 0, 0, 1, 2], 2, 2, "${hydra.job.num}", [[0, 1], [2]]),
    ([0, 0, 1, 1], None, 1, "job_${hydra.job.num}", [[0, 1]]),
    ([0, 0, 1, 1], None, 1, "s${seed}", [[0, 1]]),
], ids=["not stopped: every phase", "stopped in phase 0: phase 1 not launched",
        "stopped in a phase's first batch: its second not launched either",
        "stopped in a phase's last batch: the next phases not launched",
        "folders named by number otherwise: noted in the folders Hydra would make",
        "folders named by a key: noted in the folders Hydra would make"])
def test_a_stopped_joblist_sweep_launches_no_further_phase(tmp_path, monkeypatch, phases, batch,
                                                           stop_after, subdir, launched):
    """Once the sweep is stopped (Ctrl-C, SIGTERM), the joblist sweeper (dlproj.reproduce's)
    hands no further phase or batch to its launcher, which would start every job of it (on
    SLURM: submit each and wait for the queue) only for the job to see the stop; those jobs are
    noted `not started`, as the closing line counts them."""
    import json
    import signal

    from hydra import initialize_config_dir

    from dlproj import paths
    from dlproj.config.compose import compose_config
    from dlproj.runtime import interrupt, sweep
    from hydra_plugins.dlproj_joblist_sweeper.joblist_sweeper import JobListSweeper

    monkeypatch.setattr(interrupt, "_requested", None)
    monkeypatch.setattr(interrupt, "_stop_file", None)
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps([{"overrides": [f"seed={i}"], "phase": p}
                                     for i, p in enumerate(phases)]))
    sweep_dir = tmp_path / "sweep"
    calls: list[list[int]] = []

    config = compose_config([f"hydra.sweep.dir={sweep_dir}", f"hydra.sweep.subdir={subdir}"],
                            keep_hydra=True)
    folder = {"${hydra.job.num}": "{num}", "job_${hydra.job.num}": "job_{num}",
              "s${seed}": "s{num}"}[subdir].format  # job num runs seed=num

    class Launcher:
        def launch(self, chunk, initial_job_idx):
            calls.append(list(range(initial_job_idx, initial_job_idx + len(chunk))))
            for num in calls[-1]:  # each job as the runner records it
                (sweep_dir / folder(num=num)).mkdir(parents=True)
                (sweep_dir / folder(num=num) / "results.json").write_text(
                    '{"status": "completed"}')
            if len(calls) == stop_after:
                monkeypatch.setattr(interrupt, "_requested", signal.SIGINT)
            return [float(num) for num in calls[-1]]

    sweeper = JobListSweeper(str(jobs_file), max_batch_size=batch)
    sweeper.config = config
    sweeper.launcher = Launcher()
    with initialize_config_dir(version_base=None, config_dir=str(paths.CONF_DIR)):
        returns = sweeper.sweep([])
    assert calls == launched
    assert len([r for chunk in returns for r in chunk]) == len(phases)
    names = [folder(num=num) for num in range(len(phases))]
    line, code = sweep.outcome(sweep_dir, expected=[int(n) if n.isdigit() else n for n in names])
    ran = sum(len(c) for c in launched)
    if ran < len(phases):
        rest = names[ran:]
        assert line.splitlines()[0].startswith(
            f"sweep: {ran} completed, {len(rest)} not started "
            f"({'job' if len(rest) == 1 else 'jobs'} {', '.join(rest)}) -> "), line
        assert code == 128 + signal.SIGINT
        assert sorted(p.stem for p in (sweep_dir / sweep.UNRECORDED).glob("*.json")) == rest
        assert not any((sweep_dir / name).exists() for name in rest)  # no empty folder left
    else:
        assert not (sweep_dir / sweep.UNRECORDED).exists()


def _sweep_env(monkeypatch, name: str, started: float) -> None:
    """This process as sweep `name` (its launcher) started at `started`, as its jobs see it."""
    from dlproj.runtime import sweep

    monkeypatch.setenv(sweep.ENV_LAUNCHER, f"host:{name}")
    monkeypatch.setenv(sweep.ENV_STARTED, repr(started))


@pytest.mark.parametrize("status", ["in use", "invalid", "not started"])
@pytest.mark.parametrize("held", [True, False])
def test_a_noted_job_removes_only_an_empty_folder_no_one_holds(status, held, tmp_path):
    """A job that leaves no record removes the empty folder Hydra made for it, but never one whose
    lock another process holds: an `in use` job's folder is the live run's own, and removing it
    would let a third process take a fresh lock beside the live one."""
    import os

    from dlproj.runtime import sweep
    from dlproj.runtime.owner import lock

    job_dir = tmp_path / "sweep" / "0"
    job_dir.mkdir(parents=True)
    fd = lock(job_dir) if held else None  # another open file: another owner, as flock sees it
    try:
        record = sweep.note_unrecorded(job_dir, ["seed=0"], status)
        assert record["status"] == status
        assert job_dir.exists() == (held or status == "in use")
        assert sweep.job_status(job_dir) == status
    finally:
        if fd is not None:
            os.close(fd)


@pytest.mark.parametrize("order", ["other sweep noted first", "other sweep noted after"])
def test_a_sweep_reads_only_its_own_notes(order, tmp_path, monkeypatch):
    """Two sweeps in one directory at once: B's job 0 finds A's run in its folder (`in use`) while
    A completes it. A counts its job completed and exits 0; B counts its own job in use; neither
    reads the other's note."""
    import json
    import time

    from dlproj.runtime import interrupt, sweep

    monkeypatch.setattr(interrupt, "_requested", None)
    t0 = time.time()
    job = tmp_path / "0"
    job.mkdir()
    if order == "other sweep noted after":
        (job / "results.json").write_text(json.dumps({"status": "completed"}))
    _sweep_env(monkeypatch, "B", t0)
    sweep.note_unrecorded(job, ["seed=0"], "in use")
    if order == "other sweep noted first":
        (job / "results.json").write_text(json.dumps({"status": "completed"}))
    line_a, code_a = sweep.outcome(tmp_path, [0], since=t0, sweep=f"host:A@{t0!r}")
    line_b, code_b = sweep.outcome(tmp_path, [0], since=t0, sweep=f"host:B@{t0!r}")
    assert (line_a.splitlines()[0], code_a) == (f"sweep: 1 completed -> {tmp_path}", 0)
    assert (line_b.splitlines()[0], code_b) == (f"sweep: 1 in use (job 0) -> {tmp_path}", 1)
    _sweep_env(monkeypatch, "A", t0)
    assert sweep.job_status(job) == "completed"
    _sweep_env(monkeypatch, "B", t0)
    assert sweep.job_status(job) == "in use"


EARLIER = {  # what an earlier sweep left in the directory -> this sweep's closing line
    "other folders": ({"0": "diverged", "1": "completed", "2": "failed"}, ["b0", "b1"],
                      {"b0": "completed", "b1": "completed"}, "sweep: 2 completed", 0),
    "its folders, refused": ({"0": "completed", "1": "completed", "2": "completed"}, [0, 1],
                             {0: "note: invalid", 1: "note: invalid"},
                             "sweep: 2 invalid (jobs 0, 1)", 1),
    "one left nothing": ({"0": "completed"}, [0, 1], {1: "completed"},
                         "sweep: 1 completed, 1 no record (job 0)", 1),
    "a count": ({"0": "completed", "5": "diverged"}, 2, {1: "completed"},
                "sweep: 1 completed, 1 no record (job 0)", 1),
}


@pytest.mark.parametrize("case", list(EARLIER))
def test_a_sweep_directory_given_again_is_counted_by_the_new_jobs(case, tmp_path, monkeypatch):
    """The closing line and the exit code count the new sweep's jobs only: neither an earlier
    sweep's records (older than the sweep, or in folders it does not run) nor its notes."""
    import json
    import os
    import time

    from dlproj.runtime import interrupt, sweep

    monkeypatch.setattr(interrupt, "_requested", None)
    before, expected, now, want, code = EARLIER[case]
    _sweep_env(monkeypatch, "old", time.time() - 7200)
    for name, status in before.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"status": status}))
        os.utime(tmp_path / name / "results.json", (time.time() - 3600,) * 2)
    sweep.note_unrecorded(tmp_path / "7", ["seed=7"], "invalid")  # the old sweep's note
    t0 = time.time()
    _sweep_env(monkeypatch, "new", t0)
    for name, ended in now.items():
        (tmp_path / str(name)).mkdir(exist_ok=True)
        if ended.startswith("note: "):
            sweep.note_unrecorded(tmp_path / str(name), ["seed=0"], ended.removeprefix("note: "))
        else:
            (tmp_path / str(name) / "results.json").write_text(json.dumps({"status": ended}))
    line, exit_code = sweep.outcome(tmp_path, expected, since=t0, sweep=sweep.sweep_id())
    assert (line.splitlines()[0], exit_code) == (f"{want} -> {tmp_path}", code)


@pytest.mark.parametrize("left", ["completed", "note: failed", "note: invalid", "nothing"])
@pytest.mark.parametrize("where", ["an older sweep's job", "a single run"])
def test_a_sweep_counts_a_job_that_continues_a_run_elsewhere(tmp_path, monkeypatch, capsys,
                                                            caplog, left, where):
    """`make reproduce`'s joblist resumes an interrupted run in its own folder, outside the new
    sweep's: the job lines and the closing line find that job in its folder (named from the
    folder above the sweep's, else in full; an own job of the same folder name is another), and
    count what it left: its new record, the note of a resume that never opened, or nothing."""
    import json
    import logging
    import time

    from hydra import initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from dlproj import paths
    from dlproj.config.compose import compose_config
    from dlproj.config.overrides import override
    from dlproj.runtime import interrupt, sweep

    monkeypatch.setattr(interrupt, "_requested", None)
    monkeypatch.setattr(interrupt, "_stop_file", None)
    for key in (sweep.ENV_JOBS, sweep.ENV_STARTED, sweep.ENV_STOP_FILE, sweep.ENV_LAUNCHER,
                sweep.ENV_ELSEWHERE, sweep.ENV_MADE):
        monkeypatch.delenv(key, raising=False)  # set by the sweep below; restored after
    outputs = tmp_path / "out"
    sweep_dir = outputs / "multirun" / "new"
    old = outputs / ("multirun/old/0" if where == "an older sweep's job" else "runs/old_s1_xor")
    name = "old/0" if where == "an older sweep's job" else str(old)
    old.mkdir(parents=True)
    (old / "results.json").write_text(json.dumps({"status": "interrupted"}))
    os.utime(old / "results.json", (time.time() - 3600,) * 2)  # the interrupted run's record
    resumed = ["seed=1", override("resume", old), override("hydra.sweep.dir", old.parent),
               override("hydra.sweep.subdir", old.name)]
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps([{"overrides": ["seed=0"], "phase": 0},
                                     {"overrides": resumed, "phase": 0}]))
    caplog.set_level(logging.INFO, logger="dlproj.sweep")
    with initialize_config_dir(version_base=None, config_dir=str(paths.CONF_DIR)):
        config = compose_config(["hydra/sweeper=joblist", override(
            "hydra.sweeper.jobs_file", jobs_file), override("hydra.sweep.dir", sweep_dir)],
            keep_hydra=True)
        outcome = sweep.SweepOutcome()
        outcome.on_multirun_start(config)
    try:
        (sweep_dir / "0").mkdir(parents=True)  # the sweep's own job 0 completes
        (sweep_dir / "0" / "results.json").write_text(json.dumps({"status": "completed"}))
        if left == "completed":
            (old / "results.json").write_text(json.dumps({"status": "completed"}))
        elif left.startswith("note: "):  # the resume never opened: the old record is as it was
            sweep.note_unrecorded(old, resumed, left.removeprefix("note: "))
        job = OmegaConf.create({"hydra": {
            "job": {"num": 1}, "runtime": {"output_dir": str(old)},
            "sweep": {"dir": str(old.parent), "subdir": old.name},
            "overrides": {"task": resumed}}})
        outcome.on_job_end(job, None)
    finally:
        with open_dict(config):
            with pytest.raises(SystemExit) if left != "completed" else contextlib.nullcontext():
                outcome.on_multirun_end(config)
    status = left.removeprefix("note: ") if left != "nothing" else "no record"
    ended = {"completed": "done", "no record": "left no record"}.get(status, status)
    counted = 2 if left != "nothing" else 1
    lines = [r.getMessage() for r in caplog.records if r.name == "dlproj.sweep"]
    assert lines[-1].startswith(f"job {name} {ended}; sweep: {counted}/2 jobs in "), lines
    closing = capsys.readouterr().err.splitlines()[0]
    assert closing == ("sweep: 2 completed" if status == "completed" else
                       f"sweep: 1 completed, 1 {status} (job {name})") + f" -> {sweep_dir}"
