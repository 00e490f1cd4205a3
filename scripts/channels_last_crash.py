"""Map torch's channels-last fault: a 1x1, stride-2 convolution (SmallResNet's shortcut where a
stage halves the resolution) trained in channels-last on the CPU, each case in a process of its
own (a crash there is a return code, not this script's end).

    python scripts/channels_last_crash.py                  # widths x batches at 2 threads
    python scripts/channels_last_crash.py --threads 3 4    # other thread counts

Prints one row per input width: for each batch size `ok`, `SEGV` / `ABRT` (the heap corrupted:
`corrupted size vs. prev_size`, `double free or corruption`) or `hang` (killed after 20 s).
dlproj takes such a convolution another way where this would happen
(dlproj/torchnets/models.py::crashes_torch); docs/section4.md, "The crash and the hang", has
what it found.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

CASE = """
import sys, torch
w, b, threads, layout = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
conv = torch.nn.Conv2d(w, 2 * w, 1, stride=2, bias=False).to(memory_format=fmt)
x = torch.randn(b, w, 28, 28).contiguous(memory_format=fmt)
for _ in range(3):
    conv.zero_grad()
    conv(x).sum().backward()
"""


def case(width: int, batch: int, threads: int, layout: str) -> str:
    try:
        proc = subprocess.run([sys.executable, "-c", CASE, str(width), str(batch), str(threads),
                               layout], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "hang"
    if proc.returncode == 0:
        return "ok"
    if proc.returncode < 0:
        return signal.Signals(-proc.returncode).name.removeprefix("SIG")
    return f"rc{proc.returncode}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--widths", type=int, nargs="+", default=[2, 4, 8, 12, 15, 16, 32])
    p.add_argument("--batches", type=int, nargs="+", default=[2, 3, 4, 5, 105, 128])
    p.add_argument("--layout", choices=["channels_last", "contiguous"], default="channels_last")
    args = p.parse_args()
    for threads in args.threads:
        print(f"{args.layout}, {threads} intra-op threads; conv1x1 stride 2, 28 px, "
              f"batches {' '.join(map(str, args.batches))}:")
        for width in args.widths:
            row = [case(width, b, threads, args.layout) for b in args.batches]
            print(f"  in-channels {width:>3}: " + " ".join(f"{r:>5}" for r in row), flush=True)


if __name__ == "__main__":
    main()
