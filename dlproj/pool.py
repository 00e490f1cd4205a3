"""The worker threads NumPy code shares: one pool per process, grown when more are asked for.

A training step splits its batch on it (dlproj/training/parallel.py), then the optimizer its
update's blocks (dlproj/optim/optimizers.py), one after the other. NumPy releases the GIL inside
its heavy loops, so the threads run on separate cores.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None


def on_threads(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Each task's result, in order: the first run on the calling thread, the others on the
    pool (grown to as many threads), in the caller's context (NumPy's errstate). Returns (or
    raises a task's error) only once every task has ended, so that no thread is still writing
    into what the caller goes on with."""
    global _pool
    futures = []
    if len(tasks) > 1:
        if _pool is None or _pool._max_workers < len(tasks) - 1:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(max_workers=len(tasks) - 1,
                                       thread_name_prefix="dlproj-worker")
        futures = [_pool.submit(contextvars.copy_context().run, task) for task in tasks[1:]]
    try:
        first = tasks[0]()
    finally:
        wait(futures)
    return [first, *(f.result() for f in futures)]
