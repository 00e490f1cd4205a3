"""`python -m dlproj.bench.reproduce_jobs [--study quick]`: the study's wall time at --jobs 1
and --jobs N (default: the core count), then a rerun with nothing left to do.

Each measurement runs into a fresh temporary outputs folder (the rerun into the --jobs N one),
so nothing under outputs/ is touched. A benchmark, not a test: it prints the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlproj import paths


def _timed(args: list[str]) -> tuple[float, int]:
    """Wall seconds and exit code of `python -m dlproj.reproduce ARGS`, its output discarded."""
    started = time.perf_counter()
    code = subprocess.run([sys.executable, "-m", "dlproj.reproduce", *args],
                          cwd=paths.PROJECT_ROOT, stdout=subprocess.DEVNULL).returncode
    return time.perf_counter() - started, code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dlproj.bench.reproduce_jobs")
    parser.add_argument("--study", default="quick")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dlproj-bench-") as tmp:
        walls = {}
        for n in (args.jobs, 1):
            out = Path(tmp) / f"jobs{n}"
            walls[n], code = _timed(["--study", args.study, "--outputs", str(out),
                                     "--jobs", str(n)])
            print(f"--study {args.study} --jobs {n}: {walls[n]:.0f} s (exit {code})", flush=True)
        again = str(Path(tmp) / f"jobs{args.jobs}")
        rerun, code = _timed(["--study", args.study, "--outputs", again,
                              "--jobs", str(args.jobs)])
        print(f"rerun, nothing to do: {rerun:.1f} s (exit {code})")
        print(f"speed-up --jobs {args.jobs} vs --jobs 1: {walls[1] / walls[args.jobs]:.2f}x "
              f"on {os.cpu_count()} cores (load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
