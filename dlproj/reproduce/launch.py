"""Planned jobs through ONE Hydra multirun (`hydra/sweeper=joblist`, docs/report.md), a line
per job as it finishes: when its results.json appears (or changes, for a resumed one). Ctrl-C
sends the sweep SIGTERM: its jobs stop at their next step and record where; a second Ctrl-C
reaches the running jobs too (a terminal's reaches the whole process group), which stop at once
and record where, and is waited out for their records; a third leaves at once, without them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dlproj import paths
from dlproj.config.overrides import override
from dlproj.reproduce.plan import Job
from dlproj.runtime.interrupt import die_with_parent

LAUNCHERS = ("joblib", "submitit_local", "slurm")


def fmt_time(seconds: float) -> str:
    return "{}:{:02d}".format(*divmod(max(0, int(seconds)), 60))  # m:ss


@dataclass
class Progress:
    jobs: list[Job]
    steps: int
    workers: int
    started: float = field(default_factory=time.time)

    def eta(self) -> float:
        """Seconds left: the unfinished jobs' cost at the rate the finished ones went (before
        any finished, their cost spread over the workers)."""
        finished = sum(j.step.cost for j in self.jobs if j.status is not None)
        left = sum(j.step.cost for j in self.jobs if j.status is None)
        return left * (time.time() - self.started) / finished if finished else left / self.workers

    def line(self, job: Job) -> str:
        done = sum(j.status is not None for j in self.jobs)
        return (f"[{done}/{len(self.jobs)} jobs, {fmt_time(time.time() - self.started)} elapsed, "
                f"ETA {fmt_time(self.eta())}] step {job.index}/{self.steps} {job.step.title}: "
                f"{job.label}: {job.status}"
                + (f" in {job.wall:.0f}s" if job.wall is not None else ""))


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.is_file() else None


def side_by_side(workers: int, todo: list[Job]) -> int:
    """How many of the jobs `todo` run at once: `--jobs`, never more than there are jobs (its
    workers would only wait), at least one."""
    return max(1, min(workers, len(todo)))


def sweep_command(jobs_file: Path, *, sweep_dir: Path, workers: int,
                  launcher: str) -> list[str]:
    cmd = [sys.executable, "-m", "dlproj", "-m", "hydra/sweeper=joblist",
           override("hydra.sweeper.jobs_file", jobs_file), f"hydra/launcher={launcher}",
           override("hydra.sweep.dir", sweep_dir), "~hydra.callbacks.aggregate"]
    if launcher == "joblib":
        cmd.append(f"hydra.launcher.n_jobs={workers}")
    elif launcher == "submitit_local":  # it starts every job it is given at once
        cmd.append(f"hydra.sweeper.max_batch_size={workers}")
    return cmd


def launch(todo: list[Job], *, steps: int, outputs: Path, sweep_dir: Path, log_dir: Path,
           workers: int, launcher: str) -> bool:
    """Run the planned jobs (`plan(...).todo`) and report each as it finishes, setting its
    `status` and `wall`; True when Ctrl-C stopped it."""
    from dlproj.config.compose import normalize_overrides
    from dlproj.files.atomic import write_json

    workers = side_by_side(workers, todo)
    jobs_file = log_dir / "jobs.json"
    write_json(jobs_file, [{"num": j.num, "phase": j.phase, "setting": j.setting, "seed": j.seed,
                            "overrides": normalize_overrides(j.launch)} for j in todo])
    cmd = sweep_command(jobs_file, sweep_dir=sweep_dir, workers=workers, launcher=launcher)
    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0"}
    if launcher != "slurm":  # jobs share this machine: BLAS/torch threads = cores / jobs
        env["DLPROJ_JOBS"] = str(workers)
    log_path = log_dir / "sweep.log"
    print(f"python -m dlproj {' '.join(cmd[3:])}\n  log: {log_path}", flush=True)
    progress = Progress(todo, steps, workers)
    # A resumed job's results.json is already there (its interrupted record): wait for a new one.
    before = {j.num: _mtime(j.result) for j in todo}
    stopped = 0  # Ctrl-Cs so far
    with open(log_path, "w") as log:
        # The sweep dies with this process (kill -9 included): its jobs record where they were.
        proc = subprocess.Popen(cmd, cwd=paths.PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        while True:
            try:
                running = proc.poll() is None
                for job in todo:
                    if job.status is None and _mtime(job.result) not in (None, before[job.num]):
                        try:
                            record = json.loads(job.result.read_text())
                        except (OSError, ValueError):
                            continue
                        job.status, job.wall = str(record.get("status")), record.get("wall_seconds")
                        print(progress.line(job), flush=True)
                if not running:
                    break
                _wait_a_second(proc)
            except KeyboardInterrupt:
                stopped += 1
                if stopped == 1:
                    # SIGTERM is safe whether or not the sweep got the Ctrl-C itself: its jobs
                    # stop at the next step and record where (dlproj.runtime.interrupt).
                    proc.send_signal(signal.SIGTERM)
                    print("reproduce: stopping; the running jobs record where they stopped "
                          "(Ctrl-C again to stop them now). Run the same command to go on.",
                          flush=True)
                elif stopped == 2:  # the jobs that got it stop now: their records are waited for
                    print("reproduce: stopping now; waiting for the running jobs' records "
                          "(Ctrl-C again to leave without them).", flush=True)
                else:  # leave now: what has no record is counted not started
                    proc.kill()
                    break
    refused = None if stopped or any(j.status for j in todo) else _refusal(log_path)
    if refused:  # the sweep ended before its first job: its own paragraph says why
        print(f"reproduce: the sweep did not start (exit {proc.returncode}): {refused}",
              flush=True)
    for job in todo:
        if job.status is None:
            job.status = "not started" if stopped or refused else "failed"
            job.reason = refused or f"left no results.json (exit {proc.returncode}; see {log_path})"
            if job.status == "failed":  # those not started: counted by the summary, not listed
                print(progress.line(job), flush=True)
    return bool(stopped)


def _refusal(log_path: Path) -> str | None:
    """The paragraph (`dlproj: ...`) a sweep ended its log with before any of its jobs began,
    if it did."""
    from dlproj.runtime.sweep import job_began

    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    if job_began(text):
        return None  # a job began: its own refusal or failure is the job's
    said = [line.removeprefix("dlproj: ") for line in text.splitlines()
            if line.startswith("dlproj: ")]
    return said[-1] if said else None


def _wait_a_second(proc: subprocess.Popen) -> None:
    """A second between two looks at the jobs' records, cut short when the sweep ends (its last
    records are read at once, not up to a second later). Short sleeps, not proc.wait(timeout):
    a Ctrl-C ends a sleep at once, where Popen.wait would first give the sweep a quarter second."""
    for _ in range(20):
        if proc.poll() is not None:
            return
        time.sleep(0.05)


def from_the_start(jobs: list[Job], sweep_dir: Path) -> list[Job]:
    """The resumed jobs whose resume was refused (the run is as it was: still interrupted, or no
    record: a checkpoint cut short, a CSV log that lost rows, a config that changed since), made
    jobs that run from the start in `sweep_dir`, numbered from 0: a run that cannot be continued
    is run again, not handed to a resume that fails every time reproduce is run."""
    from dlproj.files.records import record_status

    again = [j for j in jobs if j.state == "resume" and j.status == "failed"
             and record_status(j.result) in (None, "interrupted")]
    for num, job in enumerate(again):
        job.state, job.num, job.launch = "run", num, list(job.overrides)
        job.result, job.status, job.wall = sweep_dir / str(num) / "results.json", None, None
        job.reason = f"its resume of {job.prior} was refused"
    return again
