"""One 3x3 convolution's training step (forward and backward) by im2col and by Winograd's
F(2x2, 3x3), side by side, at the widths that set `WINOGRAD_MIN_CHANNELS` (dlproj/nn/conv.py).

    python scripts/conv_algorithms.py [--repeats 30] [--threads 1]

Each row is a 14x14 layer (the CNNs' conv2) with C_in -> C_out channels and a batch of 64 (one
thread's share of the bench's batch at 1 thread) or 32 (at 2). The two algorithms alternate,
repeat by repeat, so that load elsewhere hits both; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from dlproj.nn.conv import WINOGRAD_MIN_CHANNELS, Conv2d

SHAPES = [(8, 16, 64), (16, 32, 64), (16, 32, 32), (32, 64, 64), (32, 64, 32)]  # C_in, C_out, N


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"auto picks winograd from {WINOGRAD_MIN_CHANNELS} input channels on")
    print(f"{'C_in':>5} {'C_out':>5} {'N':>3} {'im2col ms':>10} {'winograd ms':>12} {'ratio':>6}")
    with threadpool_limits(args.threads):
        for c, co, n in SHAPES:
            x = rng.random((n, 14, 14, c), dtype=np.float32)
            dy = rng.random((n, 14, 14, co), dtype=np.float32)
            layers = {alg: Conv2d(c, co, 3, 1, 1, rng=rng, algorithm=alg)
                      for alg in ("im2col", "winograd")}
            times: dict[str, list[float]] = {alg: [] for alg in layers}
            for r in range(args.repeats + 2):
                for alg, layer in layers.items():
                    t0 = time.perf_counter()
                    layer.forward(x)
                    layer.backward(dy)
                    if r >= 2:  # two untimed steps first: buffers, caches
                        times[alg].append(time.perf_counter() - t0)
            im2col, wino = (statistics.median(times[a]) * 1e3 for a in ("im2col", "winograd"))
            print(f"{c:>5} {co:>5} {n:>3} {im2col:>10.2f} {wino:>12.2f} {wino / im2col:>6.2f}")


if __name__ == "__main__":
    main()
