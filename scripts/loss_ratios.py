"""How close did the runs of an outputs folder come to train.divergence_factor?

    python scripts/loss_ratios.py OUTPUTS [--factor 1e4]

For every run (a results.json beside a metrics.csv): its largest loss over its first loss, the
ratio dlproj.training.divergence holds against train.divergence_factor. The losses: every epoch's
train_loss and its *_loss / *_mse columns, as metrics.csv has them. The first loss: the record's
`first_loss` (the first training step's, recorded since the rule exists), else metrics.csv's first
train_loss, the mean of epoch 1 (for a run recorded before; it is below the first step's loss in
a run that learns, so the ratio comes out larger, not smaller). Per-step losses are not on disk:
a step's loss above its epoch's mean is not seen here.

Prints the largest ratio per section, and each completed run at or over `--factor` (default: the
rule's default); exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlproj.training.csvlog import read_rows  # noqa: E402
from dlproj.training.divergence import FACTOR  # noqa: E402


def losses(metrics: Path) -> list[tuple[float, str]]:
    """(value, 'epoch N column') of every loss in metrics.csv, in order (its complete rows, as
    every reader of a run's CSV logs takes them)."""
    return [(float(value), f"epoch {row.get('epoch')} {col}") for row in read_rows(metrics)
            for col, value in row.items() if col and col.endswith(("_loss", "_mse"))]


def ratio(run: Path, record: dict) -> tuple[float, str, str] | None:
    """(largest loss / first loss, where, which first loss) of one run, `record` its
    results.json; None without losses."""
    found = losses(run / "metrics.csv")
    train = [v for v, where in found if where.endswith(" train_loss")]
    if not found or not train:
        return None
    first, which = ((record["first_loss"], "first step") if record.get("first_loss")
                    else (train[0], "epoch-1 mean"))
    value, where = max(found, key=lambda f: f[0] if math.isfinite(f[0]) else math.inf)
    return value / first if first > 0 else math.inf, where, which


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outputs", type=Path)
    parser.add_argument("--factor", type=float, default=FACTOR)
    args = parser.parse_args(argv)
    best: dict[int, tuple[float, Path, str, str]] = {}
    counted: dict[tuple[int, str], int] = {}
    over = []
    for results in sorted(args.outputs.rglob("results.json")):
        run = results.parent
        if not (run / "metrics.csv").is_file():
            continue
        record = json.loads(results.read_text())
        found = ratio(run, record)
        if found is None:
            continue
        section, status = int(record["section"]), record["status"]
        counted[(section, status)] = counted.get((section, status), 0) + 1
        value, where, which = found
        if status == "completed":
            if section not in best or value > best[section][0]:
                best[section] = (value, run, where, which)
            if value >= args.factor:
                over.append(f"{run}: {value:.4g} at {where}")
    for section in sorted({s for s, _ in counted}):
        runs = ", ".join(f"{n} {status}" for (s, status), n in sorted(counted.items())
                         if s == section)
        line = f"section {section}: {runs}"
        if section in best:
            value, run, where, which = best[section]
            line += (f"; largest ratio of a completed run {value:.4g} "
                     f"({where} over its {which} loss, {run})")
        print(line)
    print(f"{len(over)} completed run(s) at or over {args.factor:g} times their first loss")
    for line in over:
        print("  " + line)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
