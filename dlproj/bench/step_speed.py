"""One training step, NumPy against PyTorch, and both against the machine's GEMM rate (how it is
measured and what it found: docs/section3.md, "Speed").

NumPy runs as a run with that many cores does (`threads: auto`: that many step workers, one BLAS
thread each); torch gets torch.set_num_threads. Repeats alternate NumPy and torch so that load
elsewhere on the machine hits both; the median is reported.

`run_section4`: Section 4's training step (PlainNet and SmallResNet, depth 8, width 16, explicit
Adam) in torch's default memory layout, in channels-last, and in channels-last under
`train.precision=bf16-mixed` (another result, not round-off), from the same weights on the same
batch, alternating; what it found: docs/section4.md, "Speed".
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from dlproj.nn.cnn import build_cnn
from dlproj.nn.mlp import build_mlp
from dlproj.nn.two_layer import TwoLayerNet


@dataclass(frozen=True)
class BenchModel:
    """A NumPy net of the bench, timed beside its PyTorch twin (dlproj.torchnets.twins)."""
    name: str
    make: Callable[..., Any]  # rng= -> the net
    batch_size: int
    images: bool  # (N, 1, 28, 28) input, else (N, 784)

    def build(self) -> Any:
        return self.make(rng=np.random.default_rng(0))


MODELS = {m.name: m for m in (  # Section 1's MLP, Section 2's net, Section 3's CNNs
    BenchModel("mlp", partial(build_mlp, 784, [512, 256], 10, activation="relu"), 128, False),
    BenchModel("two_layer", partial(TwoLayerNet, 784, 512, 10, activation="relu"), 128, False),
    BenchModel("cnn_small", partial(build_cnn, [8, 16]), 64, True),
    BenchModel("cnn_wide", partial(build_cnn, [32, 64]), 64, True),
)}


HEADER = (f"{'threads':>7} {'model':<10}{'numpy ms':>9}{'torch ms':>9}{'ratio':>7}"
          f"{'numpy GF/s':>11}{'of GEMM':>8}{'torch GF/s':>11}{'of GEMM':>8}")


# Idle BLAS and OpenMP threads keep spinning a while after their last task (OpenBLAS's for
# about 2^28 cycles); a repeat started meanwhile would share its cores with them.
SETTLE_S = 0.3
# After such a pause the kernel wakes a step's second thread on the first one's core and moves it
# only some 50 ms later: a 2-thread NumPy MLP step took 3.7 ms for its first 15 steps after 0.3 s
# of sleep, then 2.3 ms (with each thread pinned to its own core, 2.3 ms from the start). A run
# takes hundreds of steps in a row, so each repeat first steps untimed for WARM_S.
WARM_S = 0.15


def alternate(steps: dict[Any, Callable[[], Any]], *, calls: int, repeats: int, warmup: int = 2,
              settle: float = SETTLE_S, pick=statistics.median) -> dict[Any, float]:
    """Seconds per call of each step, the median (or `pick`) of its repeats, which alternate with
    the others' so that load elsewhere on the machine hits them all; `warmup` untimed calls each
    first. With `settle`, each repeat starts with that many seconds of sleep (see SETTLE_S), then
    WARM_S seconds of untimed calls, so that it times the steady state a run sees."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times: dict[Any, list[float]] = {key: [] for key in steps}
    for _ in range(repeats):
        for key, fn in steps.items():
            if settle:
                time.sleep(settle)
                warm = time.perf_counter() + WARM_S
                while time.perf_counter() < warm:
                    fn()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[key].append((time.perf_counter() - t0) / calls)
    return {key: pick(t) for key, t in times.items()}


def gemm_rate(threads: int, torch, size: int = 1536, repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of a float32 (size x size) @ (size x size) in NumPy and torch, best repeat."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        best = alternate({"numpy": lambda: a @ b, "torch": lambda: torch.mm(ta, tb)}, calls=1,
                         repeats=repeats, warmup=1, settle=0, pick=min)
    return {k: 2 * size**3 / v / 1e9 for k, v in best.items()}


