"""Ctrl-C (SIGINT) and SIGTERM (what SLURM, submitit and joblib send before they kill a job) end
a run cleanly at the next training-step boundary (RunContext.check_stop reads `requested()`);
a second Ctrl-C raises KeyboardInterrupt at once (in a sweep's launching process while workers run
its jobs, a third: `workers_record`).

A sweep's jobs may run in other processes (joblib, submitit_local): the launching process writes
the first signal it gets into the sweep's stop file, which every job reads as it starts and
between steps. No signal is passed on: one that reached a worker still starting up (before any
handler, or inside submitit's, which ignores SIGTERM) would kill it without a record or be lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from dlproj.files.atomic import write_text

LOOK_EVERY_S = 0.25  # how often a sweep's job looks at the sweep's stop file
GRACE_S = 5.0  # how long a wait on another machine may still take once the run was asked to stop
_requested: int | None = None
_shielded = False  # while the record is written, a second Ctrl-C waits for it
_workers = 0  # `workers_record`: 1 while workers run the sweep's jobs, 2 once a second Ctrl-C came
_waiting = False  # inside `given_up_on_a_stop`: a wait on another machine (a tracking server)
_stop_file: Path | None = None  # the sweep's stop file (follow_sweep)
_launcher: int | None = None  # the pid of the process that launched this job's sweep
_elsewhere = False  # ... on another machine (a SLURM node): its pid says nothing here
_next_look = 0.0


def requested() -> int | None:
    """The signal number asked to stop this run or its sweep (None: none arrived); SIGTERM once
    the sweep's launching process is gone (killed with SIGKILL, it could tell no one)."""
    global _requested, _next_look
    if _requested is None and _stop_file is not None and time.monotonic() >= _next_look:
        _next_look = time.monotonic() + LOOK_EVERY_S
        with suppress(OSError, ValueError):
            _requested = int(_stop_file.read_text())
        if _requested is None and orphaned():
            _requested = signal.SIGTERM
    return _requested


def orphaned() -> bool:
    """Whether this process runs a job of a sweep whose launching process is gone."""
    if _elsewhere or _launcher in (None, os.getpid()):
        return False
    try:
        os.kill(_launcher, 0)
    except OSError as exc:  # PermissionError: another user's process, so it exists
        return isinstance(exc, ProcessLookupError)
    return False


def follow_sweep(stop_file: Path | None, launcher: int | None = None,
                 elsewhere: bool = False) -> None:
    """Stop with the sweep whose stop file is `stop_file` (None: no sweep) and whose launching
    process is `launcher` (on another machine: `elsewhere`); a launching process writes there
    the signal it got before."""
    global _stop_file, _launcher, _elsewhere, _next_look
    _stop_file, _launcher, _elsewhere, _next_look = stop_file, launcher, elsewhere, 0.0
    if _requested is not None:
        _tell_jobs()


def _tell_jobs() -> None:
    """In the sweep's launching process (no job of it elsewhere): the first signal goes into the
    stop file."""
    if _stop_file is not None and not _elsewhere and _launcher in (None, os.getpid()):
        with suppress(OSError):  # a full or read-only disk: the jobs in this process still stop
            write_text(_stop_file, f"{_requested}\n")


def _handler(signum: int, frame: object) -> None:
    global _requested, _workers
    if _requested is not None:
        if signum == signal.SIGINT and _workers == 1:
            _workers = 2  # the workers stop now and write their records: they are waited for
            with suppress(OSError):  # os.write: a print here could cut one the process was making
                os.write(2, b"dlproj: second Ctrl-C: waiting for the running jobs' records "
                            b"(a Ctrl-C at the terminal stops them at once); Ctrl-C again to "
                            b"leave without them.\n")
            return
        if signum == signal.SIGINT and not _shielded:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        return  # the first signal says how the run stopped
    _requested = signum
    _tell_jobs()  # a sweep's jobs stop with it
    if _waiting:
        raise StopWaiting(signum)


class StopWaiting(BaseException):
    """Raised inside `given_up_on_a_stop` by the stop signal, or once its grace has run out."""


class Wait:
    """What `given_up_on_a_stop` yields: `cut` once the wait was given up."""

    cut = False


def _grace_over(signum: int, frame: object) -> None:
    if _waiting:
        raise StopWaiting(signal.SIGALRM)


