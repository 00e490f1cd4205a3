"""The BLAS thread count of NumPy's bundled OpenBLAS, changed at run time.

OPENBLAS_NUM_THREADS is read once, when NumPy loads; inside a running program the count can
only be changed through OpenBLAS's own `*_set_num_threads` symbol. The CNN's GEMMs are skinny
(8 to 64 output columns): here, on 2 cores shared with other jobs, 2 BLAS threads made a
training epoch about 3x slower than 1.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_NAMES = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
          "openblas_set_num_threads64_", "openblas_set_num_threads")


def set_blas_threads(n: int) -> bool:
    """Use `n` BLAS threads from now on; False when NumPy's BLAS offers no way to (no change)."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _NAMES:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(int(n))
                return True
    return False
