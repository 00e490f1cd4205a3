"""`python -m dlproj.reproduce`: the plan (dlproj.reproduce.plan: no process, no network),
the launcher and the command line end to end: skipping what is done, parallel = serial, twin
jobs, `{run:STEP}`, invalid jobs, killed and interrupted runs resumed in place, runs still going
elsewhere left alone, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from dlproj.config import study as studies
from dlproj.config.cache import ComposeCache
from dlproj.files.atomic import write_json
from dlproj.report.runs import read_runs
from dlproj.reproduce import launch as launching
from dlproj.reproduce.cli import main
from dlproj.reproduce.plan import plan
from dlproj.runtime.resume import continue_in_sweep

TINY = """\
title: tiny
steps:
  xor:
    title: XOR
    section: 1
    overrides:
      experiment: xor
      train.epochs: 20
    seeds: 2
    cost: 1
  sin:
    title: sin by size
    section: 1
    overrides:
      experiment: sin
      model: "mlp_small,mlp_medium"
      train.epochs: 3
      params.n_train: 64
      params.n_test: 32
    cost: 2
  gradcheck:
    title: gradient check
    section: 2
    overrides:
      section: 2
      experiment: gradcheck
      params.max_entries: 20
      data.download: false
    cost: 1
"""
CHAIN = """\
steps:
  first:
    section: 1
    overrides: {experiment: mlp, train.epochs: 1}
    cost: 1
  second:
    section: 1
    after: first
    overrides: {experiment: mlp, checkpoint: "{run:first}/model.npz"}
    seeds: 2
    cost: 5
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """conf/study/ replaced by a folder holding `tiny.yaml` (5 jobs, seconds each). Its
    gradcheck job reads MNIST from the data folder (`make test` makes it) and never fetches it:
    `data.download: false` (a machine-local key: the setting is the same)."""
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    monkeypatch.setattr(studies, "STUDY_DIR", folder)
    return folder


# The jobs' setting ids, composed once for the module and shared by the plans below (composing
# is most of a plan's time; how the planner composes and caches them:
# test_each_setting_is_composed_once_and_cached). Never saved.
_SETTINGS = ComposeCache(Path(os.devnull))


def _plan(name, outputs, **kw):
    """The plan of study `name` against `outputs`, for a sweep into outputs/multirun/s."""
    return plan(studies.load(name), outputs, sweep_dir=outputs / "multirun" / "s",
                **{"cache": _SETTINGS, **kw})


def _records(outputs):
    """(setting, seed) -> (status, final metrics without timings), one per completed run under
    `outputs` (an outputs folder or a sweep's)."""
    runs, problems = read_runs(outputs, curves=False)
    assert not problems
    return {(r.setting, r.seed): (r.status, {k: v for k, v in r.metrics.items()
                                             if "seconds" not in k})
            for r in runs.itertuples()}


def _fake_run(outputs, name, job, status):
    """A run directory with a results.json of `status` for `job` (no process started)."""
    from dlproj.config.compose import compose

    run_dir = outputs / "runs" / name
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in job.overrides))
    cfg = compose(job.overrides)
    (run_dir / "results.json").write_text(json.dumps({
        "section": 1, "experiment": cfg["experiment"], "seed": job.seed, "status": status,
        "metrics": {}, "config": cfg, "setting": job.setting, "setting_label": "x"}))
    return run_dir


def _fake_killed_run(outputs, name, job, *, checkpoint=True):
    """What a SIGKILL leaves: .hydra/ and a `last.npz` (if `checkpoint`), no results.json."""
    from omegaconf import OmegaConf

    from dlproj.config.compose import compose

    run_dir = outputs / "runs" / name
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in job.overrides))
    OmegaConf.save(OmegaConf.create(compose(job.overrides)), run_dir / ".hydra" / "config.yaml")
    if checkpoint:
        (run_dir / "last.npz").write_bytes(b"")
    return run_dir


# --- The plan: states, numbers, `{run:STEP}`; no process started ---------------------------

@pytest.mark.parametrize("status, state", [
    ("completed", "done"), ("diverged", "done"), ("failed", "run"), ("interrupted", "resume"),
    ("incomplete", "run"),
])
def test_what_is_done_is_skipped_and_the_rest_runs(tiny, tmp_path, status, state):
    outputs, sweep = tmp_path / "out", tmp_path / "out" / "multirun" / "s"
    first = _plan("tiny", outputs)
    # Numbered for the sweep phase by phase, longest first; each in <sweep>/<num>.
    assert [j.step.id for j in first.todo] == ["sin", "sin", "xor", "xor", "gradcheck"]
    assert [j.num for j in first.todo] == [0, 1, 2, 3, 4]
    assert [j.result for j in first.todo] == [sweep / str(n) / "results.json" for n in range(5)]
    assert all(j.launch == j.overrides for j in first.todo)
    target = first.jobs[1]
    prior = _fake_run(outputs, "earlier", target, status)
    again = _plan("tiny", outputs)
    assert [j.state for j in again.jobs] == ["run" if j is not again.jobs[1] else state
                                             for j in again.jobs]
    assert len(again.jobs) == 5
    assert again.counts() == {"run": 4 + (state == "run"), "resume": int(state == "resume"),
                              "done": int(state == "done"), "invalid": 0, "twin": 0,
                              "running": 0}
    if status in ("completed", "diverged", "interrupted"):
        assert again.jobs[1].prior == prior
    # What is skipped is not numbered; the rest keep consecutive numbers.
    assert [j.num for j in again.todo] == list(range(len(again.todo)))
    assert (again.jobs[1] in again.todo) == (state != "done")
    # --force reruns what is done.
    forced = _plan("tiny", outputs, force=True)
    assert all(j.state == "run" for j in forced.jobs) and len(forced.todo) == 5


def test_an_interrupted_run_is_handed_to_resume_in_place(tiny, tmp_path):
    outputs = tmp_path / "out"
    job = _plan("tiny", outputs).jobs[0]
    prior = _fake_run(outputs, "stopped", job, "interrupted")
    planned = _plan("tiny", outputs)
    resumed = planned.jobs[0]
    assert (resumed.state, resumed.prior) == ("resume", prior)
    assert resumed in planned.todo
    assert resumed.result == prior / "results.json"  # continues in place
    # With the overrides it was started with, in its own directory, .hydra/ left as it is.
    assert resumed.launch == continue_in_sweep(prior) == [
        *job.overrides, f"resume={prior}", f"hydra.sweep.dir={prior.parent}",
        f"hydra.sweep.subdir={prior.name}"]
    # Without a record of how it was started it runs again from scratch, in the sweep.
    (prior / ".hydra" / "overrides.yaml").unlink()
    assert continue_in_sweep(prior) is None
    again = _plan("tiny", outputs).jobs[0]
    assert again.state == "run" and again.launch == again.overrides
    assert again.result.parent.parent == outputs / "multirun" / "s"


