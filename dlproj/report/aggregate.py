"""Group runs into table rows: runs that differ only in `seed` are one row with mean ± std and n.

Runs that did not complete (failed, diverged, incomplete) form rows of their own, marked so, and
never enter a completed row's statistics.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from dlproj.report.discover import IGNORED_KEYS, RunRecord, is_number, natural_key
from dlproj.report.study import StudyRef, first_match

# Which final metric a row leads with when the course report has no number for it (Section 4's
# study reports validation accuracy, the others test metrics).
PRIMARY_ORDER = ("test_mse", "max_rel_error", "test_acc", "val_acc", "train_acc", "train_loss")
SECTION_PRIMARY = {4: ("val_acc", "test_acc", "train_acc", "train_loss")}
# Bookkeeping metrics left out of a row's "other metrics".
QUIET_METRICS = frozenset({"epoch", "epoch_seconds", "lr", "kink_crossings", "n_train",
                           "trainable_params", "most_confused_pred", "most_confused_true"})
# Config groups whose `<group>.name` stands for the whole group in a setting label.
ALWAYS_SHOWN = ("model.name",)
SECTION_SHOWN = {4: ("dataset.name",)}


@dataclass
class Stat:
    mean: float
    std: float | None
    n: int


@dataclass
class Row:
    """One setting of one experiment, all its seeds (or its failed / diverged runs)."""

    section: int | None
    experiment: str
    status: str
    runs: list[RunRecord]
    config: dict[str, Any]
    setting: str = ""
    stats: dict[str, Stat] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    study: StudyRef | None = None
    # The course report's numbers this row stands for in the comparison (set by tables).
    study_refs: list[StudyRef] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs if r.seed is not None})

    @property
    def primary(self) -> str | None:
        if self.study is not None and self.study.metric in self.stats:
            return self.study.metric
        for name in SECTION_PRIMARY.get(self.section, PRIMARY_ORDER):
            if name in self.stats:
                return name
        return next(iter(sorted(self.stats)), None)

    @property
    def wall_seconds(self) -> float | None:
        walls = [r.wall_seconds for r in self.runs if r.wall_seconds is not None]
        return statistics.fmean(walls) if walls else None

    @property
    def errors(self) -> list[str]:
        return sorted({r.error.strip().splitlines()[0] for r in self.runs if r.error})

    @property
    def paths(self) -> list[str]:
        return [str(r.path) for r in self.runs]


def _stat(values: list[float]) -> Stat:
    n = len(values)
    return Stat(statistics.fmean(values), statistics.stdev(values) if n > 1 else None, n)


def group_runs(runs: list[RunRecord]) -> list[Row]:
    """Rows in order: section, experiment, setting (natural order), completed before the rest."""
    buckets: dict[tuple, list[RunRecord]] = defaultdict(list)
    for run in runs:
        buckets[(run.section, run.experiment, run.status, run.setting)].append(run)
    rows = []
    for (section, experiment, status, setting), members in buckets.items():
        members.sort(key=lambda r: (r.seed if r.seed is not None else -1, natural_key(r.path)))
        row = Row(section, experiment, status, members, dict(setting))
        # A run that did not complete keeps the metrics it logged: they say how far it got.
        row.stats, row.texts = _summarise(members)
        row.study = first_match(section, experiment, row.config)
        rows.append(row)
    _label_settings(rows)
    status_rank = {"completed": 0, "diverged": 1, "failed": 2}
    rows.sort(key=lambda r: (r.section if r.section is not None else 99, r.experiment,
                             natural_key(r.setting), status_rank.get(r.status, 3)))
    return rows


def _summarise(members: list[RunRecord]) -> tuple[dict[str, Stat], dict[str, str]]:
    numbers: dict[str, list[float]] = defaultdict(list)
    texts: dict[str, set[str]] = defaultdict(set)
    for run in members:
        for key, value in run.metrics.items():
            if is_number(value):
                numbers[key].append(float(value))
            elif isinstance(value, float) and not math.isfinite(value):
                texts[key].add(str(value))
            elif value is not None and not isinstance(value, (dict, list)):
                texts[key].add(str(value))
    stats = {k: _stat(v) for k, v in numbers.items()}
    return stats, {k: " / ".join(sorted(v)) for k, v in texts.items() if k not in stats}


def _overridden_keys(row: Row) -> set[str]:
    """Config keys set on the command line of any of the row's runs (`+a.b=1` -> `a.b`)."""
    keys = set()
    for run in row.runs:
        for override in run.overrides:
            key = override.split("=", 1)[0].lstrip("+~")
            keys.add(key)
    return keys


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ",".join(_fmt_value(v) for v in value) + "]"
    if value is None:
        return "null"
    return str(value)


def _display_key(key: str) -> str:
    return key[: -len(".name")] if key.endswith(".name") else key


def _label_settings(rows: list[Row]) -> None:
    """Label each row by the config keys that vary within its experiment (`model=...` first)."""
    by_experiment: dict[tuple, list[Row]] = defaultdict(list)
    for row in rows:
        by_experiment[(row.section, row.experiment)].append(row)
    for (section, _), group in by_experiment.items():
        configs = [r.config for r in group]
        keys = sorted(set().union(*configs) - IGNORED_KEYS)
        missing = object()
        varying = [k for k in keys if len({repr(c.get(k, missing)) for c in configs}) > 1]
        shown = [k for k in (*ALWAYS_SHOWN, *SECTION_SHOWN.get(section, ()))
                 if any(k in c for c in configs)]
        implied: set[str] = set()
        for key in varying:
            if key in shown:
                continue
            name_key = key.split(".")[0] + ".name"
            if key != name_key and name_key in varying:
                # Implied by the group choice (model=mlp_big sets model.hidden) unless it
                # varies among runs sharing that choice or was set on the command line.
                per_name: dict[str, set[str]] = defaultdict(set)
                for c in configs:
                    per_name[repr(c.get(name_key))].add(repr(c.get(key, missing)))
                if all(len(v) == 1 for v in per_name.values()):
                    implied.add(key)
            shown.append(key)
        for row in group:
            explicit = _overridden_keys(row)
            row.setting = " ".join(f"{_display_key(k)}={_fmt_value(row.config[k])}"
                                   for k in shown if k in row.config
                                   and (k not in implied or k in explicit))
