"""A claim's arms: the runs each compares, and each run's value of what the claim measures.

The runs are the report's, read once (dlproj/report/runs.py: one per setting and seed, with its
final metrics and its metrics.csv). An arm holds the runs of the claim's section and experiment
that fit the claim's `match` and the arm's own. The arms' runs must agree on every key they all
have but the compared ones (those the arms' matches name, and the keys of a compared group that
its choice sets: `model.hidden` of model=mlp_small): a *family*. Where several families
exist (a quick and a full budget; the depth sweep beside plain vs residual) the one whose arms
have the most seeds is judged, and within it each arm is one setting (the one with the most
seeds; another is named in the arm's note). Only completed runs give values; a value that is
missing or not finite is left out and counted, by reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dlproj.config.setting import is_excluded
from dlproj.config.study import Claim, holds


@dataclass
class Arm:
    label: str
    values: np.ndarray = field(default_factory=lambda: np.empty(0))  # one per seed, finite
    seeds: list[int] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)  # why a run gave no value -> how many
    setting: str = ""  # the setting's label (keys that differ from the experiment's defaults)
    note: str = ""


def measure(claim: Claim, run: Any) -> tuple[float, str | None]:
    """The run's value of what `claim` measures and, where it has none, why (else None)."""
    if run.status != "completed":
        return math.nan, str(run.status)
    if claim.epoch is None and claim.reach is None:
        missing = [m for m in (claim.metric, claim.over) if m is not None and m not in run.metrics]
        if missing:
            return math.nan, f"no {missing[0]}"
        value = run.metrics[claim.metric]
        if claim.over is not None:
            below = run.metrics[claim.over]
            value = value / below if _number(value) and _number(below) and below else math.nan
    else:
        curve = run.curve
        if not isinstance(curve, pd.DataFrame) or not {"epoch", claim.metric} <= set(curve):
            return math.nan, f"no {claim.metric} per epoch"
        epochs = curve[["epoch", claim.metric]].dropna(subset=["epoch"])
        if claim.epoch is not None:
            at = epochs[epochs["epoch"] == claim.epoch][claim.metric]
            if at.empty:
                return math.nan, f"no epoch {claim.epoch}"
            value = at.iloc[-1]
        else:  # the first epoch it reaches the value; never: its epochs + 1 (a lower bound)
            hit = epochs[[_number(v) and claim.reached(float(v)) for v in epochs[claim.metric]]]
            value = hit["epoch"].min() if not hit.empty else epochs["epoch"].max() + 1
    if not _number(value):
        return math.nan, "NaN"
    if claim.effect == "ratio" and value <= 0:
        return math.nan, "not > 0 (a ratio needs positive values)"
    return float(value), None


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and math.isfinite(value))


def arms(claim: Claim, runs: pd.DataFrame) -> list[Arm]:
    """The claim's arms, in its order, from the family of runs where they have the most seeds
    (an arm without runs is empty)."""
    def arm_of(run: Any) -> str | None:
        if (run.section, run.experiment) != (claim.section, claim.experiment) or not holds(
                claim.match, run.config):
            return None
        return next((label for label, m in claim.arms.items() if holds(m, run.config)), None)

    which = pd.Series([arm_of(run) for run in runs.itertuples()], index=runs.index,
                      dtype=object)
    mine = runs.assign(arm=which)[which.notna()]
    if mine.empty:
        return [Arm(label) for label in claim.arms]
    compared = {k for m in claim.arms.values() for k in (*m, *(m.get("not") or {}))} - {"not"}
    groups = tuple(k.removesuffix("name") for k in compared if k.endswith(".name"))
    common = set.intersection(*(set(c) for c in mine["config"]))
    keys = sorted(k for k in common if k not in compared and not is_excluded(k)
                  and not (k.startswith(groups) and _chosen(k, mine)))
    mine = mine.assign(family=[repr([c.get(k) for k in keys]) for c in mine["config"]])
    measured = [measure(claim, run) for run in mine.itertuples()]
    mine = mine.assign(value=[v for v, _ in measured], why=[w for _, w in measured])
    families = {name: _family(claim, rows) for name, rows in mine.groupby("family", sort=True)}
    return max(families.values(), key=_seeds)


def _chosen(key: str, rows: pd.DataFrame) -> bool:
    """Whether a key of a compared group is one value per arm (what the arm's choice sets, as
    `model.hidden` for model=mlp_small) rather than swept within an arm (`model.depth`)."""
    return all(len({repr(c.get(key)) for c in arm["config"]}) == 1
               for _, arm in rows.groupby("arm"))


def _seeds(arms: list[Arm]) -> tuple[int, int, int]:
    """How well a family's arms are run: arms with a value, the fewest seeds, all seeds."""
    n = [len(arm.values) for arm in arms]
    return sum(k > 0 for k in n), min(n), sum(n)


def _family(claim: Claim, rows: pd.DataFrame) -> list[Arm]:
    out = []
    for label in claim.arms:
        mine = rows[rows["arm"] == label]
        arm = Arm(label)
        if not mine.empty:
            ranked = mine.groupby("setting", sort=False)["value"].agg(lambda v: v.notna().sum())
            setting = ranked.idxmax()
            if len(ranked) > 1:
                arm.note = f"{len(ranked) - 1} other setting(s) of this arm left out"
            mine = mine[mine["setting"] == setting].sort_values("seed", kind="stable")
            ok = mine[mine["value"].notna()]
            arm.values = ok["value"].to_numpy(float)
            arm.seeds = [int(s) for s in ok["seed"]]
            arm.excluded = Counter(w for w in mine["why"] if isinstance(w, str))
            arm.setting = str(mine["label"].iloc[0])
        out.append(arm)
    return out
