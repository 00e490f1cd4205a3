"""Every run directory under outputs/ as one row of a DataFrame, skipping what is unreadable.

A run directory holds `results.json` (the final record) and/or `.hydra/config.yaml`, plus
`metrics.csv` (a row per epoch). Single runs live in `outputs/runs/<stamp>_s<N>_<name>/`, sweep
jobs in `outputs/multirun/<stamp>/<job>/`. A corrupt, empty or half-written file is reported by
path (a `Problem`) and skipped; nothing here raises on bad files.

`dedupe` then keeps one run per (setting, seed): the newest completed one (else the newest of the
rest); the others are *superseded* and listed by the report, never averaged.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dlproj.config.setting import flatten, setting_of
from dlproj.config.setting import setting_id as setting_id_of

# Folders that never hold runs: the report's own output and launcher bookkeeping.
SKIP_DIRS = frozenset({"report", "reproduce", ".submitit", ".hydra", "__pycache__", ".unrecorded"})
# A run with one of these outcomes is done: rerunning it gives the same outcome.
DONE = ("completed", "diverged")
COLUMNS = ["path", "section", "experiment", "seed", "status", "setting", "label", "finished",
           "wall_seconds", "error", "overrides", "config", "metrics"]


@dataclass
class Problem:
    """A file that could not be used, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class CorruptFile(ValueError):
    pass


_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")


def natural_key(path: Path | str) -> list:
    """Sort key that orders numbers by value: job 2 before job 10, lr=0.003 before lr=0.1."""
    return [float(tok) if i % 2 else tok for i, tok in enumerate(_NUMBER.split(str(path)))]


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories under `root`, in natural order (only `runs/` and `multirun/` when `root`
    is an outputs folder, so `outputs/report/` or a nested `outputs/quick/` is not mixed in)."""
    root = Path(root)
    if not root.is_dir():
        return []
    tops = [root / name for name in ("runs", "multirun") if (root / name).is_dir()]
    found = [d for top in tops or [root] for d in _walk(top)]
    return sorted(set(found), key=natural_key)


def _walk(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if "results.json" in filenames or (here / ".hydra" / "config.yaml").is_file():
            dirnames[:] = []  # a run's own sub-folders hold figures and checkpoints, not runs
            yield here
            continue
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV written by dlproj; CorruptFile when empty, unterminated (half-written), ragged,
    without data rows or not UTF-8."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFile(f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise CorruptFile(f"unreadable ({exc.strerror})") from exc
    if not text.strip():
        raise CorruptFile("empty file")
    if not text.endswith("\n"):
        raise CorruptFile("last line unterminated (half-written)")
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    header = rows[0]
    if not header or any(not h.strip() for h in header) or len(set(header)) != len(header):
        raise CorruptFile(f"bad header {header!r}")
    if len(rows) < 2:
        raise CorruptFile("header but no rows")
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CorruptFile(f"line {lineno} has {len(row)} fields, the header {len(header)}")
    return pd.read_csv(io.StringIO(text))


def run_csv(run_dir: Path, name: str, problems: list[Problem]) -> pd.DataFrame | None:
    """A run's CSV file `name` (metrics.csv, grad_norms.csv); None when it has none, or when it
    is corrupt (then with a Problem)."""
    path = Path(run_dir) / name
    if not path.exists():
        return None
    try:
        return read_csv(path)
    except CorruptFile as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"unreadable ({exc})") from exc
    if not text.strip():
        raise CorruptFile("empty file")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFile(f"not valid JSON ({exc.msg}, line {exc.lineno}; half-written?)") from exc
    if not isinstance(obj, dict):
        raise CorruptFile("not a JSON object")
    return obj


def _read_yaml(path: Path) -> Any:
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as exc:  # any YAML or OmegaConf error: the file is unusable
        raise CorruptFile(f"unreadable ({type(exc).__name__}: {exc})") from exc


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def load_run(run_dir: Path, problems: list[Problem], *, curves: bool = True) -> dict | None:
    """One run directory as a row; None (with a Problem) when its record is unusable.

    A directory without `results.json` but with a Hydra config is a run that has not finished
    (still running, or killed): status `incomplete`, with its last epoch's metrics.
    """
    results = run_dir / "results.json"
    record: dict[str, Any] = {}
    if results.exists():
        try:
            record = _read_json(results)
        except CorruptFile as exc:
            problems.append(Problem(results, str(exc)))
            return None
    config = record.get("config")
    if not isinstance(config, dict):
        try:
            config = _read_yaml(run_dir / ".hydra" / "config.yaml")
        except CorruptFile as exc:
            problems.append(Problem(run_dir / ".hydra" / "config.yaml", str(exc)))
            return None
        if not isinstance(config, dict):
            problems.append(Problem(run_dir / ".hydra" / "config.yaml", "not a mapping"))
            return None
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    curve = run_csv(run_dir, "metrics.csv", problems) if curves or not record else None
    if not record and curve is not None:
        last = curve.iloc[-1]
        metrics = {k: float(v) for k, v in last.items() if isinstance(v, (int, float))}
    # The id by today's rules from the config as recorded (a record's own may be older).
    setting_id, label = setting_id_of(config), record.get("setting_label")
    if label is None:  # a run from before settings were recorded
        label = setting_of(config).label
    overrides = record.get("overrides") if isinstance(record.get("overrides"), list) else []
    wall = record.get("wall_seconds")
    return {
        "path": run_dir,
        "section": _as_int(record.get("section", config.get("section"))),
        "experiment": str(record.get("experiment", config.get("experiment", "?"))),
        "seed": _as_int(record.get("seed", config.get("seed"))),
        "status": str(record.get("status") or "incomplete"),
        "setting": str(setting_id),
        "label": str(label),
        "finished": (results if results.exists() else run_dir).stat().st_mtime,
        "wall_seconds": float(wall) if isinstance(wall, (int, float)) else None,
        "error": record.get("error"),
        "overrides": [str(o) for o in overrides],
        "config": flatten(config),
        "metrics": metrics,
        "curve": curve,
    }


def read_runs(roots: list[Path] | Path, *, curves: bool = True) -> tuple[pd.DataFrame,
                                                                          list[Problem]]:
    """Every readable run under `roots` (one row each, in path order) and the skipped files."""
    if isinstance(roots, (str, Path)):
        roots = [Path(roots)]
    problems: list[Problem] = []
    rows, seen = [], set()
    for root in roots:
        for run_dir in find_run_dirs(Path(root)):
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            row = load_run(run_dir, problems, curves=curves)
            if row is not None:
                rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, "curve"]), problems


def dedupe(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, superseded): one run per (setting, seed), the newest completed one, else the newest.

    A superseded run gets `superseded_by`, the path of the run kept in its place.
    """
    if runs.empty:
        return runs, runs.assign(superseded_by=[])
    ranked = runs.assign(_done=runs["status"].eq("completed"),
                         _seed=runs["seed"].fillna(-1))
    ranked = ranked.sort_values(["_done", "finished"], ascending=False, kind="stable")
    first = ~ranked.duplicated(["setting", "_seed"])
    kept = ranked[first].drop(columns=["_done", "_seed"]).sort_index()
    winner = ranked[first].set_index(["setting", "_seed"])["path"]
    lost = ranked[~first]
    superseded = lost.drop(columns=["_done", "_seed"]).assign(
        superseded_by=[winner[(s, d)] for s, d in zip(lost["setting"], lost["_seed"],
                                                       strict=True)]).sort_index()
    return kept, superseded