def test_a_killed_run_is_resumed_and_one_still_going_is_left_to_it(tiny, tmp_path):
    """No results.json: a free directory lock and a checkpoint mean killed (resume it), a held
    lock means still running elsewhere (leave it), no checkpoint means run it again."""
    from dlproj.runtime.owner import lock as hold

    outputs = tmp_path / "out"
    job = _plan("tiny", outputs).jobs[2]
    run_dir = _fake_killed_run(outputs, "killed", job)
    killed = _plan("tiny", outputs).jobs[2]
    assert (killed.state, killed.prior, killed.result) == ("resume", run_dir,
                                                           run_dir / "results.json")
    assert killed.launch[-3:] == [f"resume={run_dir}", f"hydra.sweep.dir={run_dir.parent}",
                                  f"hydra.sweep.subdir={run_dir.name}"]
    lock = hold(run_dir)
    try:
        planned = _plan("tiny", outputs)
        going = planned.jobs[2]
        assert (going.state, going.prior) == ("running", run_dir)
        assert going.reason == f"running in another process: {run_dir}"
        assert going not in planned.todo and going.num is None
        assert planned.counts()["running"] == 1
        assert _plan("tiny", outputs, force=True).jobs[2].state == "run"
    finally:
        os.close(lock)
    (run_dir / "last.npz").unlink()  # as if killed inside its first epoch
    again = _plan("tiny", outputs).jobs[2]
    assert (again.state, again.prior) == ("run", None)


class _Queued:
    """A sweep that never starts its jobs (subprocess.Popen for `launch`): they stay queued."""

    returncode = 0

    def __init__(self, *args, **kwargs):
        pass

    def poll(self):
        return 0


def _queue(jobs, outputs, log_dir):
    """The jobs.json a reproduce's `launch` writes for its sweep, `jobs` in it (none started)."""
    launching.launch(jobs, steps=3, outputs=outputs, sweep_dir=outputs / "multirun" / "q",
                     log_dir=log_dir, workers=1, launcher="joblib")
    return log_dir / "jobs.json"


@pytest.mark.parametrize("case", ["its sweep", "its sweep from the start", "an earlier one's",
                                  "an older version's", "not a jobs file"])