def blas_line() -> str:
    """Which BLAS NumPy's products run on, and the kernels it picked for this CPU: an
    OPENBLAS_CORETYPE in the environment overrides OpenBLAS's choice (Haswell's are AVX2 only)."""
    from threadpoolctl import threadpool_info

    libs = [f"{i['internal_api']} {i['version']} ({i.get('architecture') or '?'} kernels)"
            for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return (f"numpy's BLAS: {', '.join(libs) or 'none found'}"
            + (f"; OPENBLAS_CORETYPE={forced} in the environment chose them" if forced else ""))


def step_flops(torch_model, x, y) -> int:
    """Floating-point operations of one training step of a torch model on batch (x, y): the
    forward and backward of its cross-entropy, torch's count (torch.utils.flop_counter: the
    convolutions and matrix products, no dx for the first layer since x needs no gradient)."""
    from torch.nn.functional import cross_entropy
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        cross_entropy(torch_model(x), y).backward()
    return counter.get_total_flops()


def measure_step(spec: BenchModel, threads: int, torch, *, steps: int, repeats: int,
                 data_root: str | None = None) -> dict[str, float]:
    """Median seconds per training step of both frameworks at `threads` threads ("numpy",
    "torch"), and the step's GFLOP ("gflop")."""
    from threadpoolctl import threadpool_limits

    from dlproj import paths
    from dlproj.data.mnist import load_mnist, to_float
    from dlproj.nn.losses import SoftmaxCrossEntropy
    from dlproj.optim.optimizers import Adam
    from dlproj.torchnets.twins import twin
    from dlproj.training.parallel import forward_backward

    model = spec.build()
    torch_model = twin(model)
    b = spec.batch_size
    mnist = load_mnist(data_root or paths.data_root(), val_size=0, train_limit=b * 8)
    xs = np.split(to_float(mnist.train.images, flatten=not spec.images), 8)
    ys = np.split(mnist.train.labels, 8)
    txs, tys = [torch.from_numpy(x) for x in xs], [torch.from_numpy(y) for y in ys]
    gflop = step_flops(torch_model, txs[0], tys[0]) / 1e9
    loss, opt = SoftmaxCrossEntropy(), Adam(1e-3)
    topt = torch.optim.Adam(torch_model.parameters(), lr=1e-3)
    k = [0]

    def np_step():
        i = k[0] = (k[0] + 1) % len(xs)
        forward_backward(model, loss, xs[i], ys[i], workers=threads)
        opt.step(model.params, model.grads, threads=threads)

    def torch_step():
        i = k[0] = (k[0] + 1) % len(xs)
        torch_model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(torch_model(txs[i]), tys[i]).backward()
        topt.step()

    torch.set_num_threads(threads)
    # threads: auto for a run given `threads` cores = that many workers, 1 BLAS thread each
    with threadpool_limits(limits=1, user_api="blas"):
        t = alternate({"numpy": np_step, "torch": torch_step}, calls=steps, repeats=repeats,
                      warmup=3)
    return {**t, "gflop": gflop}


def run(thread_counts: list[int], models: list[str], *, steps: int, repeats: int,
        data_root: str | None = None, out=print) -> None:
    import torch

    out(blas_line())
    out(HEADER)
    for threads in thread_counts:
        rates = gemm_rate(threads, torch)
        limit = max(rates.values())
        out(f"{threads:>7} GEMM 1536^3 float32: numpy {rates['numpy']:.1f}, torch "
            f"{rates['torch']:.1f} GFLOP/s; fractions below are of {limit:.1f}")
        for name in models:
            t = measure_step(MODELS[name], threads, torch, steps=steps, repeats=repeats,
                             data_root=data_root)
            n, g = t["gflop"] / t["numpy"], t["gflop"] / t["torch"]
            out(f"{threads:>7} {name:<10}{t['numpy'] * 1e3:>9.2f}{t['torch'] * 1e3:>9.2f}"
                f"{t['numpy'] / t['torch']:>7.2f}{n:>11.1f}{n / limit:>8.0%}{g:>11.1f}"
                f"{g / limit:>8.0%}")


NETS = ("plain", "resnet")
SECTION4_HEADER = (f"{'threads':>7} {'network':<12}{'GFLOP':>7}{'default ms':>11}{'GF/s':>7}"
                   f"{'of GEMM':>8}{'chan-last ms':>13}{'GF/s':>7}{'of GEMM':>8}{'speed-up':>9}"
                   f"{'bf16-mixed ms':>14}{'speed-up':>9}")
# path -> (memory layout, train.precision)
PATHS = {"default": ("contiguous_format", "32"), "channels_last": ("channels_last", "32"),
         "bf16": ("channels_last", "bf16-mixed")}


def _net(name: str, torch, layout):
    from dlproj.torchnets.models import PlainNet, SmallResNet

    torch.manual_seed(0)
    net = {"plain": PlainNet, "resnet": SmallResNet}[name]
    return net(depth=8, width=16, num_classes=10, in_channels=1,
               image_size=28).to(memory_format=layout)


def time_section4(name: str, threads: int, torch, *, steps: int, repeats: int,
                  batch: int = 128) -> dict[str, float]:
    """Median seconds per training step on each of PATHS at `threads` threads."""
    from dlproj.torchnets.optim import Adam
    from dlproj.training.precision import Precision

    torch.set_num_threads(threads)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    runs = {}
    for key, (layout_name, precision) in PATHS.items():
        layout = getattr(torch, layout_name)
        model = _net(name, torch, layout)
        runs[key] = (model, Adam(model.parameters(), lr=1e-3),
                     x.contiguous(memory_format=layout), Precision(precision, x.device))

    def step(model, opt, xb, precision) -> None:
        with precision.autocast():
            loss = torch.nn.functional.cross_entropy(model(xb), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    # oneDNN picks its kernels on the first calls
    return alternate({key: partial(step, *run) for key, run in runs.items()}, calls=steps,
                     repeats=repeats)


def run_section4(thread_counts: list[int], *, steps: int = 3, repeats: int = 5,
                 batch: int = 128, out=print) -> None:
    import torch

    out(f"Section 4 training step ({', '.join(NETS)}: depth 8, width 16, 28 px, batch {batch}, "
        f"explicit Adam), median of {repeats} alternating repeats of {steps} steps")
    out(SECTION4_HEADER)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    flops = {name: step_flops(_net(name, torch, torch.contiguous_format), x, y) for name in NETS}
    for threads in thread_counts:
        gemm = max(gemm_rate(threads, torch).values())
        for name in NETS:
            t = time_section4(name, threads, torch, steps=steps, repeats=repeats, batch=batch)
            gf = flops[name] / 1e9
            d, c = gf / t["default"], gf / t["channels_last"]
            out(f"{threads:>7} {name:<12}{gf:>7.1f}{t['default'] * 1e3:>11.1f}{d:>7.1f}"
                f"{d / gemm:>8.0%}{t['channels_last'] * 1e3:>13.1f}{c:>7.1f}{c / gemm:>8.0%}"
                f"{t['default'] / t['channels_last']:>9.2f}{t['bf16'] * 1e3:>14.1f}"
                f"{t['default'] / t['bf16']:>9.2f}")
        out(f"{threads:>7} (GEMM rate {gemm:.1f} GFLOP/s)")
