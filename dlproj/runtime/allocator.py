"""glibc's malloc told to keep what a training step frees, so that the next step reuses it.

A step allocates and frees the same large arrays every time; by default glibc hands such blocks
back to the kernel (munmap, a trim of the heap's top) and the next step's first write faults
every page in again, zeroed. So this process takes every block from its heap (M_MMAP_MAX 0: no
mmap) and keeps up to TRIM_THRESHOLD free at the heap's top. Measured (docs/section3.md, "How it
is fast"; `python scripts/keep_memory.py`): a Section 4 epoch 12.0 -> 7.7 s, peak memory 7-29%
higher, the same model files byte for byte. Torch's CPU tensors come from malloc too.

`DLPROJ_KEEP_MEMORY=0` leaves malloc as it is (to compare, or where memory is tight). Best effort:
where the C library has no mallopt (macOS, musl), nothing changes.
"""

from __future__ import annotations

import ctypes
from functools import cache

from dlproj.errors import knob

KNOB = "DLPROJ_KEEP_MEMORY"  # 0: leave malloc as the C library has it
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
TRIM_THRESHOLD = 512 << 20  # free memory at the heap's top kept up to this much


@cache
def keep_freed_memory() -> bool:
    """Set both once per process (unless DLPROJ_KEEP_MEMORY=0); whether they were set."""
    if not knob(KNOB, default=True):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
