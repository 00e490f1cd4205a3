"""`python -m dlproj.bench` (what `make bench` runs): NumPy vs PyTorch at 1 thread and all cores.

Prints the training-step table (step_speed.py), Section 4's training step in both memory layouts
(section4.py), the end-to-end epoch times and what a long run pays for its records
(end_to_end.py), with the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from dlproj.bench.step_speed import MODELS
from dlproj.environment import cores
from dlproj.errors import DlprojError, check_knobs


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _count(least: int):
    """An argparse type: an integer >= `least` (argparse turns the error into one line, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r}: allowed: an integer >= {least}")
        return value
    return parse


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m dlproj.bench", description=__doc__)
    p.add_argument("--threads", type=lambda text: [_count(1)(t.strip()) for t in text.split(",")],
                   default=[1, cores()],
                   help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--steps", type=_count(1), default=10, help="training steps per timed repeat")
    p.add_argument("--repeats", type=_count(1), default=7,
                   help="alternating repeats; median shown")
    p.add_argument("--section4", type=_count(0), default=5, metavar="REPEATS",
                   help="repeats of Section 4's training-step block (0: skip it)")
    p.add_argument("--end-to-end", type=_count(0), default=6400, metavar="IMAGES",
                   help="training images of the end-to-end epoch (0: skip it)")
    p.add_argument("--data-root", default=None, help="MNIST root (default: the project's)")
    p.add_argument("--logging", type=_count(0), default=3, metavar="REPEATS",
                   help="repeats of the logging-cost line (0: skip it)")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",")]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        p.error(f"argument --models: {', '.join(unknown)}: allowed: {', '.join(MODELS)}")

    import numpy as np
    import torch

    from dlproj.bench import end_to_end, section4, step_speed

    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.machine()}, {cores()} cores, "
          f"numpy {np.__version__}, torch {torch.__version__}; load average {_load()}")
    print(f"training step (forward, softmax cross-entropy, backward, Adam), median of "
          f"{args.repeats} alternating repeats of {args.steps} steps; MLPs batch 128, CNNs 64")
    try:  # MNIST missing, cut short, not fetchable: one paragraph, as a run says it
        check_knobs()  # the environment's numbers and switches, as a run checks them
        step_speed.run(args.threads, models, steps=args.steps, repeats=args.repeats,
                       data_root=args.data_root)
        if args.section4:
            section4.run(args.threads, repeats=args.section4)
        if args.end_to_end:
            end_to_end.run(args.threads, args.end_to_end, data_root=args.data_root)
    except DlprojError as exc:
        sys.exit(f"dlproj: {exc}")
    if args.logging:
        end_to_end.logging_cost(args.logging)
    print(f"load average after: {_load()}")


main()
