"""Whole runs with and without dlproj/runtime/allocator.py's malloc setting, side by side.

    python scripts/keep_memory.py [--repeats 2]

Each case is one `python -m dlproj` process, run with DLPROJ_KEEP_MEMORY=1 (a run's default) and
=0 (the C library's own way), alternating, each into a fresh folder under a temporary directory.
Printed per case and setting, each the median over repeats: the process's minor page faults, wall
seconds and peak memory (its rusage), and each epoch's `epoch_seconds`; then whether the two
settings' model files are the same bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlproj.training.csvlog import read_rows  # noqa: E402

CASES = {  # name: overrides
    "section 3, wide CNN, 3 epochs of 6,400 images": [
        "section=3", "model=cnn_wide", "train.epochs=3", "data.train_limit=6400",
        "threads.workers=1", "threads.blas=1"],
    "section 4, SmallResNet, 1 epoch of 2,000 images": [
        "section=4", "train.epochs=1", "data.train_limit=2000", "threads.blas=1"],
    "section 1, MLP, 2 epochs": ["section=1", "experiment=mlp", "train.epochs=2",
                                 "threads.workers=1", "threads.blas=1"],
}


def run(overrides: list[str], keep: str, run_dir: Path) -> dict:
    """One run; its own rusage (os.wait4), not every child's so far."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dlproj", *overrides,
                             f"hydra.run.dir={run_dir}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "DLPROJ_KEEP_MEMORY": keep, "DLPROJ_PROGRESS": "0"})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"python -m dlproj {' '.join(overrides)} exited {proc.returncode}")
    return {"faults": usage.ru_minflt, "wall": time.perf_counter() - t0, "dir": run_dir,
            "peak_mb": usage.ru_maxrss / 1024,  # Linux: KiB
            "epochs": [row["epoch_seconds"] for row in read_rows(run_dir / "metrics.csv")]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in CASES.items():
            seen: dict[str, list[dict]] = {"1": [], "0": []}
            for r in range(args.repeats):
                for keep in seen:
                    seen[keep].append(run(overrides, keep, Path(tmp) / f"{name[:9]} {r} {keep}"))
            print(name)
            for keep, runs in seen.items():
                med = statistics.median
                epochs = [med(e) for e in zip(*(r["epochs"] for r in runs), strict=True)]
                print(f"  DLPROJ_KEEP_MEMORY={keep}: {med(r['faults'] for r in runs):>9,.0f} "
                      f"faults, {med(r['wall'] for r in runs):6.2f} s wall, peak "
                      f"{med(r['peak_mb'] for r in runs):5.0f} MB, epochs "
                      f"{' '.join(f'{e:.2f}' for e in epochs)} s")
            model = next(p.name for p in seen["1"][0]["dir"].iterdir()
                         if p.name.startswith("model."))
            same = (seen["1"][0]["dir"] / model).read_bytes() == \
                (seen["0"][0]["dir"] / model).read_bytes()
            print(f"  {model}: {'the same bytes' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
