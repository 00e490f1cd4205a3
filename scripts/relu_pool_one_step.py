"""The CNN's step with each ReLU and the max pool after it run as one step (dlproj/nn/sequential.py)
against the same step layer by layer, side by side in one process.

    python scripts/relu_pool_one_step.py [--repeats 15] [--threads 1]

For the study's CNNs (cnn_small, cnn_wide; batch 64, MNIST-shaped random input), one training
step's forward, loss and backward (Adam does not change: it reads the same gradients), timed three
ways in alternating repeats of 20 steps, as the median and the fastest repeat: one step both ways
(as a run does), layer by layer forward and one step backward, layer by layer both ways; then
whether the ways' losses and gradients are the same bits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlproj.nn.cnn import build_cnn  # noqa: E402
from dlproj.nn.losses import SoftmaxCrossEntropy  # noqa: E402
from dlproj.runtime.allocator import keep_freed_memory  # noqa: E402

MODELS = {"cnn_small": [8, 16], "cnn_wide": [32, 64]}


def forward_by_layer(model, x: np.ndarray) -> np.ndarray:
    for _, layer in model.layers:
        x = layer.forward(x)
    return x


def backward_by_layer(model, dout: np.ndarray) -> None:
    for _, layer in reversed(model.layers):
        dout = layer.backward(dout)


WAYS = {  # (forward, backward)
    "one step": (lambda m, x: m.forward(x), lambda m, d: m.backward(d)),
    "backward only": (forward_by_layer, lambda m, d: m.backward(d)),
    "layer by layer": (forward_by_layer, backward_by_layer),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads")
    args = ap.parse_args()
    keep_freed_memory()  # as a run does
    rng = np.random.default_rng(1)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    print(f"forward, loss and backward of one step, batch 64, {args.threads} BLAS thread(s); "
          f"ms, median (fastest) of {args.repeats} alternating repeats of 20 steps")
    for name, channels in MODELS.items():
        model = build_cnn(channels, rng=np.random.default_rng(0))
        loss = SoftmaxCrossEntropy()
        results = {}

        def step(way, model=model, loss=loss):
            forward, backward = WAYS[way]
            value = loss.forward(forward(model, x), y)
            backward(model, loss.backward())
            return value

        for way in WAYS:
            value = step(way)
            results[way] = [np.float64(value).tobytes(),
                            *(v.tobytes() for _, v in sorted(model.grads.items()))]
        same = all(r == results["layer by layer"] for r in results.values())
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        with threadpool_limits(args.threads, "blas"):
            for _ in range(args.repeats):
                for way in WAYS:
                    for _ in range(3):
                        step(way)
                    t0 = time.perf_counter()
                    for _ in range(20):
                        step(way)
                    times[way].append((time.perf_counter() - t0) / 20 * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        cells = "  ".join(f"{k} {med[k]:.2f} ({min(times[k]):.2f})" for k in WAYS)
        base = med["layer by layer"]
        print(f"{name:10s} {cells}  ratios {med['one step'] / base:.3f}, "
              f"{med['backward only'] / base:.3f}  "
              f"loss and gradients {'the same bits' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
