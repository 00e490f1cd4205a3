"""Seconds per N batches of the Section 3 CNN: dlproj's NumPy layers against PyTorch on the CPU.

Both sides get the same architecture, the same weights (copied from the NumPy model, so the
logits agree), the same float32 MNIST batches and the same thread count. Three phases:
forward (training mode: NumPy caches for backward, torch records the graph), forward + loss +
backward, and a full training step with Adam. Repeats alternate NumPy and torch so that a burst
of load elsewhere on the machine hits both; the best repeat of each is reported.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np

MODELS = {"small": ([8, 16], 0), "wide": ([32, 64], 0)}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dlproj.bench", description=__doc__)
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads for NumPy and torch.set_num_threads (default 1)")
    p.add_argument("--model", choices=sorted(MODELS), default="small",
                   help="small: 8/16 channels (the default config); wide: 32/64")
    p.add_argument("--pooling", choices=["max", "avg"], default="max")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=50, help="batches per timed repeat")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats; the best is shown")
    p.add_argument("--data-root", default=None, help="MNIST root (default: the project's)")
    return p.parse_args(argv)


def _batches(args: argparse.Namespace) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from dlproj import paths
    from dlproj.data.mnist import load_mnist, to_float

    mnist = load_mnist(args.data_root or paths.data_root(), val_size=0,
                       train_limit=args.batch_size * args.batches)
    x = to_float(mnist.train.images, flatten=False)
    b = args.batch_size
    xs = [x[i:i + b] for i in range(0, len(x), b) if len(x[i:i + b]) == b]
    ys = [mnist.train.labels[i:i + b] for i in range(0, len(x), b) if len(x[i:i + b]) == b]
    return xs, ys


def torch_twin(np_model, torch):
    """A torch.nn.Sequential computing what the NumPy model computes, with its weights."""
    nn = torch.nn
    mods: list = []
    shape = None
    for _, layer in np_model.layers:
        kind = type(layer).__name__
        if kind == "Conv2d":
            conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                             layer.stride, layer.padding)
            conv.weight.data = torch.from_numpy(layer.params["W"].transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.from_numpy(layer.params["b"].copy())
            mods.append(conv)
            channels = layer.out_channels
        elif kind == "ReLU":
            mods.append(nn.ReLU())
        elif kind in ("MaxPool2d", "AvgPool2d"):
            mods.append(getattr(nn, kind)(layer.kernel_size, layer.stride))
        elif kind == "Flatten":
            mods.append(nn.Flatten())
            shape = channels
        elif kind == "Linear":
            W = layer.params["W"]
            lin = nn.Linear(*W.shape)
            if shape is not None:  # NHWC flatten order -> NCHW flatten order
                side = int(round((W.shape[0] // shape) ** 0.5))
                W = W.reshape(side, side, shape, -1).transpose(2, 0, 1, 3).reshape(W.shape)
                shape = None
            lin.weight.data = torch.from_numpy(np.ascontiguousarray(W.T))
            lin.bias.data = torch.from_numpy(layer.params["b"].copy())
            mods.append(lin)
    return nn.Sequential(*mods)


def _time(fn: Callable[[int], None], n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for n calls."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    import torch

    from dlproj.nn.cnn import build_cnn
    from dlproj.nn.losses import SoftmaxCrossEntropy
    from dlproj.optim.optimizers import Adam

    torch.set_num_threads(args.threads)
    channels, fc_hidden = MODELS[args.model]
    model = build_cnn(channels, rng=np.random.default_rng(0), pooling=args.pooling,
                      fc_hidden=fc_hidden)
    twin = torch_twin(model, torch)
    xs, ys = _batches(args)
    txs = [torch.from_numpy(x) for x in xs]
    tys = [torch.from_numpy(y) for y in ys]
    k = len(xs)

    with torch.no_grad():
        gap = float(np.abs(twin(txs[0]).numpy() - model.forward(xs[0], train=False)).max())

    loss = SoftmaxCrossEntropy()
    opt = Adam(1e-3)
    topt = torch.optim.Adam(twin.parameters(), lr=1e-3)

    def np_fwd(i):
        model.forward(xs[i % k], train=True)

    def np_fwd_bwd(i):
        loss.forward(model.forward(xs[i % k], train=True), ys[i % k])
        model.backward(loss.backward())

    def np_step(i):
        np_fwd_bwd(i)
        opt.step(model.params, model.grads)

    def t_fwd(i):
        twin(txs[i % k])

    def t_fwd_bwd(i):
        twin.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(twin(txs[i % k]), tys[i % k]).backward()

    def t_step(i):
        t_fwd_bwd(i)
        topt.step()

    phases = [("forward", np_fwd, t_fwd), ("forward+backward", np_fwd_bwd, t_fwd_bwd),
              ("training step", np_step, t_step)]
    n = args.batches
    print(f"Section 3 CNN ({args.model}: conv{channels} 3x3, {args.pooling} pool 2, "
          f"fc{'-' + str(fc_hidden) if fc_hidden else ''}), batch {args.batch_size}, float32, "
          f"{args.threads} thread(s); seconds per {n} batches, best of {args.repeats}")
    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}, "
          f"torch {torch.__version__}; max |logit difference| at the same weights: {gap:.2e}")
    print("wall: elapsed seconds; cpu: CPU seconds of this process (steadier when other jobs "
          "share the cores)")
    print(f"{'phase':<18}{'numpy wall':>11}{'torch wall':>11}{'ratio':>7}"
          f"{'numpy cpu':>11}{'torch cpu':>11}{'ratio':>7}")
    ratios = {}
    for name, fn_np, fn_t in phases:
        _time(fn_np, 3)
        _time(fn_t, 3)
        best_np, best_t = np.full(2, np.inf), np.full(2, np.inf)
        for _ in range(args.repeats):
            best_np = np.minimum(best_np, _time(fn_np, n))
            best_t = np.minimum(best_t, _time(fn_t, n))
        r = best_np / best_t
        ratios[name] = {"wall": float(r[0]), "cpu": float(r[1])}
        print(f"{name:<18}{best_np[0]:>11.3f}{best_t[0]:>11.3f}{r[0]:>7.2f}"
              f"{best_np[1]:>11.3f}{best_t[1]:>11.3f}{r[1]:>7.2f}")
    return ratios
