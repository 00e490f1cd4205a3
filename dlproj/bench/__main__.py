"""`python -m dlproj.bench` (what `make bench` runs): NumPy vs PyTorch at 1 thread and all cores.

Prints the training-step table and Section 4's training step in both memory layouts
(step_speed.py), the end-to-end epoch times and what a long run pays for its records
(end_to_end.py), with the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time

from dlproj.bench.step_speed import MODELS
from dlproj.data.mnist import TRAIN_IMAGES, VAL_IMAGES
from dlproj.environment import cores
from dlproj.errors import DlprojError, check_knobs
from dlproj.paths import NEW_DATA_ROOT, new_data_root, resolve_path
from dlproj.runtime import allocator, threads


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _count(least: int, most: int | None = None, why: str = ""):
    """An argparse type: an integer >= `least` (and <= `most`; argparse turns the error into one
    line, exit 2)."""
    def parse(text: str) -> int:
        with contextlib.suppress(ValueError):
            value = int(text)
            if value >= least and (most is None or value <= most):
                return value
        bound = f"an integer >= {least}" if most is None else f"an integer {least}..{most}{why}"
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: {bound}")
    return parse


def _threads(text: str) -> list[int]:
    """--threads: thread counts as a run's threads.* takes them (threads.setting: auto or an
    integer >= 1, more than the cores too), auto being every core."""
    counts = []
    for item in map(str.strip, text.split(",")):
        try:  # an integer as Hydra reads one from a command line, else the text
            counts.append(threads.setting(int(item) if item.lstrip("-").isdigit() else item)
                          or cores())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: allowed: {threads.ALLOWED}") from None
    return counts


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, refused by argparse in one line naming the argument (exit 2)."""
    p = argparse.ArgumentParser(prog="python -m dlproj.bench", description=__doc__)
    p.add_argument("--threads", type=_threads, default="1,auto",
                   help="comma-separated thread counts, each auto (every core) or an integer >= 1 "
                        "(more than the cores oversubscribes them; default: 1,auto)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--steps", type=_count(1), default=10, help="training steps per timed repeat")
    p.add_argument("--repeats", type=_count(1), default=7,
                   help="alternating repeats; median shown")
    p.add_argument("--section4", type=_count(0), default=5, metavar="REPEATS",
                   help="repeats of Section 4's training-step block (0: skip it)")
    images = TRAIN_IMAGES - VAL_IMAGES  # both sides train on data.val_size's default split
    p.add_argument("--end-to-end", type=_count(0, images, f" (MNIST's {TRAIN_IMAGES} training "
                                                   f"images less {VAL_IMAGES} for validation)"),
                   default=6400, metavar="IMAGES",
                   help="training images of the end-to-end epoch (0: skip it)")
    p.add_argument("--data-root", default=None,
                   help="MNIST root, as data.root (default: the project's); one that is not "
                        "there yet is refused, not filled with a download")
    p.add_argument("--logging", type=_count(0), default=3, metavar="REPEATS",
                   help="repeats of the logging-cost line (0: skip it)")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",")]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"argument --models: {', '.join(unknown)}: allowed: {', '.join(MODELS)}")
    if args.data_root is not None:  # as a run's data.root, resolved once for every block
        if new_data_root(args.data_root):
            p.error(f"argument --data-root: {args.data_root!r} ({resolve_path(args.data_root)} "
                    f"is not there): allowed: {NEW_DATA_ROOT}")
        args.data_root = str(resolve_path(args.data_root))
    return args


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    try:  # the environment's numbers and switches, as a run checks them: before any line
        check_knobs()
    except DlprojError as exc:
        print(f"dlproj: {exc}", file=sys.stderr)
        sys.exit(2)

    import numpy as np
    import torch

    from dlproj.bench import end_to_end, step_speed

    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.machine()}, {cores()} cores, "
          f"numpy {np.__version__}, torch {torch.__version__}; load average {_load()}")
    print(f"training step (forward, softmax cross-entropy, backward, Adam), median of "
          f"{args.repeats} alternating repeats of {args.steps} steps; MLPs batch 128, CNNs 64")
    try:  # MNIST missing, cut short, not fetchable: one paragraph, as a run says it
        kept = allocator.keep_freed_memory()  # as a run does, for NumPy and torch alike
        print(f"malloc: {'freed memory kept for reuse' if kept else 'as the C library has it'}"
              ", as in a run (dlproj/runtime/allocator.py)")
        step_speed.run(args.threads, args.models, steps=args.steps, repeats=args.repeats,
                       data_root=args.data_root)
        if args.section4:
            step_speed.run_section4(args.threads, repeats=args.section4)
        if args.end_to_end:
            end_to_end.run(args.threads, args.end_to_end, data_root=args.data_root)
    except DlprojError as exc:
        sys.exit(f"dlproj: {exc}")
    if args.logging:
        end_to_end.logging_cost(args.logging)
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    from dlproj.errors import stopped

    sys.exit(stopped(main, "python -m dlproj.bench"))
