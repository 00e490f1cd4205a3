"""Whole `python -m dlproj` runs: seconds per epoch of `section=3` beside a plain PyTorch loop on
the same data (docs/section3.md, "Speed"), and what a long run pays per epoch for its records.

An epoch is what metrics.csv times as `epoch_seconds`: one shuffled pass over the training images
with Adam, then the evaluation of the validation and test images; the torch loop does the same
with the twin of the same CNN on the same arrays. The first of the 2 epochs pays for warm-up.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dlproj import paths
from dlproj.bench.step_speed import alternate
from dlproj.config.overrides import override
from dlproj.training.csvlog import read_rows

EPOCHS, BATCH, EVAL_IMAGES, REPEATS = 2, 64, 1000, 2
SHORT, LONG = 30, 3000  # the logging line's XOR epochs


def _dlproj(outputs: str, *args: str) -> None:
    """`python -m dlproj ARGS` with its runs under `outputs`; RuntimeError if it fails."""
    env = {**os.environ, "DLPROJ_OUTPUTS": outputs, "DLPROJ_PROGRESS": "0"}
    env.pop("DLPROJ_JOBS", None)
    cmd = [sys.executable, "-m", "dlproj", *args]
    proc = subprocess.run(cmd, cwd=paths.PROJECT_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")


def dlproj_epoch(threads: int, images: int, data_root: str | None = None) -> float:
    """The last epoch_seconds of a section=3 run with `threads` step workers."""
    root = [override("data.root", data_root)] if data_root else []
    with tempfile.TemporaryDirectory() as tmp:
        _dlproj(tmp, "section=3", f"data.train_limit={images}", f"data.test_limit={EVAL_IMAGES}",
                f"train.epochs={EPOCHS}", f"threads.workers={threads}", "threads.blas=1", *root)
        (metrics,) = Path(tmp).rglob("metrics.csv")
        return float(read_rows(metrics)[-1]["epoch_seconds"])


def torch_epoch(threads: int, images: int, data_root: str | None = None) -> float:
    """The last epoch's seconds of a plain PyTorch loop over the same data and net."""
    import torch
    import torch.nn.functional as F

    from dlproj.data.mnist import load_mnist, to_float
    from dlproj.nn.cnn import build_cnn
    from dlproj.torchnets.twins import twin

    torch.set_num_threads(threads)
    mnist = load_mnist(data_root or paths.data_root(), train_limit=images,
                       test_limit=EVAL_IMAGES)
    x, y = (torch.from_numpy(a) for a in (to_float(mnist.train.images, flatten=False),
                                          mnist.train.labels))
    evals = [(torch.from_numpy(to_float(s.images, flatten=False)), torch.from_numpy(s.labels))
             for s in (mnist.val, mnist.test)]
    model = twin(build_cnn([8, 16], rng=np.random.default_rng(0)))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    seconds = 0.0
    for _ in range(EPOCHS):
        t0 = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(y)).split(BATCH):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for ex, ey in evals:  # EVAL_IMAGES each: one batch, as dlproj evaluates them
                logits = model(ex)
                F.cross_entropy(logits, ey).item()
                (logits.argmax(1) == ey).float().mean().item()
        seconds = time.perf_counter() - t0
    return seconds


def run(thread_counts: list[int], images: int, data_root: str | None = None, out=print) -> None:
    out(f"end to end: seconds per epoch ({images} training images, batch {BATCH}, then "
        f"{EVAL_IMAGES} val + {EVAL_IMAGES} test evaluated), 2nd of {EPOCHS} epochs, "
        f"best of {REPEATS} alternating repeats")
    out(f"{'threads':>7} {'python -m dlproj section=3':>27} {'plain torch loop':>17} "
        f"{'ratio':>6}")
    for threads in thread_counts:
        ours, theirs = [], []
        for _ in range(REPEATS):
            ours.append(dlproj_epoch(threads, images, data_root))
            theirs.append(torch_epoch(threads, images, data_root))
        out(f"{threads:>7} {min(ours):>27.2f} {min(theirs):>17.2f} "
            f"{min(ours) / min(theirs):>6.2f}")


def logging_cost(repeats: int) -> None:
    """Print the whole-process wall time of `experiment=xor` for LONG epochs over
    SHORT. XOR's epochs take about a millisecond of arithmetic, so the ratio is almost all
    bookkeeping: a log rewritten every epoch grows with the square of the run's length."""
    with tempfile.TemporaryDirectory() as outputs:
        runs = {n: functools.partial(_dlproj, outputs, "experiment=xor", f"train.epochs={n}")
                for n in (SHORT, LONG)}
        wall = alternate(runs, calls=1, repeats=repeats, warmup=0, settle=0)
    ratio = wall[LONG] / wall[SHORT]
    print(f"logging: experiment=xor whole process, {LONG} epochs {wall[LONG]:.2f} s / {SHORT} "
          f"epochs {wall[SHORT]:.2f} s = {ratio:.2f} (goal <= 2; median of {repeats} alternating "
          f"repeats)")
