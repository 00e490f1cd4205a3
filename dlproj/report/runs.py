"""Every run directory under outputs/ as one row of a DataFrame (docs/report.md, *The report*).

A corrupt, empty or half-written file is a `Problem` (raised by the file readers, collected by
`load_run`/`run_csv`) and skipped; nothing here raises on bad files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from dlproj.config.setting import flatten, setting_id, setting_of
from dlproj.training.csvlog import complete_lines

# Folders that never hold runs: the report's own output and launcher bookkeeping.
SKIP_DIRS = frozenset({"report", "reproduce", ".submitit", ".hydra", "__pycache__", ".unrecorded"})
# A run with one of these outcomes is done: rerunning it gives the same outcome.
DONE = ("completed", "diverged")
COLUMNS = ["path", "section", "experiment", "seed", "status", "setting", "label", "finished",
           "wall_seconds", "error", "config", "metrics", "curve"]


@dataclass(eq=False)
class Problem(Exception):
    """A file that could not be used, and why (raised by the readers, listed by the report)."""

    path: Path
    reason: str

    def __post_init__(self) -> None:
        # One line, as the report lists it ("skipped PATH: why", a Markdown list item): a YAML
        # parser's message runs over several.
        self.reason = " ".join(self.reason.split())

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")


def natural_key(path: Path | str) -> list:
    """Sort key that orders numbers by value: job 2 before job 10, lr=0.003 before lr=0.1."""
    return [float(tok) if i % 2 else tok for i, tok in enumerate(_NUMBER.split(str(path)))]


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories under `root`, in natural order (only `runs/` and `multirun/` when `root`
    is an outputs folder, so `outputs/report/` or a nested `outputs/quick/` is not mixed in)."""
    tops = [root / name for name in ("runs", "multirun") if (root / name).is_dir()]
    found = set()
    for top in tops or [root]:
        for dirpath, dirnames, filenames in os.walk(top):
            here = Path(dirpath)
            if "results.json" in filenames or (here / ".hydra" / "config.yaml").is_file():
                dirnames[:] = []  # a run's own sub-folders hold figures and checkpoints, not runs
                found.add(here)
            else:
                dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
    return sorted(found, key=natural_key)


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV written by dlproj, its complete lines: a torn last line (a killed writer's) is left
    out, as every reader does (csvlog.complete_lines); a Problem when empty, ragged, without
    data rows or not UTF-8."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(path, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise Problem(path, f"unreadable ({exc.strerror})") from exc
    text = "".join(f"{line}\n" for line in complete_lines(text))
    if not text.strip():
        raise Problem(path, "empty file")
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    header = rows[0]
    if not all(h.strip() for h in header) or len(set(header)) != len(header):
        raise Problem(path, f"bad header {header!r}")
    if len(rows) < 2:
        raise Problem(path, "header but no rows")
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise Problem(path, f"line {lineno} has {len(row)} fields, the header {len(header)}")
    return pd.read_csv(io.StringIO(text))


def run_csv(run_dir: Path, name: str, problems: list[Problem]) -> pd.DataFrame | None:
    path = Path(run_dir) / name
    try:
        return read_csv(path) if path.exists() else None
    except Problem as problem:
        problems.append(problem)
        return None


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; a Problem when unreadable, empty, not JSON or no object."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Problem(path, f"unreadable ({exc})") from exc
    if not text.strip():
        raise Problem(path, "empty file")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Problem(path, f"not valid JSON ({exc.msg.removesuffix(' at')} at line "
                            f"{exc.lineno}, column {exc.colno}; half-written?)") from exc
    if not isinstance(obj, dict):
        raise Problem(path, "not a JSON object")
    return obj


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        obj = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as exc:  # any YAML or OmegaConf error: the file is unusable
        raise Problem(path, f"unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise Problem(path, "not a mapping")
    return obj


def _overrides(run_dir: Path) -> Any:
    """The command line a run not finished was given, as its start wrote it (.hydra/); None if
    unreadable (its label is then the config's alone)."""
    try:
        return OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
    except Exception:  # noqa: BLE001 - gone, cut short, not YAML
        return None


def _as_int(value: Any) -> int | None:
    """An integer as a record may hold it (7, 7.0, "7"); None for anything else (a bool, 1.5,
    1e400, "zero", a list)."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if isinstance(value, str) or number == value else None


def first_line(error: Any) -> str:
    """A record's `error` as the tables show it: its first line that is not blank ("": none)."""
    return next((line.strip() for line in str(error or "").splitlines() if line.strip()), "")


def load_run(run_dir: Path, problems: list[Problem], *, curves: bool = True) -> dict | None:
    """One run directory as a row; None (with a Problem) when its record is unusable.

    A directory without `results.json` but with a Hydra config is a run that has not finished
    (still running, or killed): status `incomplete`, with its last epoch's metrics.
    """
    results = run_dir / "results.json"
    try:
        record = read_json(results) if results.exists() else {}
        config = record.get("config")
        if not isinstance(config, dict):
            config = _read_yaml(run_dir / ".hydra" / "config.yaml")
    except Problem as problem:
        problems.append(problem)
        return None
    # Flattened once: the setting's own flattening leaves a flat config as it is.
    config = flatten(config)
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    curve = run_csv(run_dir, "metrics.csv", problems) if curves or not record else None
    if not record and curve is not None:  # its last epoch's
        metrics = {k: float(v) for k, v in curve.iloc[-1].items() if isinstance(v, (int, float))}
    label = record.get("setting_label")
    if label is None:  # a run not finished, or from before settings were recorded
        overrides = record.get("overrides") if record else _overrides(run_dir)
        given = isinstance(overrides, list) and all(isinstance(o, str) for o in overrides)
        label = setting_of(config, overrides if given else None).label
    wall = record.get("wall_seconds")
    ids = {key: _as_int(record.get(key, config.get(key))) for key in ("section", "seed")}
    if None in ids.values():  # a run is a (setting, seed) of a section: this one is neither
        key = next(k for k, v in ids.items() if v is None)
        problems.append(Problem(results if record else run_dir / ".hydra" / "config.yaml",
                                f"no usable {key} ({record.get(key, config.get(key))!r})"))
        return None
    return {
        "path": run_dir,
        "section": ids["section"],
        "experiment": str(record.get("experiment", config.get("experiment", "?"))),
        "seed": ids["seed"],
        "status": str(record.get("status") or "incomplete"),
        # The id by today's rules from the config as recorded (a record's own may be older).
        "setting": setting_id(config),
        "label": str(label),
        "finished": (results if results.exists() else run_dir).stat().st_mtime,
        "wall_seconds": float(wall) if isinstance(wall, (int, float)) else None,
        "error": first_line(record.get("error")),
        "config": config,
        "metrics": metrics,
        "curve": curve,
    }


def read_runs(roots: list[Path] | Path, *, curves: bool = True) -> tuple[pd.DataFrame,
                                                                          list[Problem]]:
    """Every readable run under `roots` (one row each, in path order) and the skipped files."""
    roots = [roots] if isinstance(roots, (str, Path)) else roots
    dirs: dict[Path, Path] = {}  # a run directory reached from two roots is read once
    for root in roots:
        for run_dir in find_run_dirs(Path(root)):
            dirs.setdefault(run_dir.resolve(), run_dir)
    problems: list[Problem] = []
    rows = [load_run(run_dir, problems, curves=curves) for run_dir in dirs.values()]
    return pd.DataFrame([r for r in rows if r is not None], columns=COLUMNS), problems


def dedupe(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, superseded): one run per (setting, seed), the newest completed one, else the newest.

    A superseded run gets `superseded_by`, the path of the run kept in its place.
    """
    keys = ["setting", "seed"]
    ranked = (runs.assign(_done=runs["status"].eq("completed"))
              .sort_values(["_done", "finished"], ascending=False, kind="stable"))
    ranked = ranked.assign(superseded_by=ranked.groupby(keys)["path"].transform("first"),
                           _kept=~ranked.duplicated(keys)).sort_index()
    runs = ranked.drop(columns=["_done", "_kept"])
    return runs[ranked["_kept"]].drop(columns="superseded_by"), runs[~ranked["_kept"]]
