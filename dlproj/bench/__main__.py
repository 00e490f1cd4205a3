"""`python -m dlproj.bench [--threads N] [--model small|wide] ...` (what `make bench` runs).

BLAS reads its thread count when NumPy is first imported, so the environment is set here, before
anything imports NumPy; torch gets the same count through torch.set_num_threads.
"""

import os
import sys


def _threads(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


if "numpy" in sys.modules:  # pragma: no cover - only when imported from a running program
    raise SystemExit("run the benchmark as `python -m dlproj.bench`: NumPy is already loaded")
_n = str(_threads(sys.argv[1:]))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _n

from dlproj.bench.cnn_speed import main  # noqa: E402

main()