@contextmanager
def given_up_on_a_stop() -> Iterator[Wait]:
    """A wait on another machine (a tracking server that stalls: MLflow's bounded requests still
    take 45 s, and a blocking socket resumes its wait after the handler) is cut short as a stop
    signal arrives, or GRACE_S seconds after the block began if the run was asked to stop before
    it (the interrupted run's last words to its tracker): the block ends there, and the Wait it
    was given says so (`cut`). A stop that comes just as the block begins cuts it before its
    first line: the caller reads `cut` first and skips its wait (a stop between the look at
    `requested()` and the block's start was once noted and then waited through, 45 s). Off the
    main thread, where no signal arrives, it changes nothing."""
    global _waiting
    wait = Wait()
    if threading.current_thread() is not threading.main_thread():
        yield wait
        return
    was, armed, previous = _waiting, False, None
    try:
        try:
            _waiting = True  # from here the first stop signal raises StopWaiting (_handler)
            armed = requested() is not None  # asked to stop before the block: its grace
            if armed:
                previous = signal.signal(signal.SIGALRM, _grace_over)
                signal.setitimer(signal.ITIMER_REAL, GRACE_S)
        except StopWaiting:  # the stop came as the block began: not waited on at all
            wait.cut = True
        try:
            yield wait
        except StopWaiting:
            wait.cut = True
    finally:
        _waiting = was
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@contextmanager
def shielded() -> Iterator[None]:
    """Within the block a second Ctrl-C does not raise: the run's record is written first."""
    global _shielded
    was, _shielded = _shielded, True
    try:
        yield
    finally:
        _shielded = was


@contextmanager
def workers_record() -> Iterator[None]:
    """In a sweep's launching process while worker processes run its jobs (joblib): within the
    block a second Ctrl-C does not raise but is waited out, with one line saying so. A terminal's
    Ctrl-C reaches the workers too, where each running job stops at once and writes its record
    (`interrupted`); raised here, it had the pool killed, and the records with it. A job that got
    the signal alone (a `kill -INT` of this process) stops at its next step, as after the first. A
    third Ctrl-C raises KeyboardInterrupt: leave without them."""
    global _workers
    was, _workers = _workers, 1
    try:
        yield
    finally:
        _workers = was


def die_with_parent() -> None:
    """In a child process before it runs (Popen's preexec_fn): SIGTERM when its parent dies,
    however it dies (SIGKILL included), so that a sweep never outlives what launched it."""
    with suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)


@contextmanager
def catch_signals() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM set the stop flag instead of killing the process. Off the
    main thread, where no handler can be installed, it changes nothing."""
    global _workers
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    # A run in the launching process itself (joblib's n_jobs=1 runs its jobs there): its own
    # second Ctrl-C stops it at once, as anywhere else (`workers_record` is for other processes).
    was, _workers = _workers, 0
    try:
        yield
    finally:
        _workers = was
        for s, h in previous.items():
            signal.signal(s, h)


def ignore_stop_signals() -> None:
    """In a sweep's worker process (joblib's), as it starts: SIGINT and SIGTERM ignored outside
    a run. A terminal's Ctrl-C (or a SIGTERM to the process group) reaches every worker, and one
    between jobs or idle would die of it (a KeyboardInterrupt traceback, a pool that joblib
    gives up on, the jobs beside it killed without a record); its jobs read the stop from the
    sweep's stop file, and a running one takes the signal itself (`catch_signals`, which puts
    SIG_IGN back after the run)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def exit_with_parent() -> None:
    """In a sweep's worker process (joblib's), as it starts, after `ignore_stop_signals`: when
    the process that started it dies, however it dies (SIGKILL included), SIGTERM, which ends a
    worker between jobs at once. Idle loky workers outlived a killed sweep under pid 1 (for
    minutes: loky's idle timeout); a running job takes the SIGTERM as a stop and records where
    (`catch_signals`), and its sweep's callback then ends the worker (`orphaned`)."""
    parent = os.getppid()

    def _gone(signum: int, frame: object) -> None:
        if os.getppid() != parent:  # a SIGTERM while its parent lives: ignored, as before
            os._exit(exit_code(signum))

    signal.signal(signal.SIGTERM, _gone)
    die_with_parent()
    if os.getppid() != parent:  # it died before the line above, which then asks for nothing
        os._exit(exit_code(signal.SIGTERM))


def exit_code(signum: int) -> int:
    return 128 + signum
