"""The Hydra callback of a multirun (`SweepOutcome`): its progress, and how it ended.

A line as each job starts ("job 1 (2 of 3): overrides", a job named by its directory, as the
closing line names it) and one as it ends: how (its results.json or the sweep's note: "done",
"interrupted", "failed", ...), how many of the sweep's jobs have ended, the elapsed time and the
ETA. Jobs may run in parallel and elsewhere: the job count reaches them through the environment,
and the jobs that ended are read from the sweep directory. These lines never raise.

Listed first in conf/config.yaml, it is called first as the sweep and each job start, and last
as the sweep ends: it then reads every job's results.json, whichever launcher ran them, and the
notes of the jobs that left none (`note_unrecorded`: invalid, not started after a stop, in use
by another process), and prints

    sweep: 7 completed, 1 failed (job 3), 1 diverged (job 5) -> outputs/multirun/...

then exits 128 + the signal's number when the sweep was interrupted, 1 when any job did not
complete.

Before any job runs it checks that each job gets a folder of its own directly in the sweep's
(`job_dirs`, `check_job_dirs`: a `hydra.sweep.subdir` that gives two jobs one folder is refused,
exit 2), and it notes the folders Hydra is about to make for the run or sweep (`made_next`), so
that a command refused before it writes leaves none behind (runtime/app.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from dlproj.config.overrides import as_written
from dlproj.errors import ConfigError
from dlproj.files.atomic import write_json
from dlproj.files.records import read_record, record_status
from dlproj.runtime import interrupt
from dlproj.runtime.owner import lock

UNRECORDED = ".unrecorded"  # in the sweep directory: a note per job that left no results.json
STOP_FILE = ".stopped"  # in the sweep directory: the signal that stopped it (interrupt)
ENV_STOP_FILE = "DLPROJ_SWEEP_STOP_FILE"  # its path, for the jobs (they inherit it)
ENV_LAUNCHER = "DLPROJ_SWEEP_LAUNCHER"  # the launching process's host:pid: a job stops once it
# is gone (a job on another machine cannot tell: it stops by the stop file alone)
ENV_JOBS = "DLPROJ_SWEEP_JOBS"  # the sweep's job count, for the jobs' progress lines
ENV_STARTED = "DLPROJ_SWEEP_STARTED"  # when it started
ENV_MADE = "DLPROJ_MADE"  # the run's or sweep's folder and the parents made for it (made_next)
ENV_ELSEWHERE = "DLPROJ_SWEEP_ELSEWHERE"  # its jobs' folders outside its own, as a JSON list
BEGAN = "job %s (%s of %s): %s"  # the line as each job begins (job_began reads it back)
NAMED = 5  # jobs the closing line names by their overrides, of those invalid or not started
log = logging.getLogger("dlproj.sweep")
ORDER = ["completed", "failed", "invalid", "diverged", "interrupted", "not started", "in use",
         "no record", "running"]


def sweep_id() -> str | None:
    """The sweep this process launches or runs a job of (its launcher and start), or None: a note
    names it, and a sweep reads only its own notes (another sweep in the same directory, at once
    or before, notes the same job folders)."""
    started = os.environ.get(ENV_STARTED)
    return f"{os.environ.get(ENV_LAUNCHER, '')}@{started}" if started else None


def note_unrecorded(run_dir: Path, overrides: list[str], status: str) -> dict[str, Any]:
    """Note, beside the job's own directory, a sweep job that leaves no results.json (on a full
    disk it cannot: the closing line then counts it as leaving no record); the empty directory
    Hydra made for it is not left behind, unless another process holds it ("in use": its lock
    is the other run's). Returns the job's record for the runner."""
    run_dir = Path(run_dir)
    with contextlib.suppress(OSError):
        write_json(_note_path(run_dir),
                   {"run_dir": str(run_dir), "overrides": overrides, "status": status,
                    "sweep": sweep_id()})
    if status != "in use":
        with contextlib.suppress(OSError):  # removed only while this process holds its lock
            fd = lock(run_dir) if run_dir.is_dir() and not any(run_dir.iterdir()) else None
            if fd is not None:
                try:
                    run_dir.rmdir()
                finally:
                    os.close(fd)
    return {"status": status, "run_dir": str(run_dir), "overrides": overrides}


def _note_path(run_dir: Path) -> Path:
    """Where a job's note lies: beside its folder, in the folder above (a resumed job's is in
    its own run's sweep, or in runs/)."""
    run_dir = Path(run_dir)
    return run_dir.parent / UNRECORDED / f"{run_dir.name}.json"


def _written_since(results: Path, since: float) -> bool:
    """Whether `results` is there and was written since `since` (a second's slack for coarse
    file clocks): an older one is an earlier run's, left as it was."""
    try:
        return results.stat().st_mtime >= since - 1
    except OSError:
        return False


def _note(path: Path, sweep: str | None) -> dict[str, Any] | None:
    """A job's note, if it is readable and the sweep's (`sweep`; None: any sweep's)."""
    note = read_record(path)
    if note is None or not {"run_dir", "status"} <= set(note):
        return None
    return note if sweep is None or note.get("sweep") in (None, sweep) else None


def job_began(log_text: str) -> bool:
    """Whether a sweep's log says that any of its jobs began (a line BEGAN wrote)."""
    return re.search(r" job .+ \(\d+ of (\d+|\?)\): ", log_text) is not None


def made_next(folder: str) -> None:
    """Name, for a command refused before it writes (runtime/app.py), the run's or sweep's
    folder and each of its parents Hydra is about to make: then none is left behind."""
    folder = Path(str(folder)).absolute()  # one that is there already stays, empty or not
    os.environ[ENV_MADE] = os.pathsep.join(
        str(p) for p in (folder, *folder.parents) if not p.exists())


def follow() -> None:
    """In a sweep's job, whichever process runs it: stop with the sweep (by the stop file its
    launching process set: a job resumed in place is in an older sweep's) or once it is gone."""
    path = os.environ.get(ENV_STOP_FILE)
    host, _, pid = os.environ.get(ENV_LAUNCHER, "").rpartition(":")
    interrupt.follow_sweep(Path(path) if path else None, int(pid) if pid.isdigit() else None,
                           elsewhere=bool(host) and host != socket.gethostname())


def _job_number(path: Path) -> int | str:
    """A job as the sweep's lines name it: its directory's name (Hydra's job number)."""
    return int(path.name) if path.name.isdigit() else path.name


def _job_name(path: Path, sweep_dir: Path) -> int | str:
    """A job as the sweep's lines name it: by its number in the sweep's own folder; a job that
    continues a run in place elsewhere (`make reproduce`'s resumed jobs) by that run's folder,
    from the folder above the sweep's where it is there (`<stamp>/3`, `runs/<stamp>_s1_xor`)."""
    path, sweep_dir = Path(path).absolute(), Path(sweep_dir).absolute()
    if path.parent == sweep_dir:
        return _job_number(path)
    return str(path.relative_to(sweep_dir.parent) if path.is_relative_to(sweep_dir.parent)
               else path)


def _launching_dir() -> Path | None:
    """In a sweep's job, whichever process runs it: the folder of the sweep that launched it (a
    job resumed in place has another in its own config)."""
    stop_file = os.environ.get(ENV_STOP_FILE)
    return Path(stop_file).parent if stop_file else None


def _elsewhere() -> list[Path]:
    """In a sweep's job: the folders of its sweep's jobs that lie outside the sweep's own."""
    with contextlib.suppress(ValueError):
        return [Path(p) for p in json.loads(os.environ.get(ENV_ELSEWHERE) or "[]")]
    return []


def job_status(run_dir: Path) -> str | None:
    """How a sweep job ended: its note's status, if this process's sweep wrote it (a results.json
    beside it is an earlier run's, or that of the process that held the folder), else its
    results.json's, if written since the sweep started (None: neither)."""
    note = _note(_note_path(run_dir), sweep_id())
    if note:
        return str(note["status"])
    results = Path(run_dir) / "results.json"  # an older one: the interrupted run resumed
    with contextlib.suppress(ValueError):
        if _written_since(results, float(os.environ.get(ENV_STARTED) or 0)):
            return record_status(results)
    return None


def _jobs(sweep_dir: Path, since: float = 0, sweep: str | None = None,
          elsewhere: Sequence[Path] = ()) -> dict[int | str, tuple[str, list[str]]]:
    """Every job the sweep directory knows of, and those of the folders `elsewhere` (its jobs
    that continue a run in place), by name (`_job_name`): (status, overrides) from its note (the
    `sweep`'s own; None: any), else from its results.json if written since `since`
    (`_written_since`; beside a note it is an earlier run's)."""
    jobs: dict[int | str, tuple[str, list[str]]] = {}
    folders = [*sorted(sweep_dir.glob("*/results.json"), key=str),
               *(Path(d) / "results.json" for d in elsewhere)]
    for results in folders:
        if _written_since(results, since):
            jobs[_job_name(results.parent, sweep_dir)] = (
                record_status(results) or "unreadable", [])
    notes = [*sorted((sweep_dir / UNRECORDED).glob("*.json")), *map(_note_path, elsewhere)]
    for path in notes:
        if (job := _note(path, sweep)) is not None:
            name = _job_name(Path(job["run_dir"]), sweep_dir)
            jobs.pop(name, None)  # listed after the records, as the closing line names them
            jobs[name] = (str(job["status"]), list(job.get("overrides") or []))
    return jobs


def outcome(sweep_dir: Path, expected: int | list[int | str] | None = None, *, since: float = 0,
            sweep: str | None = None, elsewhere: Sequence[Path] = ()) -> tuple[str, int]:
    """The summary line and the exit code for the jobs under `sweep_dir` and in the folders
    `elsewhere`: the `expected` jobs (their names, `_job_name`, and no others: a sweep directory
    given again holds an earlier sweep's; a count: numbered 0, 1, ...), from the records written
    since `since` and the notes of `sweep` (`_jobs`); a job that left neither a record nor a
    note: "no record"."""
    jobs = _jobs(sweep_dir, since, sweep, elsewhere)
    if isinstance(expected, list):
        jobs = {n: jobs.get(n, ("no record", [])) for n in expected}
    for n in range(expected) if isinstance(expected, int) else []:
        jobs.setdefault(n, ("no record", []))
    by_status: dict[str, list[int | str]] = {}
    for number in sorted(jobs, key=_in_order):  # each status's jobs in job order
        by_status.setdefault(jobs[number][0], []).append(number)
    statuses = sorted(by_status, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    parts = [_part(s, by_status[s]) for s in statuses]
    line = f"sweep: {', '.join(parts) or 'no jobs recorded'} -> {sweep_dir}"
    for status in ("invalid", "not started"):
        numbers = by_status.get(status, [])
        if numbers:  # a long queue stopped: the first few, and how many more
            named = [as_written(jobs[n][1]) or "(no overrides)" for n in numbers[:NAMED]]
            more = f"; ... and {len(numbers) - NAMED} more" if len(numbers) > NAMED else ""
            line += f"\n  {status}: " + "; ".join(named) + more
    if (stop := interrupt.requested()) is not None:
        return line, interrupt.exit_code(stop)
    return line, 0 if set(by_status) <= {"completed"} else 1


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep launches, or None when the sweeper cannot say."""
    try:
        sweeper = config.hydra.sweeper
        if "n_trials" in sweeper:
            return int(sweeper.n_trials)
        if "jobs_file" in sweeper:  # hydra/sweeper=joblist (dlproj.reproduce)
            return len(joblist(sweeper.jobs_file))
        return len(_basic_jobs(config))
    except Exception:  # noqa: BLE001 - an unknown sweeper: the jobs the directory knows of
        return None


def _basic_jobs(config: DictConfig) -> list[list[str]]:
    """The overrides of each job of Hydra's basic sweeper, in the order it numbers them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dlproj.config.compose import config_loader

    # as typed: a value `${...}` is the job's to resolve (or refuse), not the sweeper's
    hydra = OmegaConf.to_container(config.hydra, resolve=False)
    params = hydra["sweeper"].get("params") or {}
    overrides = [*hydra["overrides"]["task"], *(f"{k}={v}" for k, v in params.items())]
    # with the config loader, as the sweeper parses them: glob(...) lists its group's choices
    parsed = OverridesParser.create(config_loader=config_loader()).parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def job_dir(config: DictConfig, num: int, overrides: list[str]) -> Path:
    """Job `num`'s folder as the launcher makes it: hydra.sweep.dir / hydra.sweep.subdir, composed
    with the job's overrides and number unless both are Hydra's default (`<sweep dir>/<num>`)."""
    from hydra.core.global_hydra import GlobalHydra

    if OmegaConf.to_container(config.hydra.sweep)["subdir"] == "${hydra.job.num}" and not any(
            o.lstrip("+~").startswith("hydra.sweep") for o in overrides):
        return Path(str(config.hydra.sweep.dir)) / str(num)
    job = GlobalHydra.instance().config_loader().load_sweep_config(config, list(overrides))
    with open_dict(job):
        job.hydra.job.num, job.hydra.job.id = num, f"job_{num}"
    return Path(str(job.hydra.sweep.dir)) / str(job.hydra.sweep.subdir)


def joblist(jobs_file: str | Path) -> list[tuple[int, list[str]]]:
    """The jobs of `hydra/sweeper=joblist`'s file as it numbers them: (phase, overrides), phase by
    phase, each phase's in the file's order; a HydraException for a file of another form."""
    from hydra.errors import HydraException

    jobs = json.loads(Path(jobs_file).read_text())
    if not isinstance(jobs, list) or not all(
            isinstance(j, dict) and isinstance(j.get("overrides"), list) for j in jobs):
        raise HydraException(f"hydra.sweeper.jobs_file={jobs_file}: expected a JSON "
                             'list of {"overrides": [...], "phase": N} objects.')
    return sorted(((int(j.get("phase", 0)), list(map(str, j["overrides"]))) for j in jobs),
                  key=lambda job: job[0])


def job_dirs(config: DictConfig) -> list[Path] | None:
    """Each job's folder (`job_dir`), for Hydra's basic sweeper and dlproj's joblist; None for
    another sweeper, or a job Hydra cannot compose (the sweep then says why)."""
    try:
        if "n_trials" in config.hydra.sweeper:
            return None
        jobs = ([job for _, job in joblist(config.hydra.sweeper.jobs_file)]
                if "jobs_file" in config.hydra.sweeper else _basic_jobs(config))
        return [job_dir(config, num, job) for num, job in enumerate(jobs)]
    except Exception:  # noqa: BLE001
        return None


def not_started(config: DictConfig, num: int, overrides: list[str]) -> JobReturn:
    """A job of a stopped sweep that its sweeper or launcher does not start (each would only
    see the stop; on SLURM, after waiting in the queue): noted as the job would note itself
    (dlproj.runtime.runner), its return NaN, as a run that did not complete returns."""
    note_unrecorded(job_dir(config, num, overrides), list(overrides), "not started")
    return returned(overrides)


def returned(overrides: Sequence[str], value: Any = math.nan) -> JobReturn:
    """A job's return as this process knows it; NaN (a job that returned nothing here, as dlproj's
    run of a job that did not complete returns) a sweeper reads as a failed trial, not an error."""
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=value)


def check_job_dirs(config: DictConfig, dirs: list[Path]) -> None:
    """Each job needs a folder of its own directly in the sweep's: the second of two jobs in one
    would find the first's run there, and the sweep's lines read each job's folder there."""
    sweep_dir = Path(str(config.hydra.sweep.dir))
    bad = next((d for d in dirs if dirs.count(d) > 1 or d.parent != sweep_dir), None)
    if bad is None:
        return
    nums = [n for n, d in enumerate(dirs) if d == bad]
    what = (f"gives jobs {nums[0]} and {nums[1]} one folder, {bad}" if len(nums) > 1 else
            f"puts job {nums[0]} in {bad}, not a folder of its own directly in {sweep_dir}")
    subdir = OmegaConf.to_container(config.hydra.sweep)["subdir"]
    raise ConfigError(
        f"Invalid value for 'hydra.sweep.subdir': {subdir!r} {what}. Allowed: a folder name "
        f"that differs from job to job (the default is the job's number, ${{hydra.job.num}}); "
        f"each job needs its own folder in hydra.sweep.dir, as two runs cannot share one.")


def _in_order(job: int | str) -> tuple[bool, str]:
    """Jobs as the closing line lists them: by number, then folders named otherwise."""
    return isinstance(job, str), str(job).zfill(9)


def _part(status: str, jobs: list[int | str]) -> str:
    if status == "completed":
        return f"{len(jobs)} completed"
    label = "job" if len(jobs) == 1 else "jobs"
    shown = ", ".join(map(str, jobs[:8])) + (", ..." if len(jobs) > 8 else "")
    return f"{len(jobs)} {status} ({label} {shown})"


def _before_a_stop(record: logging.LogRecord) -> bool:
    """Hydra's basic launcher logs `#N : overrides` as it hands each job on, the jobs after a
    stop too, which dlproj's runner does not start (and which say nothing themselves)."""
    return interrupt.requested() is None


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class SweepOutcome(Callback):
    expected: int | list[int | str] | None = None  # the jobs the closing line accounts for
    elsewhere: list[Path] = []  # noqa: RUF012 - its jobs' folders outside the sweep's (resumed)
    started: float = 0.0  # when this sweep started, and which it is (sweep_id): its records
    sweep: str | None = None  # and notes are those the closing line reads

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        made_next(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        made_next(config.hydra.sweep.dir)
        dirs = job_dirs(config)
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        # reproduce's joblist continues interrupted runs in their own folders, elsewhere
        joblist_sweep = "jobs_file" in (config.hydra.get("sweeper") or {})
        self.elsewhere = [d for d in dirs or []
                          if joblist_sweep and d.absolute().parent != sweep_dir]
        try:
            check_job_dirs(config, [d for d in dirs or [] if d not in self.elsewhere])
        except ConfigError as exc:  # Hydra would only warn of an exception raised here
            print(f"dlproj: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        path = Path(config.hydra.sweep.dir) / STOP_FILE  # a stop reaches the jobs through it
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)  # a sweep directory given again: not stopped yet
        # nor are its notes this sweep's (runner: a job refused there gets a new one)
        shutil.rmtree(Path(config.hydra.sweep.dir) / UNRECORDED, ignore_errors=True)
        interrupt.follow_sweep(path)
        logging.getLogger("hydra._internal.core_plugins.basic_launcher").addFilter(_before_a_stop)
        n = len(dirs) if dirs is not None else count_jobs(config)
        self.expected = [_job_name(d, sweep_dir) for d in dirs] if dirs is not None else n
        self.started = time.time()
        os.environ.update({ENV_STOP_FILE: str(path),
                           ENV_LAUNCHER: f"{socket.gethostname()}:{os.getpid()}",
                           ENV_STARTED: repr(self.started), ENV_JOBS: str(n or 0),
                           ENV_ELSEWHERE: json.dumps([str(d) for d in self.elsewhere])})
        self.sweep = sweep_id()
        log.info("sweep: %s jobs -> %s", n or "?", config.hydra.sweep.dir)

    def _is_job_of_sweep(self, config: DictConfig) -> bool:
        return ENV_STARTED in os.environ and "num" in config.hydra.job

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        follow()  # in the job's process
        try:  # after a stop the runner starts no job (dlproj/runtime/runner.py): nothing to say
            if not self._is_job_of_sweep(config) or interrupt.requested() is not None:
                return
            job = _job_name(Path(str(config.hydra.runtime.output_dir)),
                            _launching_dir() or Path(str(config.hydra.sweep.dir)))
            overrides = as_written(list(config.hydra.overrides.task)) or "(defaults)"
            log.info(BEGAN, job, config.hydra.job.num + 1, int(os.environ.get(ENV_JOBS, 0)) or "?",
                     overrides)
        except Exception as exc:
            log.debug("sweep progress: %s", exc)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        try:
            self._progress(config, job_return)
        except Exception as exc:
            log.debug("sweep progress: %s", exc)
        if interrupt.orphaned():  # its record is written; a worker process must not wait on
            logging.shutdown()  # for jobs from a launcher that is gone
            os._exit(interrupt.exit_code(signal.SIGTERM))

    def _progress(self, config: DictConfig, job_return: Any) -> None:
        """The line at a job's end: how it ended, the sweep's elapsed time and ETA."""
        if not self._is_job_of_sweep(config):
            return
        job_dir = Path(str(config.hydra.runtime.output_dir))
        sweep_dir = _launching_dir() or Path(str(config.hydra.sweep.dir))
        status = job_status(job_dir)
        if status is None and getattr(job_return, "status", None) == JobStatus.FAILED:
            status = "failed"  # it raised before it could leave a record
        if status == "not started":
            return
        ended = "done" if status == "completed" else status or "left no record"
        n = int(os.environ.get(ENV_JOBS, 0))
        started = float(os.environ[ENV_STARTED])
        elapsed = time.time() - started
        # this sweep's jobs that ended (it clears its notes as it starts)
        done = sum(state != "not started" for state, _ in
                   _jobs(sweep_dir, started, sweep_id(), _elsewhere()).values())
        line = (f"job {_job_name(job_dir, sweep_dir)} {ended}; sweep: {done}/{n or '?'} jobs in "
                f"{duration(elapsed)}")
        if n and 0 < done < n and interrupt.requested() is None:
            line += f", ETA {duration(elapsed / done * (n - done))}"
        log.info("%s", line)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for key in (ENV_JOBS, ENV_STARTED, ENV_STOP_FILE, ENV_LAUNCHER, ENV_ELSEWHERE):
            os.environ.pop(key, None)
        line, code = outcome(Path(config.hydra.sweep.dir), self.expected, since=self.started,
                             sweep=self.sweep, elsewhere=self.elsewhere)
        interrupt.follow_sweep(None)
        print(line, file=sys.stderr, flush=True)
        if code:
            raise SystemExit(code)  # the last callback: what the command exits with
