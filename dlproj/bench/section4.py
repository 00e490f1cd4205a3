"""Section 4's training step (PlainNet and SmallResNet, depth 8, width 16, explicit Adam) in torch's
default memory layout, in channels-last, and in channels-last under `train.precision=bf16-mixed`
(another result, not round-off), from the same weights on the same batch, alternating; GFLOP/s
and fraction of the GEMM rate as in step_speed.py. What it found: docs/section4.md, "Speed".
"""

from __future__ import annotations

import functools

from dlproj.bench.step_speed import alternate, gemm_rate, step_flops

NETS = ("plain", "resnet")
HEADER = (f"{'threads':>7} {'network':<12}{'GFLOP':>7}{'default ms':>11}{'GF/s':>7}{'of GEMM':>8}"
          f"{'chan-last ms':>13}{'GF/s':>7}{'of GEMM':>8}{'speed-up':>9}"
          f"{'bf16-mixed ms':>14}{'speed-up':>9}")
# path -> (memory layout, train.precision)
PATHS = {"default": ("contiguous_format", "32"), "channels_last": ("channels_last", "32"),
         "bf16": ("channels_last", "bf16-mixed")}


def _model(name: str, torch, layout):
    from dlproj.torchnets.models import PlainNet, SmallResNet

    torch.manual_seed(0)
    net = {"plain": PlainNet, "resnet": SmallResNet}[name]
    return net(depth=8, width=16, num_classes=10, in_channels=1,
               image_size=28).to(memory_format=layout)


def measure(name: str, threads: int, torch, *, steps: int, repeats: int,
            batch: int = 128) -> dict[str, float]:
    """Median seconds per training step on each of PATHS at `threads` threads."""
    from dlproj.torchnets.optim import Adam
    from dlproj.training.precision import Precision

    torch.set_num_threads(threads)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    runs = {}
    for key, (layout_name, precision) in PATHS.items():
        layout = getattr(torch, layout_name)
        model = _model(name, torch, layout)
        runs[key] = (model, Adam(model.parameters(), lr=1e-3),
                     x.contiguous(memory_format=layout), Precision(precision, x.device))

    def step(model, opt, xb, precision) -> None:
        with precision.autocast():
            loss = torch.nn.functional.cross_entropy(model(xb), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    # oneDNN picks its kernels on the first calls
    return alternate({key: functools.partial(step, *run) for key, run in runs.items()}, calls=steps,
                     repeats=repeats)


def run(thread_counts: list[int], *, steps: int = 3, repeats: int = 5, batch: int = 128,
        out=print) -> None:
    import torch

    out(f"Section 4 training step ({', '.join(NETS)}: depth 8, width 16, 28 px, batch {batch}, "
        f"explicit Adam), median of {repeats} alternating repeats of {steps} steps")
    out(HEADER)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    flops = {name: step_flops(_model(name, torch, torch.contiguous_format), x, y) for name in NETS}
    for threads in thread_counts:
        gemm = max(gemm_rate(threads, torch).values())
        for name in NETS:
            t = measure(name, threads, torch, steps=steps, repeats=repeats, batch=batch)
            gf = flops[name] / 1e9
            d, c = gf / t["default"], gf / t["channels_last"]
            out(f"{threads:>7} {name:<12}{gf:>7.1f}{t['default'] * 1e3:>11.1f}{d:>7.1f}"
                f"{d / gemm:>8.0%}{t['channels_last'] * 1e3:>13.1f}{c:>7.1f}{c / gemm:>8.0%}"
                f"{t['default'] / t['channels_last']:>9.2f}{t['bf16'] * 1e3:>14.1f}"
                f"{t['default'] / t['bf16']:>9.2f}")
        out(f"{threads:>7} (GEMM rate {gemm:.1f} GFLOP/s)")
