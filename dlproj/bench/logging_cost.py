"""What a long run pays per epoch for its records: metrics.csv rows, log lines, checkpoints.

Whole-process wall time of `python -m dlproj experiment=xor train.epochs=3000` over the same
with `train.epochs=30`, alternating, median of the repeats. XOR's epochs take about a
millisecond of arithmetic, so the ratio is almost all bookkeeping: a log that is rewritten
every epoch grows with the square of the run's length and lands far above the goal of 2.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from dlproj import paths

SHORT, LONG = 30, 3000


def _wall(epochs: int, outputs: str) -> float:
    env = {**os.environ, "DLPROJ_OUTPUTS": outputs, "DLPROJ_PROGRESS": "0"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlproj", "experiment=xor", f"train.epochs={epochs}"],
                   cwd=paths.PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(repeats: int) -> float:
    """Print the logging line; returns the ratio."""
    times: dict[int, list[float]] = {SHORT: [], LONG: []}
    with tempfile.TemporaryDirectory() as outputs:
        for _ in range(repeats):
            for epochs in (SHORT, LONG):
                times[epochs].append(_wall(epochs, outputs))
    short, long = statistics.median(times[SHORT]), statistics.median(times[LONG])
    ratio = long / short
    print(f"logging: experiment=xor whole process, {LONG} epochs {long:.2f} s / {SHORT} epochs "
          f"{short:.2f} s = {ratio:.2f} (goal <= 2; median of {repeats} alternating repeats)")
    return ratio
