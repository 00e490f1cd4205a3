"""Ctrl-C (SIGINT) and SIGTERM end a run cleanly at the next training-step boundary.

`catch_signals()` replaces the default handlers while a run executes: the first signal only sets
a flag; the training loop calls `check()` between steps, which raises `Interrupted`, and the
runner records the run as interrupted (checkpoint, results.json, the command that resumes it).
A second Ctrl-C raises KeyboardInterrupt at once, for when the next step boundary is far away.

SIGTERM is what SLURM, submitit and joblib send before they kill a job; 130 and 143 are the
shell's exit codes for the two signals (128 + signal number).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dlproj.errors import Interrupted

_CAUGHT = (signal.SIGINT, signal.SIGTERM)
_requested: int | None = None


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
    if _requested is not None and signum == signal.SIGINT:
        raise KeyboardInterrupt  # the second Ctrl-C: stop now
    _requested = signum


@contextmanager
def catch_signals() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM set the stop flag instead of killing the process.

    Signal handlers can only be installed from the main thread; elsewhere (a launcher running
    jobs in threads) the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in _CAUGHT}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def exit_code(signum: int) -> int:
    return 128 + signum


def name(signum: int) -> str:
    return signal.Signals(signum).name
