"""Do two outputs folders hold the same results? `python scripts/same_results.py BEFORE AFTER`.

Made to show that a change of code changes no result: run the same study before and after it,

    python -m dlproj.reproduce --study quick --outputs /tmp/before   # at the old commit
    python -m dlproj.reproduce --study quick --outputs /tmp/after    # at the new one
    python scripts/same_results.py /tmp/before /tmp/after

and every run of BEFORE is paired with the run of AFTER of the same (setting, seed). The setting is
recomputed from each run's recorded config by the code of the checkout that runs this script
(dlproj.config.setting), so runs recorded before a change of the setting's definition pair up too.
Compared, per pair: every final metric in results.json, every cell of metrics.csv (but
`epoch_seconds`) and of the other CSV files a run writes (gradient norms, confusion matrices,
receptive fields). Sections 1-3 (NumPy) must agree bit for bit; Section 4 (torch) to a relative
1e-6. Strings that are paths compare by file name (the runs live in different folders). Prints a
line per experiment and every difference; exits 1 when anything differs or is unpaired.

A change that moves one experiment's float round-off on purpose (a sum taken in another order)
names it: `--round-off cnn=1e-6` compares that experiment's runs to that relative tolerance.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

# The setting is this checkout's (its dlproj/), not that of whichever clone the virtual
# environment has installed: `python scripts/same_results.py` puts scripts/ on the path, not the
# project, and a worktree or second clone sharing one .venv would otherwise pair the runs by
# another checkout's definition of the setting.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TIMING = {"epoch_seconds", "wall_seconds"}
CSV_FILES = ("metrics.csv", "grad_norms.csv", "confusion_counts.csv", "confusion_normalized.csv",
             "receptive_fields.csv")
TOLERANCE = {4: 1e-6}  # relative; every other section: bit for bit


def runs(root: Path) -> dict[tuple[str, int], Path]:
    from dlproj.config.setting import setting_id

    found: dict[tuple[str, int], Path] = {}
    for results in sorted(root.rglob("results.json")):
        record = json.loads(results.read_text())
        if record.get("status") != "completed":
            continue
        key = (setting_id(record["config"]), int(record["seed"]))
        if key in found:
            raise SystemExit(f"{results.parent} and {found[key]}: the same (setting, seed) twice")
        found[key] = results.parent
    return found


def _value(text: str):
    try:
        return float(text)
    except ValueError:
        return Path(text).name if "/" in text else text


def _same(a, b, tol: float) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        a = Path(a).name if isinstance(a, str) and "/" in a else a
        b = Path(b).name if isinstance(b, str) and "/" in b else b
        return a == b
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if tol == 0.0:
        return a == b
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-12)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def compare(before: Path, after: Path, tol: float) -> tuple[int, list[str]]:
    """(values compared, differences) of one pair of run directories."""
    diffs, count = [], 0
    old, new = (json.loads((d / "results.json").read_text())["metrics"] for d in (before, after))
    for key in sorted(set(old) | set(new)):
        if key in TIMING:
            continue
        count += 1
        if key not in old or key not in new or not _same(old[key], new[key], tol):
            diffs.append(f"results.json metrics.{key}: {old.get(key)!r} vs {new.get(key)!r}")
    for name in CSV_FILES:
        a, b = before / name, after / name
        if not a.exists() and not b.exists():
            continue
        if a.exists() != b.exists():
            diffs.append(f"{name}: only in {'before' if a.exists() else 'after'}")
            continue
        rows_a, rows_b = _csv(a), _csv(b)
        if len(rows_a) != len(rows_b):
            diffs.append(f"{name}: {len(rows_a)} rows vs {len(rows_b)}")
            continue
        for i, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=True), start=1):
            if set(ra) != set(rb):
                diffs.append(f"{name} row {i}: columns {sorted(ra)} vs {sorted(rb)}")
                break
            for col in ra:
                if col in TIMING:
                    continue
                count += 1
                if not _same(_value(ra[col]), _value(rb[col]), tol):
                    diffs.append(f"{name} row {i} {col}: {ra[col]} vs {rb[col]}")
    return count, diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--round-off", action="append", default=[], metavar="EXPERIMENT=REL",
                        help="compare this experiment to a relative tolerance (repeatable)")
    args = parser.parse_args(argv)
    try:
        by_name = {name: float(rel) for name, rel in (a.split("=", 1) for a in args.round_off)}
    except ValueError:
        parser.error(f"--round-off takes EXPERIMENT=REL (cnn=1e-6), got {args.round_off}")

    def tolerance(section: int, experiment: str) -> float:
        return by_name.get(experiment, TOLERANCE.get(section, 0.0))

    left, right = runs(args.before), runs(args.after)
    by_experiment: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    problems: list[str] = []
    for key in sorted(set(left) | set(right)):
        if key not in left or key not in right:
            where = left.get(key) or right.get(key)
            problems.append(f"unpaired: {where} (setting {key[0]}, seed {key[1]}) is only in "
                            f"{'BEFORE' if key in left else 'AFTER'}")
            continue
        record = json.loads((right[key] / "results.json").read_text())
        section, experiment = int(record["section"]), str(record["experiment"])
        count, diffs = compare(left[key], right[key], tolerance(section, experiment))
        tally = by_experiment[(section, experiment)]
        tally[0] += 1
        tally[1] += count
        tally[2] += bool(diffs)
        problems += [f"{left[key]} vs {right[key]}: {d}" for d in diffs[:5]]
    print(f"{'section':>7}  {'experiment':<16}{'runs':>5}{'values':>9}  result")
    for (section, experiment), (n, values, bad) in sorted(by_experiment.items()):
        tol = tolerance(section, experiment)
        rule = f"to {tol:g} relative" if tol else "bit for bit"
        verdict = f"{bad} run(s) DIFFER" if bad else f"same, {rule}"
        print(f"{section:>7}  {experiment:<16}{n:>5}{values:>9}  {verdict}")
    total = sum(t[0] for t in by_experiment.values())
    print(f"{total} (setting, seed) pairs of {args.before} and {args.after}; "
          f"{len(problems)} problem(s)")
    for problem in problems:
        print("  " + problem)
    return 1 if problems or not total else 0


if __name__ == "__main__":
    sys.exit(main())
