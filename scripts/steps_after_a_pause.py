"""How long a NumPy training step takes in the first steps after an idle pause, step by step.

    python scripts/steps_after_a_pause.py [MODEL] [--threads 2] [--pin]

MODEL is the bench's MLP (784-512-256-10, batch 128) or small CNN (8/16, batch 64). Each of 5
rounds sleeps 0.3 s (as `make bench` does before a repeat, to let the other framework's threads
go idle), then times 60 steps one by one; the median of the rounds is printed per step. `--pin`
puts the calling thread and the pool's worker on cores of their own first
(os.sched_setaffinity), so that the kernel cannot stack them on one core. What it showed and why
the bench warms each repeat up: docs/section3.md, "Speed".
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from dlproj import paths
from dlproj.data.mnist import load_mnist, to_float
from dlproj.nn.cnn import build_cnn
from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.nn.mlp import build_mlp
from dlproj.optim.optimizers import Adam
from dlproj.pool import on_threads
from dlproj.training.parallel import forward_backward

# name -> (the net, its batch size), as dlproj/bench/step_speed.py's MODELS has them
NETS = {"mlp": (lambda rng: build_mlp(784, [512, 256], 10, activation="relu", rng=rng), 128),
        "cnn_small": (lambda rng: build_cnn([8, 16], rng=rng), 64)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="mlp", choices=sorted(NETS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pin", action="store_true")
    args = p.parse_args()
    make, batch = NETS[args.model]
    model, loss, opt = make(np.random.default_rng(0)), SoftmaxCrossEntropy(), Adam(1e-3)
    mnist = load_mnist(paths.data_root(), val_size=0, train_limit=batch)
    x, y = to_float(mnist.train.images, flatten=args.model == "mlp"), mnist.train.labels
    if args.pin:
        cores = sorted(os.sched_getaffinity(0))
        on_threads([lambda i=i: os.sched_setaffinity(0, {cores[i % len(cores)]})
                    for i in range(args.threads)])

    def step() -> None:
        forward_backward(model, loss, x, y, workers=args.threads)
        opt.step(model.params, model.grads, threads=args.threads)

    rounds = []
    with threadpool_limits(limits=1, user_api="blas"):  # as a run of `threads: auto` has it
        for _ in range(3):
            step()
        for _ in range(5):
            time.sleep(0.3)
            times = []
            for _ in range(60):
                t0 = time.perf_counter()
                step()
                times.append((time.perf_counter() - t0) * 1e3)
            rounds.append(times)
    medians = [statistics.median(ms) for ms in zip(*rounds, strict=True)]
    print(f"{args.model}, {args.threads} thread(s){', pinned' if args.pin else ''}: ms per step "
          f"after a 0.3 s pause, median of {len(rounds)} rounds")
    for lo in range(0, len(medians), 15):
        print(f"  steps {lo + 1:>2}-{lo + 15:<2} " + " ".join(f"{m:.1f}" for m in
                                                           medians[lo:lo + 15]))
    print(f"  first 10: {np.mean(medians[:10]):.2f} ms, last 30: {np.mean(medians[-30:]):.2f} ms")


if __name__ == "__main__":
    main()
