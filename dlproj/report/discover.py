"""Find run directories under outputs/ and read what each one left, skipping what is unreadable.

A run directory holds `results.json` (the final record) and/or `.hydra/config.yaml`, plus
`metrics.csv` (a row per epoch). Single runs live in `outputs/runs/<stamp>_s<N>_<name>/`, sweep
jobs in `outputs/multirun/<stamp>/<job>/`. A corrupt, empty or half-written file is reported by
path (a `Problem`) and skipped; nothing here raises on bad files.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Config keys that do not make two runs different settings: the seed (grouped into mean ± std)
# and where things were read from or run on.
IGNORED_KEYS = frozenset({"seed", "data.root", "data.download", "dataset.num_workers", "device"})
# Folders that never hold runs: the report's own output and launcher bookkeeping.
SKIP_DIRS = frozenset({"report", ".submitit", ".hydra", "__pycache__"})


@dataclass
class Problem:
    """A file that could not be used, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class RunRecord:
    """One run directory: its final record, resolved config (flattened) and epoch curve."""

    path: Path
    section: int | None
    experiment: str
    seed: int | None
    status: str
    metrics: dict[str, Any]
    config: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    wall_seconds: float | None = None
    error: str | None = None
    curve: list[dict[str, Any]] | None = None

    @property
    def setting(self) -> tuple:
        """What identifies the setting: the config without the seed and machine-local keys."""
        return tuple(sorted((k, v) for k, v in self.config.items() if k not in IGNORED_KEYS))


class CorruptFile(ValueError):
    pass


_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")


def natural_key(path: Path | str) -> list:
    """Sort key that orders numbers by value: job 2 before job 10, lr=0.003 before lr=0.1."""
    return [float(tok) if i % 2 else tok for i, tok in enumerate(_NUMBER.split(str(path)))]


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories under `root`, in natural order.

    When `root` has `runs/` or `multirun/` (an outputs folder), only those are searched, so that
    `outputs/report/` or a nested outputs folder (e.g. `outputs/quick/`) is not mixed in.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    tops = [root / name for name in ("runs", "multirun") if (root / name).is_dir()]
    found: list[Path] = []
    for top in tops or [root]:
        found.extend(_walk(top))
    return sorted(set(found), key=natural_key)


def _walk(top: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if "results.json" in filenames or (here / ".hydra" / "config.yaml").is_file():
            dirnames[:] = []  # a run's own sub-folders hold figures and checkpoints, not runs
            yield here
            continue
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become tuples so values can be grouped on."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out  # an empty mapping (`params: {}`) adds no key
    out[prefix[:-1]] = _hashable(obj)
    return out


_CKPT_SUFFIXES = (".pt", ".pth", ".npz")


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, str) and "/" in value and value.endswith(_CKPT_SUFFIXES):
        # A checkpoint made by another run: its path differs per run, the setting does not.
        return f".../{Path(value).name}"
    return value


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV written by dlproj (numbers as float, empty cells as None).

    Raises CorruptFile when the file is empty, unterminated (half-written), has no data rows,
    or has a row whose field count differs from the header's.
    """
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
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise CorruptFile(f"not CSV ({exc})") from exc
    header, body = rows[0], [r for r in rows[1:] if r]
    if not header or any(not h.strip() for h in header) or len(set(header)) != len(header):
        raise CorruptFile(f"bad header {header!r}")
    if not body:
        raise CorruptFile("header but no rows")
    out = []
    for lineno, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CorruptFile(f"line {lineno} has {len(row)} fields, the header {len(header)}")
        out.append({k: _cell(v) for k, v in zip(header, row, strict=True)})
    return out


def _cell(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


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


def _read_hydra_config(run_dir: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "config.yaml"
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as exc:  # any YAML or OmegaConf error: the file is unusable
        raise CorruptFile(f"unreadable config ({type(exc).__name__}: {exc})") from exc
    if not isinstance(cfg, dict):
        raise CorruptFile("config is not a mapping")
    return cfg


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def load_run(run_dir: Path, problems: list[Problem]) -> RunRecord | None:
    """Read one run directory; None (with a Problem) when its record is unusable.

    A directory without `results.json` but with a Hydra config is a run that has not finished
    (still running, or killed): it is kept with status `incomplete` and its last epoch's metrics.
    """
    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    record: dict[str, Any] = {}
    if results_path.exists():
        try:
            record = _read_json(results_path)
        except CorruptFile as exc:
            problems.append(Problem(results_path, str(exc)))
            return None
    config = record.get("config")
    if not isinstance(config, dict):
        try:
            config = _read_hydra_config(run_dir)
        except CorruptFile as exc:
            problems.append(Problem(run_dir / ".hydra" / "config.yaml", str(exc)))
            return None
    curve = None
    metrics_path = run_dir / "metrics.csv"
    if metrics_path.exists():
        try:
            curve = read_csv(metrics_path)
        except CorruptFile as exc:
            problems.append(Problem(metrics_path, str(exc)))
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}
    status = str(record.get("status") or "incomplete")
    if not record and curve:
        metrics = {k: v for k, v in curve[-1].items() if is_number(v)}
    overrides = record.get("overrides")
    if not isinstance(overrides, list):
        overrides = _read_overrides(run_dir)
    wall = record.get("wall_seconds")
    return RunRecord(
        path=run_dir,
        section=_as_int(record.get("section", config.get("section"))),
        experiment=str(record.get("experiment", config.get("experiment", "?"))),
        seed=_as_int(record.get("seed", config.get("seed"))),
        status=status,
        metrics=metrics,
        config=flatten(config),
        overrides=[str(o) for o in overrides],
        wall_seconds=float(wall) if is_number(wall) else None,
        error=record.get("error"),
        curve=curve,
    )


def _read_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    try:
        from omegaconf import OmegaConf

        return [str(o) for o in OmegaConf.to_container(OmegaConf.load(path)) or []]
    except Exception:
        return []


def discover(roots: list[Path] | Path) -> tuple[list[RunRecord], list[Problem]]:
    """Every readable run under `roots`, and the files that were skipped."""
    if isinstance(roots, (str, Path)):
        roots = [Path(roots)]
    problems: list[Problem] = []
    runs = []
    seen: set[Path] = set()
    for root in roots:
        for run_dir in find_run_dirs(Path(root)):
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            run = load_run(run_dir, problems)
            if run is not None:
                runs.append(run)
    return runs, problems
