"""glibc's malloc told to keep what a training step frees, so that the next step reuses it.

A training step allocates and frees the same large arrays every time (the wide CNN's activations
and gradients: 6.4 MB each at batch 64; 100 MB at the evaluation's batch of 1,000). By default
glibc hands such memory back to the kernel, by munmap (a block it mmapped, above
M_MMAP_THRESHOLD) or by trimming the heap's top (above M_TRIM_THRESHOLD), and the next step's
first write to each page faults it back in, zeroed. So this process takes every block from its
heap (M_MMAP_MAX 0: no mmap) and keeps up to TRIM_THRESHOLD free at the heap's top. Measured on
the wide CNN (docs/section3.md, "Speed"): a training step 22.7 -> 19.6 ms (1,450 faults -> 0),
a 3-epoch run 22.5 -> 20.8 s (243,000 -> 77,000 faults, the rest reading MNIST and imports),
its peak memory 3% higher; the same numbers bit for bit. Torch's CPU tensors come from malloc too.

Best effort: where the C library has no mallopt (macOS, musl), nothing changes.
"""

from __future__ import annotations

import ctypes
from functools import cache

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
TRIM_THRESHOLD = 512 << 20  # free memory at the heap's top kept up to this much


@cache
def keep_freed_memory() -> bool:
    """Set both once per process; whether the C library took them."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
