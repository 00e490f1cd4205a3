"""The worker threads NumPy code shares: one pool per process, grown when more are asked for.

A training step splits its batch on it (dlproj/training/parallel.py), then the optimizer its
update's blocks (dlproj/optim/optimizers.py), one after the other. NumPy releases the GIL inside
its heavy loops, so the threads run on separate cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None


def thread_pool(n: int) -> ThreadPoolExecutor:
    """A pool of at least `n` threads."""
    global _pool
    if _pool is None or _pool._max_workers < n:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="dlproj-worker")
    return _pool
