"""Ctrl-C (SIGINT) and SIGTERM end a run cleanly at the next training-step boundary.

`catch_signals()` replaces the default handlers while a run executes: the first signal sets a
flag and, in the process that launches a sweep, is passed on as SIGTERM to every process below
it (joblib or submitit_local workers, which stop the same way); the training loop calls
`check()` between steps, which raises `Interrupted`, and the runner records the run as
interrupted (checkpoint, results.json, the command that resumes it).
A second Ctrl-C raises KeyboardInterrupt at once, for when the next step boundary is far away.

SIGTERM is what SLURM, submitit and joblib send before they kill a job; 130 and 143 are the
shell's exit codes for the two signals (128 + signal number).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from dlproj.errors import Interrupted

_CAUGHT = (signal.SIGINT, signal.SIGTERM)
_requested: int | None = None
_shielded = False  # while the record is written, a second Ctrl-C waits for it
_forward = False  # pass the first signal on to the processes below (a sweep's launching process)


def requested() -> int | None:
    """The signal number asked to stop this run (None: none arrived)."""
    return _requested


def check(where: str) -> None:
    """Raise Interrupted if a stop was asked for (call at a step boundary)."""
    if _requested is not None:
        raise Interrupted(_requested, where)


def reset() -> None:
    global _requested
    _requested = None


def _handler(signum: int, frame: object) -> None:
    global _requested
    if _requested is not None:
        if signum == signal.SIGINT and not _shielded:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        return  # the first signal says how the run stopped
    _requested = signum
    for pid in descendants() if _forward else []:  # a sweep's workers stop with it
        with suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def descendants(root: int | None = None) -> list[int]:
    """The processes below `root` (default: this one), from /proc (none where there is none)."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            children.setdefault(int(text[text.rindex(")") + 2:].split()[1]), []).append(
                int(stat.parent.name))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


@contextmanager
def shielded() -> Iterator[None]:
    """Within the block a second Ctrl-C does not raise: what it interrupts (writing the run's
    record) finishes first; the process then ends as the first signal asked."""
    global _shielded
    was, _shielded = _shielded, True
    try:
        yield
    finally:
        _shielded = was


def die_with_parent() -> None:
    """In a child process before it runs (Popen's preexec_fn): SIGTERM when its parent dies,
    however it dies (SIGKILL included), so that a sweep never outlives what launched it."""
    with suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)


@contextmanager
def catch_signals(*, forward: bool = False) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM set the stop flag instead of killing the process; with
    `forward` (the process that launches a sweep's jobs, not a run, whose children may be data
    loader workers) the first is passed on as SIGTERM to every process below it.

    Signal handlers can only be installed from the main thread; elsewhere (a launcher running
    jobs in threads) the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _forward
    previous = {s: signal.signal(s, _handler) for s in _CAUGHT}
    was, _forward = _forward, forward
    try:
        yield
    finally:
        _forward = was
        for s, h in previous.items():
            signal.signal(s, h)


def exit_code(signum: int) -> int:
    return 128 + signum


def name(signum: int) -> str:
    return signal.Signals(signum).name
