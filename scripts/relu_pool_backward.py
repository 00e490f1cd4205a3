"""The CNN's backward with ReLU and max pool in one step (dlproj/nn/sequential.py) against the same
backward layer by layer, side by side in one process.

    python scripts/relu_pool_backward.py [--repeats 15] [--threads 1]

For the study's CNNs (cnn_small, cnn_wide; batch 64, MNIST-shaped random input), one training
step's forward, loss and backward (Adam does not change: it reads the same gradients), timed both
ways in alternating repeats of 20 steps, as the median and the fastest repeat; then whether the
two ways' gradients are the same bits.
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


def layer_by_layer(model, dout: np.ndarray) -> None:
    for _, layer in reversed(model.layers):
        dout = layer.backward(dout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads")
    args = ap.parse_args()
    keep_freed_memory()  # as a run does
    rng = np.random.default_rng(1)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    ways = {"one step": lambda m, d: m.backward(d), "layer by layer": layer_by_layer}
    print(f"forward, loss and backward of one step, batch 64, {args.threads} BLAS thread(s); "
          f"ms, median (fastest) of {args.repeats} alternating repeats of 20 steps")
    for name, channels in MODELS.items():
        model = build_cnn(channels, rng=np.random.default_rng(0))
        loss = SoftmaxCrossEntropy()
        grads = {}

        def step(way, model=model, loss=loss):
            loss.forward(model.forward(x), y)
            way(model, loss.backward())

        for key, way in ways.items():
            step(way)
            grads[key] = {k: v.copy() for k, v in model.grads.items()}
        same = all(a.tobytes() == grads["layer by layer"][k].tobytes()
                   for k, a in grads["one step"].items())
        times: dict[str, list[float]] = {key: [] for key in ways}
        with threadpool_limits(args.threads, "blas"):
            for _ in range(args.repeats):
                for key, way in ways.items():
                    for _ in range(3):
                        step(way)
                    t0 = time.perf_counter()
                    for _ in range(20):
                        step(way)
                    times[key].append((time.perf_counter() - t0) / 20 * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        cells = "  ".join(f"{k} {med[k]:.2f} ({min(times[k]):.2f})" for k in ways)
        print(f"{name:10s} {cells}  ratio {med['one step'] / med['layer by layer']:.3f}  "
              f"gradients {'the same bits' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