def test_the_jobs_a_reproduce_still_going_queued_are_left_to_it(tiny, tmp_path, monkeypatch,
                                                                  capsys, case):
    """What a `python -m dlproj.reproduce` still going leaves on the outputs folder: its lock
    (cli.hold_outputs) and its sweep's jobs.json (launch). A plan (a --dry-run's, here) leaves
    the jobs queued there to it, started or not (`running`), beside other jobs files (an
    earlier reproduce's, killed; one it cannot read), and plans them again once it has summed
    up (summary.json) or is gone (its lock free)."""
    from dlproj.reproduce.cli import hold_outputs

    monkeypatch.setattr(launching.subprocess, "Popen", _Queued)
    outputs, logs = tmp_path / "out", tmp_path / "out" / "reproduce"
    planned = _plan("tiny", outputs)
    xor, sin = ([j for j in planned.todo if j.step.id == step] for step in ("xor", "sin"))
    if case == "an earlier one's":  # killed before it ran them, its lock long free
        old = _queue(sin, outputs, logs / "2026-12-01_10-00-00.000000_tiny")
        os.utime(old, (time.time() - 60,) * 2)
    with hold_outputs(outputs):
        log_dir = logs / "2026-12-06_10-00-00.000000_tiny"
        where = log_dir / "from_the_start" if case == "its sweep from the start" else log_dir
        queued = _queue(xor, outputs, where)
        other = logs / "2026-12-06_09-00-00.000000_course" / "jobs.json"
        if case == "an older version's":  # jobs without their (setting, seed)
            write_json(other, [{"num": 0, "phase": 0, "overrides": j.overrides} for j in sin])
        elif case == "not a jobs file":
            write_json(other, {str(j.num): j.overrides for j in sin})
        assert main(["--study", "tiny", "--outputs", str(outputs), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "3 to run, 0 to resume, 0 already done (skipped), 0 invalid, 0 run by another " \
               "step, 2 running elsewhere" in out, out
        why = f"queued by another reproduce (pid {os.getpid()}, started "
        assert out.count("running: step 1 XOR: seed=") == 2 and out.count(why) == 2, out
        assert str(queued) in out and "[1] python -m dlproj -m experiment=xor" in out
        again = _plan("tiny", outputs)
        assert [j.step.id for j in again.todo] == ["sin", "sin", "gradcheck"]
        assert {(j.state, j.prior) for j in again.jobs if j.step.id == "xor"} == {
            ("running", None)}
        write_json(log_dir / "summary.json", {})  # its sweep is over: it runs none of them now
        assert [j.step.id for j in _plan("tiny", outputs).todo].count("xor") == 2
        (log_dir / "summary.json").unlink()
    assert [j.step.id for j in _plan("tiny", outputs).todo].count("xor") == 2  # gone


def test_a_run_two_steps_share_runs_once(tiny, tmp_path):
    (tiny / "twins.yaml").write_text("""\
steps:
  one:
    section: 1
    overrides: {experiment: xor, train.epochs: 20}
    seeds: 2
  two:
    section: 1
    overrides: {experiment: xor, train.epochs: "20,30"}
""")
    outputs = tmp_path / "out"
    planned = _plan("twins", outputs)
    assert [(j.step.id, j.state) for j in planned.jobs] == [
        ("one", "run"), ("one", "run"), ("two", "twin"), ("two", "run")]
    twin = planned.jobs[2]
    assert twin.reason == "the same run as step 1" and twin.setting == planned.jobs[0].setting
    assert len(planned.todo) == 3 and twin not in planned.todo
    # Once it is done, both steps find it done.
    done = _fake_run(outputs, "done", planned.jobs[0], "completed")
    again = _plan("twins", outputs)
    assert [(j.state, j.prior) for j in again.jobs[::2]] == [("done", done), ("done", done)]


def test_after_and_run_placeholder_chain_jobs(tiny, tmp_path):
    (tiny / "chain.yaml").write_text(CHAIN)
    outputs, sweep = tmp_path / "out", tmp_path / "out" / "multirun" / "s"
    planned = _plan("chain", outputs)
    assert [(j.step.id, j.phase, j.num) for j in planned.todo] == [
        ("first", 0, 0), ("second", 1, 1), ("second", 1, 2)]
    assert f"checkpoint={sweep / '0'}/model.npz" in planned.todo[1].overrides
    assert planned.todo[1].launch == planned.todo[1].overrides
    # Once `first` is done, `second` points at that run instead.
    done = _fake_run(outputs, "first_done", planned.jobs[0], "completed")
    (done / "model.npz").write_bytes(b"")
    planned = _plan("chain", outputs)
    assert [j.step.id for j in planned.todo] == ["second", "second"]
    assert [j.num for j in planned.todo] == [0, 1]
    assert f"checkpoint={done}/model.npz" in planned.todo[0].overrides


@pytest.mark.parametrize("second", ["to run", "to resume", "done"])
def test_a_done_run_that_lost_the_file_a_later_step_reads_runs_again(tiny, tmp_path, second):
    """`first` completed, but its model.npz is gone: a `second` job still to run (or resume)
    would fail on it every time reproduce is run, so `first` runs again, into this sweep, and
    `second` reads the new run's file; a `second` already done needs nothing of it."""
    (tiny / "chain.yaml").write_text(CHAIN)
    outputs, sweep = tmp_path / "out", tmp_path / "out" / "multirun" / "s"
    jobs = _plan("chain", outputs).jobs
    done = _fake_run(outputs, "first_done", jobs[0], "completed")
    if second != "to run":  # both of its jobs, in runs that read the old file
        for i, job in enumerate(jobs[1:]):
            job.overrides = [o.replace("{run:first}", str(done)) for o in job.overrides]
            if second == "done":
                _fake_run(outputs, f"second_done{i}", job, "completed")
            else:
                _fake_killed_run(outputs, f"second_killed{i}", job)
    planned = _plan("chain", outputs)
    if second == "done":
        assert planned.todo == [] and planned.jobs[0].state == "done"
        return
    first = planned.jobs[0]
    assert (first.state, first.num, first.reason) == ("run", 0, f"{done} lacks model.npz")
    assert [j.step.id for j in planned.todo] == ["first", "second", "second"]
    if second == "to run":
        assert f"checkpoint={sweep / '0'}/model.npz" in planned.todo[1].launch


def test_a_job_whose_run_placeholder_cannot_be_made_is_invalid(tiny, tmp_path):
    from dlproj.runtime.owner import lock as hold

    (tiny / "chain.yaml").write_text(CHAIN)
    outputs = tmp_path / "out"
    first = _plan("chain", outputs).jobs[0]
    run_dir = _fake_killed_run(outputs, "first_going", first)
    lock = hold(run_dir)  # `first` is still running elsewhere
    try:
        planned = _plan("chain", outputs)
    finally:
        os.close(lock)
    assert [j.state for j in planned.jobs] == ["running", "invalid", "invalid"]
    assert {j.reason for j in planned.jobs[1:]} == {"needs step 'first', which cannot run"}
    assert planned.todo == [] and planned.counts()["invalid"] == 2


@pytest.mark.parametrize("change, args, said", [
    (("cost: 1", "seeds: 2\n    cost: 1"), [], "step 'first' has 2 jobs here"),  # which run?
    (("section: 1", "section: 2"), ["--sections", "1"], "step 'first' has 0 jobs here"),
    (("{run:first}", "{run:frist}"), [], "`{run:frist}` without `after: frist`"),  # misspelt
    (("    after: first\n", ""), [], "`{run:first}` without `after: first`"),  # not made yet
])
def test_a_run_placeholder_that_names_no_one_earlier_run_is_refused(tiny, tmp_path, capsys,
                                                                    change, args, said):
    """`{run:STEP}` is the run of the one job of the step it comes `after:`: a study file (or a
    --sections) where it is not is one paragraph and exit 2, not a traceback nor jobs that
    start before the run they read exists."""
    (tiny / "chain.yaml").write_text(CHAIN.replace(*change, 1))
    assert main(["--study", "chain", "--outputs", str(tmp_path / "o"), "--dry-run", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlproj reproduce: In study 'chain', step 'second': `{run:")
    assert said in err


def test_each_setting_is_composed_once_and_cached(tiny, tmp_path, monkeypatch):
    from dlproj.config import compose as composing

    outputs = tmp_path / "out"
    cache = ComposeCache(outputs)
    planned = _plan("tiny", outputs, cache=cache)
    assert not outputs.exists()  # the plan writes nothing; the caller saves the cache
    # xor's two seeds share one setting
    assert len(cache.entries["settings"]) == 4 and cache.changed
    cache.save()
    # Read back, nothing is composed again.
    monkeypatch.setattr(composing, "compose_config", lambda overrides: 1 / 0)
    again = _plan("tiny", outputs, cache=ComposeCache(outputs))
    assert [j.setting for j in again.jobs] == [j.setting for j in planned.jobs]
    assert all(j.state == "run" for j in again.jobs)
    # Another conf/ (another fingerprint): the cache is not used.
    saved = json.loads(cache.path.read_text())
    cache.path.write_text(json.dumps({**saved, "fingerprint": "other"}))
    assert ComposeCache(outputs).entries == {}
    stale = _plan("tiny", outputs, cache=None)  # the planner's own: the outputs folder's
    assert {j.state for j in stale.jobs} == {"invalid"}
    assert stale.jobs[0].reason.startswith("ZeroDivisionError")


def test_planning_starts_no_process_and_reaches_no_network(tiny, tmp_path, monkeypatch):
    import socket
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError("the planner must not start processes or open connections")

    for module, name in ((subprocess, "Popen"), (subprocess, "run"), (os, "system"),
                         (socket, "create_connection"), (socket.socket, "connect")):
        monkeypatch.setattr(module, name, refuse)
    (tiny / "chain.yaml").write_text(CHAIN)
    planned = _plan("chain", tmp_path / "out", cache=None)  # every setting composed here
    assert [j.state for j in planned.jobs] == ["run", "run", "run"]


# --- The launcher and the command line ------------------------------------------------------

def test_progress_lines_count_jobs_and_estimate_what_is_left(tiny, tmp_path, monkeypatch):
    todo = _plan("tiny", tmp_path / "out").todo  # costs 2, 2, 1, 1, 1
    monkeypatch.setattr(launching.time, "time", lambda: 1000.0)
    progress = launching.Progress(todo, steps=3, workers=2, started=990.0)
    assert progress.eta() == 3.5  # nothing finished: the costs over the workers
    todo[0].status, todo[0].wall = "completed", 5.2
    assert progress.eta() == 25.0  # 10 s for cost 2: 5 s per unit, 5 units left
    assert progress.line(todo[0]) == ("[1/5 jobs, 0:10 elapsed, ETA 0:25] step 2/3 sin by "
                                      "size: model=mlp_small: completed in 5s")
    todo[1].status = "failed"
    assert progress.line(todo[1]).endswith("model=mlp_medium: failed")


def test_the_jobs_go_to_one_hydra_multirun(tmp_path):
    jobs_file, sweep = tmp_path / "jobs.json", tmp_path / "sweep"
    cmd = launching.sweep_command(jobs_file, sweep_dir=sweep, workers=3, launcher="joblib")
    assert cmd[1:] == ["-m", "dlproj", "-m", "hydra/sweeper=joblist",
                       f"hydra.sweeper.jobs_file={jobs_file}", "hydra/launcher=joblib",
                       f"hydra.sweep.dir={sweep}", "~hydra.callbacks.aggregate",
                       "hydra.launcher.n_jobs=3"]
    slurm = launching.sweep_command(jobs_file, sweep_dir=sweep, workers=3, launcher="slurm")
    assert "hydra/launcher=slurm" in slurm and not any("n_jobs" in a for a in slurm)
    local = launching.sweep_command(jobs_file, sweep_dir=sweep, workers=3,
                                    launcher="submitit_local")
    assert "hydra.sweeper.max_batch_size=3" in local


@pytest.mark.slow
def test_jobs_side_by_side_are_at_most_jobs_with_submitit_local(tiny, tmp_path):
    """submitit_local starts every job it is given at once: reproduce hands it --jobs at a
    time, so that no more than that many run side by side (each run's interval: from its
    results.json's time back by its wall time)."""
    outputs = tmp_path / "out"
    assert main(["--study", "tiny", "--outputs", str(outputs), "--jobs", "2",
                 "--launcher", "submitit_local"]) == 0
    spans = []
    for path in outputs.glob("multirun/*/*/results.json"):
        end = path.stat().st_mtime
        spans.append((end - json.loads(path.read_text())["wall_seconds"], end))
    assert len(spans) == 5
    most = max(sum(start < t < end for start, end in spans) for t in
               [start + 1e-3 for start, _ in spans])
    assert most <= 2, sorted(spans)


def test_never_more_jobs_side_by_side_than_jobs(tiny, tmp_path, capsys):
    """`--jobs 100000` started as many joblib workers as it could (hundreds for 6 jobs, until
    memory ran out): the sweep gets at most one worker per job it runs (here 1 of 8 asked)."""
    outputs = tmp_path / "out"
    assert main(["--study", "tiny", "--outputs", str(outputs), "--jobs", "8",
                 "--sections", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 to run" in out and "1 side by side (joblib)" in out, out
    assert re.search(r"hydra\.launcher\.n_jobs=1$", out, re.M), out


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_sweep_refused_before_its_first_job_says_why(tiny, tmp_path, capsys, launcher):
    """A sweep that could not start (here `multirun` is a file, where its folder goes) counted
    each job as failed, the reason only in sweep.log: its own paragraph is printed, and its
    jobs are not started, with a non-zero exit."""
    outputs = tmp_path / "out"
    outputs.mkdir()
    (outputs / "multirun").write_text("a file where the sweeps' folder goes")
    assert main(["--study", "tiny", "--outputs", str(outputs), "--sections", "2",
                 "--launcher", launcher]) == 1
    out = capsys.readouterr().out
    said = re.search(r"^reproduce: the sweep did not start \(exit \d+\): (.+)$", out, re.M)
    assert said and "multirun" in said[1], out
    assert "1 jobs: 0 completed, 0 failed, 0 diverged, 0 interrupted, 1 not started" in out, out


@pytest.mark.slow
def test_second_run_skips_every_job_and_jobs_2_equals_jobs_1(tiny, tmp_path, capsys):
    """Two sweeps: the study with two jobs at a time, then again with --force and one job at
    a time into the same outputs (between them a run that finds everything done)."""
    outputs = tmp_path / "out"
    assert main(["--study", "tiny", "--outputs", str(outputs), "--jobs", "2"]) == 0
    first = capsys.readouterr().out
    assert "5 to run, 0 to resume, 0 already done" in first
    assert "[5/5 jobs" in first and "ETA" in first and "step 2/3 sin by size" in first
    assert "5 jobs: 5 completed, 0 failed" in first
    records = _records(outputs)
    assert len(records) == 5 and {s for s, _ in records.values()} == {"completed"}
    sweeps = list((outputs / "multirun").iterdir())

    # Nothing left to do: every job is skipped, no new sweep starts.
    assert main(["--study", "tiny", "--outputs", str(outputs), "--jobs", "2"]) == 0
    second = capsys.readouterr().out
    assert "0 to run, 0 to resume, 5 already done (skipped)" in second
    assert "report up to date" in second  # built from these very runs by the first
    assert list((outputs / "multirun").iterdir()) == sweeps

    # --force reruns everything; one job at a time gives the same records: to float32
    # round-off, since a job alone gets both cores and splits its steps' batches across them
    # (threads: auto, dlproj.runtime.threads).
    assert main(["--study", "tiny", "--outputs", str(outputs), "--jobs", "1", "--force"]) == 0
    assert "5 to run" in capsys.readouterr().out
    (forced,) = set((outputs / "multirun").iterdir()) - set(sweeps)
    alone = _records(forced)  # the forced sweep's runs
    assert alone.keys() == records.keys()
    for key, (status, metrics) in records.items():
        assert alone[key][0] == status and alone[key][1].keys() == metrics.keys()
        assert alone[key][1] == pytest.approx(metrics, rel=1e-4, abs=1e-6), key

    # The report counts each (setting, seed) once.
    from dlproj.report.build import build_report

    report = build_report(outputs, outputs / "report", figures=False)
    assert list(report.rows["n"]) == [1, 1, 2, 1] and len(report.superseded) == 5


def _report_cases():
    """What makes a report stale though no run is newer than it; each takes (outputs, tiny)."""
    import shutil

    def copied_in(outputs, tiny):  # `cp -a` of a run finished elsewhere, before the report
        elsewhere = _fake_run(tiny.parent / "cluster", "g", _plan("tiny", outputs).jobs[4],
                              "completed")
        old = time.time_ns() - 86_400 * 10**9
        for path in [elsewhere, *elsewhere.rglob("*")]:
            os.utime(path, ns=(old, old))
        shutil.copytree(elsewhere, outputs / "multirun" / "merged" / "0")

    def edited(outputs, tiny):  # the same mtime, another size
        path = outputs / "runs" / "xor1" / "results.json"
        before = path.stat()
        path.write_text(path.read_text().replace('"metrics": {}', '"metrics": {"loss": 0.5}'))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert path.stat().st_size != before.st_size

    def another_study(outputs, tiny):
        (tiny / "other.yaml").write_text(TINY)
        report_main(["--outputs", str(outputs), "--study", "other", "--quiet"])

    return {
        "unchanged": (lambda outputs, tiny: None, 2),
        "a run deleted": (lambda outputs, tiny: shutil.rmtree(outputs / "runs" / "xor1"), 1),
        "a run copied in with its old mtime": (copied_in, 3),
        "a report of another study": (another_study, 2),
        "a report without figures": (lambda outputs, tiny: report_main(
            ["--outputs", str(outputs), "--study", "tiny", "--no-figures", "--quiet"]), 2),
        "a results.json edited, its mtime restored": (edited, 2),
        "the study file edited": (lambda outputs, tiny: (tiny / "tiny.yaml").write_text(
            TINY.replace("title: tiny", "title: tinier")), 2),
        "a report cut short": (lambda outputs, tiny: (outputs / "report" / "inputs.json").unlink(),
                               2),
    }


def report_main(argv):
    from dlproj.report.__main__ import main as build

    assert build(argv) == 0


@pytest.mark.parametrize("case", list(_report_cases()))
def test_the_report_is_rebuilt_unless_built_from_the_same_inputs(tiny, tmp_path, capsys, case):
    """Reproduce's last step keeps the report only when it was built, in full, from exactly
    these runs, this study file and with figures; a newest-mtime check missed every case here
    (no process started: the runs are fake)."""
    from dlproj.reproduce.report_inputs import refresh

    change, runs = _report_cases()[case]
    outputs = tmp_path / "out"
    for job in _plan("tiny", outputs).jobs[:2]:
        _fake_run(outputs, f"xor{job.seed}", job, "completed")
    refresh(outputs, "tiny", rebuild=False)  # no report yet: built
    refresh(outputs, "tiny", rebuild=False)
    assert "report up to date" in capsys.readouterr().out
    change(outputs, tiny)
    capsys.readouterr()
    refresh(outputs, "tiny", rebuild=False)
    assert ("report up to date" in capsys.readouterr().out) == (case == "unchanged")
    assert (outputs / "report" / "results.md").read_text().startswith(f"# Results\n\n{runs} runs")
    refresh(outputs, "tiny", rebuild=False)  # the rebuilt report recorded its inputs
    assert "report up to date" in capsys.readouterr().out


def test_an_invalid_job_is_reported_and_never_launched(tiny, tmp_path, capsys):
    (tiny / "bad.yaml").write_text("""\
steps:
  bad:
    section: 1
    overrides: {experiment: xor, optimizer.lr: 0}
""")
    outputs = tmp_path / "out"
    assert main(["--study", "bad", "--outputs", str(outputs)]) == 1
    out = capsys.readouterr().out
    assert "0 to run, 0 to resume, 0 already done (skipped), 1 invalid" in out
    assert "Invalid value for 'optimizer.lr'" in out
    assert not (outputs / "multirun").exists()
    assert read_runs(outputs)[0].empty


def test_dry_run_prints_the_commands(tiny, tmp_path, capsys):
    assert main(["--study", "tiny", "--outputs", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[1] python -m dlproj -m experiment=xor train.epochs=20 seed=0,1   # 2 jobs" in out
    assert "[2] python -m dlproj -m experiment=sin model=mlp_small,mlp_medium" in out
    assert "5 to run, 0 to resume, 0 already done (skipped), 0 invalid" in out
    assert not (tmp_path / "o").exists()  # not even the setting cache


CLAIMED = TINY + """\
claims:
  xor_epochs:
    quote: More epochs, lower loss.
    report_section: "0"
    section: 1
    experiment: xor
    arms: {twenty: {train.epochs: 20}, thirty: {train.epochs: 30}}
    metric: train_loss
    direction: lower
    steps: [xor]
"""


def test_more_seeds_for_the_claims_run_only_the_new_seeds(tiny, tmp_path, capsys):
    """`--seeds N` gives the steps a claim compares N seeds: the seeds done stay done, the same
    setting; only the new ones are planned (no process started)."""
    (tiny / "claimed.yaml").write_text(CLAIMED)
    outputs = tmp_path / "out"
    before = _plan("claimed", outputs)
    for job in before.jobs:
        if job.step.id == "xor":
            _fake_run(outputs, f"xor{job.seed}", job, "completed")
    compared = {s for claim in studies.claims("claimed") for s in claim.steps}
    study = studies.load("claimed").with_seeds(compared, 4)
    more = plan(study, outputs, sweep_dir=outputs / "multirun" / "s", cache=_SETTINGS)
    xor = [j for j in more.jobs if j.step.id == "xor"]
    assert [(j.seed, j.state) for j in xor] == [(0, "done"), (1, "done"), (2, "run"), (3, "run")]
    assert {j.setting for j in xor} == {before.jobs[0].setting}
    assert [j.step.id for j in more.todo] == ["sin", "sin", "xor", "xor", "gradcheck"]
    assert [(j.seed, j.num) for j in more.todo if j.step.id == "xor"] == [(2, 2), (3, 3)]
    # The command line: the study's claim steps get the seeds, the others keep theirs.
    assert main(["--study", "claimed", "--outputs", str(outputs), "--dry-run",
                 "--seeds", "4"]) == 0
    out = capsys.readouterr().out
    assert "[1] python -m dlproj -m experiment=xor train.epochs=20 seed=0,1,2,3   # 4 jobs, " \
           "2 to run" in out
    assert "[3] python -m dlproj section=2 experiment=gradcheck" in out
    with pytest.raises(SystemExit):
        main(["--study", "claimed", "--outputs", str(outputs), "--dry-run", "--seeds", "0"])
    assert "--seeds 0: allowed: an integer >= 1" in capsys.readouterr().err


COURSE_NUMBER = """\
course:
  numbers:
    xor: {section: 1, experiment: xor, label: XOR, metric: train_acc, value: 1.0, shown: "1.0",
          protocol: nope}
"""


@pytest.mark.parametrize("study, said", [
    (CLAIMED.replace("steps: [xor]", "steps: [xro]"), "claim 'xor_epochs': `steps: ['xro']`"),
    (CLAIMED.replace("direction: lower", "direction: down"), "`direction: down`"),
    (TINY + COURSE_NUMBER, "course number 'xor': `protocol: nope` names no protocol"),
])
def test_a_study_whose_report_cannot_be_built_runs_nothing(tiny, tmp_path, capsys, study, said):
    """What the report reads of the study file (its claims, course numbers, figures) is checked
    before any job runs: one paragraph and exit 2, not the whole study run first and its report
    refused at the end."""
    (tiny / "odd.yaml").write_text(study)
    assert main(["--study", "odd", "--outputs", str(tmp_path / "o"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlproj reproduce: In study 'odd', ") and said in err, err


def test_a_report_that_cannot_be_written_fails_the_reproduce(tiny, tmp_path, capsys):
    """The jobs ran, the report did not: the exit says so, and the last line does not point at
    a report that is not there."""
    (tiny / "one.yaml").write_text("steps:\n  xor:\n    section: 1\n    overrides: "
                                   "{experiment: xor, train.epochs: 5}\n")
    outputs = tmp_path / "o"
    outputs.mkdir()
    (outputs / "report").write_text("")  # a file where the report's folder goes
    assert main(["--study", "one", "--outputs", str(outputs), "--jobs", "1"]) == 1
    out, err = capsys.readouterr()
    assert "1 completed" in out and "report: not written" in out.splitlines()[-1]
    assert f"dlproj.report: cannot write {outputs / 'report'}" in err


LONG_XOR = """\
title: one long XOR run
steps:
  xor:
    title: XOR, 1500 epochs
    section: 1
    overrides:
      experiment: xor
      train.epochs: 1500
      train.checkpoint_min_seconds: 0
      train.log_every: 1
    cost: 1
"""


def _long_study(folder, monkeypatch):
    """conf/study/ replaced by `folder` holding `long.yaml` (LONG_XOR)."""
    folder.mkdir(exist_ok=True)
    (folder / "long.yaml").write_text(LONG_XOR)
    monkeypatch.setattr(studies, "STUDY_DIR", folder)


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory):
    """metrics.csv of the LONG_XOR job run straight through (timings left out): what a run of
    it interrupted or killed and then resumed must end as. Run once, in this process
    (conftest.run_here: the entry point of `python -m dlproj`)."""
    from conftest import run_here
    from test_interrupt_resume import _rows

    tmp = tmp_path_factory.mktemp("long_reference")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _long_study(tmp / "studies", monkeypatch)
        (job,) = _plan("long", tmp / "unused").jobs
    reference = run_here([*job.overrides, "figures=false"], tmp / "outputs")  # its rows alone
    assert reference.proc.returncode == 0, reference.output
    return _rows(reference.run_dir / "metrics.csv")


@pytest.fixture(scope="module")
def long_interrupted(tmp_path_factory):
    """(outputs, run dir): the LONG_XOR job started for real and stopped by a real SIGINT after
    50 epochs, once for the module; read-only: a test takes a copy into its own outputs
    (_interrupted_into)."""
    from test_interrupt_resume import interrupt_after

    tmp = tmp_path_factory.mktemp("long_interrupted")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _long_study(tmp / "studies", monkeypatch)
        (job,) = _plan("long", tmp / "unused").jobs
    proc, run_dir = interrupt_after(job.overrides, tmp / "out", signal.SIGINT, epochs_done=50)
    assert proc.returncode == 130, proc.stderr
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    return tmp / "out", run_dir


def _interrupted_into(outputs, long_interrupted):
    """A copy of the module's interrupted LONG_XOR run at the same place under `outputs` (a
    resume continues the directory it is given; the planner finds a run by its files)."""
    import shutil

    where, run_dir = long_interrupted
    return Path(shutil.copytree(run_dir, outputs / run_dir.relative_to(where)))


def test_an_interrupted_run_is_resumed_in_place(tmp_path, monkeypatch, long_reference,
                                                long_interrupted):
    """A real SIGINT leaves an interrupted run; reproduce continues it in its own directory
    (not from scratch) and it ends as the uninterrupted run does."""
    from test_interrupt_resume import _rows

    _long_study(tmp_path / "studies", monkeypatch)
    outputs = tmp_path / "out"
    run_dir = _interrupted_into(outputs, long_interrupted)
    stopped = json.loads((run_dir / "results.json").read_text())
    assert stopped["status"] == "interrupted"

    (again,) = _plan("long", outputs).jobs
    assert (again.state, again.prior) == ("resume", run_dir)
    assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed"
    assert record["resumed_from_epoch"] == stopped["last_epoch"]
    assert len(list(outputs.rglob("metrics.csv"))) == 1  # nothing was started afresh
    assert _rows(run_dir / "metrics.csv") == long_reference
    (done,) = _plan("long", outputs).jobs
    assert done.state == "done"
    assert _closing_line(outputs) == "sweep: 1 completed"  # its job is found in its own folder


def _closing_line(outputs: Path, sweep: str = "") -> str:
    """The closing line of the (one) reproduce's sweep, or its `sweep` (`from_the_start`), as its
    sweep.log ends, less the sweep folder it names."""
    (log,) = outputs.glob(f"reproduce/*/{sweep}/sweep.log".replace("//", "/"))
    return log.read_text().splitlines()[-1].rpartition(" -> ")[0]


@pytest.mark.parametrize("damage", ["checkpoint cut short", "metrics.csv removed"])
def test_a_run_whose_resume_is_refused_runs_again_from_the_start(tmp_path, monkeypatch, capsys,
                                                                 long_reference, damage,
                                                                 long_interrupted):
    """An interrupted run that cannot be resumed (its resume is refused and leaves it as it was)
    is not handed to a failing resume every time reproduce runs: the same reproduce runs its job
    again from the start, which ends as the uninterrupted run does, and the next has nothing to
    do. The run that could not be resumed is left as it was."""
    from test_interrupt_resume import _files, _rows

    _long_study(tmp_path / "studies", monkeypatch)
    outputs = tmp_path / "out"
    run_dir = _interrupted_into(outputs, long_interrupted)
    if damage == "checkpoint cut short":
        (run_dir / "last.npz").write_bytes((run_dir / "last.npz").read_bytes()[:1000])
    else:
        (run_dir / "metrics.csv").unlink()
    before = _files(run_dir)
    capsys.readouterr()
    assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 run(s) could not be resumed" in out and "1 completed, 0 failed" in out, out
    assert _files(run_dir) == before
    (fresh,) = [p.parent for p in outputs.glob("multirun/*_from_the_start/*/results.json")]
    assert json.loads((fresh / "results.json").read_text())["status"] == "completed"
    assert _rows(fresh / "metrics.csv") == long_reference
    (done,) = _plan("long", outputs).jobs
    assert (done.state, done.prior) == ("done", fresh)
    assert _closing_line(outputs) == f"sweep: 1 failed (job {run_dir})"  # the refused resume
    assert _closing_line(outputs, "from_the_start") == "sweep: 1 completed"


def _killed_run(tmp_path, monkeypatch, epochs_done):
    """The LONG_XOR study's job started for real and SIGKILLed after `epochs_done` epochs."""
    from test_interrupt_resume import interrupt_after

    _long_study(tmp_path / "studies", monkeypatch)
    outputs = tmp_path / "out"
    (job,) = _plan("long", outputs).jobs
    proc, run_dir = interrupt_after(job.overrides, outputs, signal.SIGKILL,
                                    epochs_done=epochs_done)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()
    return job, outputs, run_dir


def _resume_killed(outputs, run_dir, reference):
    """reproduce continues the killed run from last.npz in place; it ends as the uninterrupted
    run does."""
    from test_interrupt_resume import _rows

    (again,) = _plan("long", outputs).jobs
    assert (again.state, again.prior) == ("resume", run_dir)
    assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed"
    assert record["resumed_from_epoch"] >= 1
    assert len(list(outputs.rglob("metrics.csv"))) == 1  # nothing was started afresh
    assert _rows(run_dir / "metrics.csv") == reference


@pytest.mark.parametrize("epochs_done", [1, 400])  # 40: the next test
def test_a_killed_run_is_resumed_from_its_checkpoint(tmp_path, monkeypatch, long_reference,
                                                     epochs_done):
    """SIGKILL leaves no results.json (nothing can be written); the run's free directory lock
    says no process owns it any more, so reproduce continues it from last.npz in place, and it
    ends as the uninterrupted run does. Without last.npz (killed inside its first epoch) it
    would run again from scratch."""
    job, outputs, run_dir = _killed_run(tmp_path, monkeypatch, epochs_done)
    checkpoint = run_dir / "last.npz"
    assert checkpoint.is_file()
    checkpoint.rename(tmp_path / "last.npz")  # as if killed inside its first epoch
    (again,) = _plan("long", outputs).jobs
    assert (again.state, again.prior) == ("run", None)
    (tmp_path / "last.npz").rename(checkpoint)
    _resume_killed(outputs, run_dir, long_reference)


def test_a_run_another_process_holds_is_left_to_it(tmp_path, monkeypatch, capsys,
                                                    long_reference):
    """A directory without results.json whose lock is held is a run still going (another
    reproduce, a user's own command): neither resumed nor rerun, and `resume=` refuses it.
    Once its lock is free it is a killed run (here after 40 epochs), resumed from last.npz."""
    from conftest import run_dlproj

    from dlproj.runtime.owner import lock as hold

    job, outputs, run_dir = _killed_run(tmp_path, monkeypatch, 40)
    before = (run_dir / "metrics.csv").read_bytes()
    lock = hold(run_dir)
    try:
        (again,) = _plan("long", outputs).jobs
        assert (again.state, again.prior) == ("running", run_dir)
        assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
        out = capsys.readouterr().out
        assert "1 running elsewhere" in out and f"running in another process: {run_dir}" in out
        refused = run_dlproj([f"resume={run_dir}"], tmp_path / "unused")
        assert refused.proc.returncode == 2
        assert "in use by another process" in refused.proc.stderr
        # Inside a multirun (reproduce's own resume hand-off): noted for the sweep's line.
        from dlproj.config.compose import compose_config
        from dlproj.runtime import runner, sweep

        cfg = compose_config(job.overrides)
        record = runner.execute(cfg, run_dir, is_multirun=True, overrides=job.overrides)
        assert record["status"] == "in use"
        line, code = sweep.outcome(run_dir.parent)
        assert f"1 in use (job {run_dir.name})" in line and code == 1
        (run_dir.parent / sweep.UNRECORDED / f"{run_dir.name}.json").unlink()
        assert (run_dir / "metrics.csv").read_bytes() == before
        assert not (run_dir / "results.json").exists()
    finally:
        os.close(lock)
    _resume_killed(outputs, run_dir, long_reference)


def _interrupt_when(outputs, epochs_done, times):
    """A thread that sends this process SIGINT (Ctrl-C) `times` times once a run under
    `outputs` has `epochs_done` epochs in its metrics.csv."""
    def _data_rows(path: Path) -> int:
        try:
            return max(0, len(path.read_text().splitlines()) - 1)  # less the header
        except OSError:
            return 0

    def watch():
        deadline = time.time() + 240
        while time.time() < deadline:
            found = list(outputs.rglob("metrics.csv"))
            if found and _data_rows(found[0]) >= epochs_done:
                break
            time.sleep(0.05)
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the second while the sweep is still stopping

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_the_summary_after_ctrl_c_counts_the_jobs_never_started(tmp_path, monkeypatch, capsys,
                                                                 inherited):
    """A stop during the first phase: the job of the next phase never starts, and the summary
    says so (its counts add up to the study's jobs). Also in a process started with SIGINT
    ignored (`cmd &` in a script, a test run started so): the jobs stop on a Ctrl-C whatever
    they inherited, and so does the study; what it inherited is left as it was."""
    _long_study(tmp_path / "studies", monkeypatch)
    study = tmp_path / "studies" / "long.yaml"
    study.write_text(study.read_text() + "  later:\n    section: 1\n    after: xor\n"
                     "    overrides: {experiment: xor, train.epochs: 5}\n    cost: 1\n")
    outputs = tmp_path / "out"
    given = {"default": signal.default_int_handler, "ignored": signal.SIG_IGN}[inherited]
    previous = signal.signal(signal.SIGINT, given)
    try:
        thread = _interrupt_when(outputs, 20, 1)
        assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 130
        thread.join()
        assert signal.getsignal(signal.SIGINT) is given
    finally:
        signal.signal(signal.SIGINT, previous)
    out = capsys.readouterr().out
    assert ("2 jobs: 0 completed, 0 failed, 0 diverged, 1 interrupted, 1 not started, 0 "
            "skipped (done before), 0 invalid, 0 running elsewhere") in out, out
    assert ": not started" not in out, out  # no progress line, no ETA, for a job never begun


@pytest.mark.parametrize("times", [1, 2, 3])
def test_ctrl_c_stops_the_sweep_and_reports_what_finished(tmp_path, monkeypatch, capsys, times):
    """Ctrl-C: the sweep gets SIGTERM, its job records where it stopped, the summary and the
    report are written, exit 130; a second Ctrl-C is waited out for the running job's record (it
    was counted "not started", the sweep killed as it wrote it); a third leaves without waiting
    for the sweep."""
    _long_study(tmp_path / "studies", monkeypatch)
    outputs = tmp_path / "out"
    thread = _interrupt_when(outputs, 20, times)
    assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 130
    thread.join()
    out = capsys.readouterr().out
    assert out.count("reproduce: stopping; the running jobs record where they stopped") == 1
    assert out.count("reproduce: stopping now; waiting for the running jobs' records") == (
        times >= 2)
    (summary,) = (outputs / "reproduce").glob("*_long/summary.json")
    (job,) = json.loads(summary.read_text())["jobs"]
    assert (outputs / "report" / "index.md").is_file()
    if times < 3:
        assert "1 jobs: 0 completed, 0 failed, 0 diverged, 1 interrupted" in out
        assert "[1/1 jobs" in out and "XOR, 1500 epochs: defaults: interrupted" in out
        assert job["status"] == "interrupted"
        (again,) = _plan("long", outputs).jobs  # the next run goes on from where it stopped
        assert again.state == "resume" and str(again.prior) == job["run_dir"]
    else:  # its record may or may not be written by then: either way it is accounted for
        assert job["status"] in ("interrupted", "not started")
        assert ("[1/1 jobs" in out) == (job["status"] == "interrupted")  # a line if it ran


@pytest.mark.parametrize("phase", ["planning", "reporting"])
def test_ctrl_c_outside_the_jobs_is_one_line_and_exit_130(tmp_path, tiny, monkeypatch, capsys,
                                                          phase):
    """A real Ctrl-C while the study is planned or its report written (launch() stops the
    sweep's jobs itself): one line and exit 130, not a traceback; a run that finished is kept."""
    import dlproj.reproduce.cli as cli
    from dlproj.reproduce import report_inputs

    where, name = (cli, "plan") if phase == "planning" else (report_inputs, "refresh")
    real = getattr(where, name)

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)  # Ctrl-C's KeyboardInterrupt ends this first
        return real(*args, **kwargs)

    monkeypatch.setattr(where, name, interrupted)
    outputs = tmp_path / "out"
    assert main(["--study", "tiny", "--outputs", str(outputs), "--sections", "2"]) == 130
    err = capsys.readouterr().err
    assert "dlproj reproduce: stopped (Ctrl-C) outside its jobs" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    statuses = list(read_runs(outputs, curves=False)[0].get("status", [])) if outputs.exists() \
        else []
    assert statuses == ([] if phase == "planning" else ["completed"])


def test_quick_is_the_quick_study(tmp_path, capsys):
    out = ["--outputs", str(tmp_path / "o"), "--dry-run"]
    assert main(["--study", "course", "--quick", *out]) == 0
    quick = capsys.readouterr().out
    assert main(["--study", "quick", "--outputs", str(tmp_path / "o"), "--dry-run"]) == 0
    assert quick == capsys.readouterr().out
    assert "quick (small limits" in quick


@pytest.mark.parametrize("args, said", [
    (["--seeds", "0"], "--seeds 0: allowed: an integer >= 1 and <= 1000"),
    (["--seeds", "-3"], "--seeds -3: allowed: an integer >= 1"),
    (["--seeds", "1001"], "--seeds 1001: allowed: an integer >= 1 and <= 1000"),
    (["--seeds", "1000000"], "--seeds 1000000: allowed"),  # planned for minutes, then memory
    (["--jobs", "0"], "--jobs 0: allowed: an integer >= 1"),
])
def test_a_command_line_it_cannot_plan_is_refused_at_once(tmp_path, capsys, args, said):
    """Refused before anything is read or planned, exit 2, naming the flag and what is allowed:
    a seed count had no bound (a million was planned for minutes, then memory ran out)."""
    with pytest.raises(SystemExit) as exit_:
        main(["--outputs", str(tmp_path / "out"), "--dry-run", *args])
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_plan_grows_with_the_jobs_not_their_square(tiny, tmp_path):
    """Every `{run:STEP}` and each step's job count are looked up, not searched for among all
    the jobs (the quick study with 5000 seeds took 399 s to plan; 2000, 137 s): four times the
    seeds of a step that reads another's run, about four times the lines the planner runs,
    counted, not timed."""
    import sys

    from dlproj.reproduce import plan as planner

    def lines(seeds: int) -> int:
        (tiny / "chain.yaml").write_text(CHAIN.replace("seeds: 2", f"seeds: {seeds}"))
        count = [0]

        def trace(frame, event, arg):
            if frame.f_code.co_filename != planner.__file__:
                return None
            if event == "line":
                count[0] += 1
            return trace

        before = sys.gettrace()  # coverage's, under `make coverage`: given back after
        sys.settrace(trace)
        try:
            planned = _plan("chain", tmp_path / "out")
        finally:
            sys.settrace(before)
        assert len(planned.todo) == 1 + seeds
        return count[0]

    small, large = lines(100), lines(400)
    assert large < 5 * small, (small, large)  # the square: some 16 times
