"""A course report's claim (`claims:` of conf/study/) judged from the report's kept runs
(dlproj/report/runs.py): its arms, each run's value of what it measures, and the verdict on each
pair of arms, with scipy's statistics (METHOD; claims.md words the verdicts: write.py).

An arm holds the runs of the claim's section and experiment that fit the claim's `match` and its
own. The arms' runs must agree on every key they all have but the compared ones (those the arms'
matches name, and the keys the arms' choices of a compared group set otherwise: `model.hidden`
of model=mlp_small and mlp_big, not `model.depth` of plain and resnet): a *family*. Of several
(a quick and a full budget; the depth sweep beside plain vs residual) the one whose arms have
the most seeds is judged, each arm as its setting with the most seeds (another is named in the
arm's note). Only completed runs give values; a missing or non-finite value is left out and
counted, by reason. A `ratio` claim compares geometric means (on log10 values).
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from dlproj.config.setting import canonical, experiment_defaults, is_excluded
from dlproj.config.study import Claim, holds

CONFIDENCE, ALPHA, POWER = 0.95, 0.05, 0.80
MOST_SEEDS = 100_000  # beyond this: "more than"
METHOD = ("95% interval: Welch's t over seeds (scipy.stats.ttest_ind, equal_var=False), on "
          "log10 values for a ratio (of geometric means); seeds for 80% power: the n per arm at "
          "which Welch's t-test (two-sided, alpha = 0.05) finds the observed difference with "
          "the observed variances 80% of the time (noncentral t with Welch-Satterthwaite df, "
          "scipy.stats.nct)")


COLUMNS = ("claim", "report_section", "quote", "measure", "effect_kind", "direction", "arm_a",
           "arm_b", "n_a", "n_b", "mean_a", "mean_b", "effect", "low", "high", "seeds_needed",
           "verdict", "kind", "excluded", "setting_a", "setting_b", "seeds_a", "seeds_b", "note")


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

    mine = runs.assign(arm=[arm_of(run) for run in runs.itertuples()]).dropna(subset=["arm"])
    if mine.empty:
        return [Arm(label) for label in claim.arms]
    compared = {k for m in claim.arms.values() for k in (*m, *(m.get("not") or {}))} - {"not"}
    groups = tuple(k.removesuffix("name") for k in compared if k.endswith(".name"))
    common = set.intersection(*(set(c) for c in mine["config"]))
    keys = sorted(k for k in common if k not in compared and not is_excluded(k)
                  and not (k.startswith(groups) and _chosen(k, claim)))
    mine = mine.assign(family=[repr([c.get(k) for k in keys]) for c in mine["config"]])
    measured = [measure(claim, run) for run in mine.itertuples()]
    mine = mine.assign(value=[v for v, _ in measured], why=[w for _, w in measured])
    return max((_family(claim, rows) for _, rows in mine.groupby("family", sort=True)),
               key=_seeds)


def _chosen(key: str, claim: Claim) -> bool:
    """Whether a key of a compared group goes with the arm's choice: the arms' choices set it
    otherwise (`model.hidden` of model=mlp_small and mlp_big; each optimizer's own
    `optimizer.lr`), and another value in one arm is another setting of that arm. A key their
    choices set alike (`model.depth` of plain and resnet, 8 in both) is one the arms must agree
    on, a family per value. From the runs alone the two could not be told apart: an Adam run at
    another lr left SGD `not run yet`, and a SmallResNet at depth 2 was judged against a
    PlainNet at depth 8."""
    group = key.split(".", 1)[0]
    named = [m.get(f"{group}.name") for m in claim.arms.values()]
    if any(n is None for n in named):  # an arm that names its choice only as `not:` one, or
        return True  # none: which it sets is not known, so the key goes with the arm's choice
    choices = {str(c) for n in named for c in (n if isinstance(n, list) else [n])}
    defaults = {repr(canonical(experiment_defaults(claim.section, claim.experiment,
                                                   ((group, c),)).get(key), key))
                for c in choices}
    return len(defaults) > 1


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
            ranked = mine.groupby("setting", sort=False)["value"].count()  # values, not NaN
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


def seeds_for_power(effect: float, var_a: float, var_b: float) -> float:
    """The smallest seeds per arm (equal n) at which Welch's t-test finds a difference `effect`
    between arms of these variances with 80% power, as METHOD says (with equal variances, the
    two-sample t-test's n for Cohen's d); inf when the effect is 0 or past MOST_SEEDS."""
    if not abs(effect) > 0:
        return math.inf
    if var_a == var_b == 0:
        return 2  # no spread over seeds: two settle it

    def power(n: int) -> float:
        df = (n - 1) * (var_a + var_b) ** 2 / (var_a ** 2 + var_b ** 2)
        shift = abs(effect) / math.sqrt((var_a + var_b) / n)
        t = stats.t.ppf(1 - ALPHA / 2, df)
        # The far tail is ~0, and nct.cdf can return NaN there: left out.
        return float(np.nansum([stats.nct.sf(t, df, shift), stats.nct.cdf(-t, df, shift)]))

    # Power grows with n: the first n that reaches it (past the range: none does).
    n = bisect_left(range(2, MOST_SEEDS + 1), True, key=lambda n: power(n) >= POWER) + 2
    return n if n <= MOST_SEEDS else math.inf


def compare(a: np.ndarray, b: np.ndarray, *, ratio: bool, direction: str) -> dict[str, Any]:
    """B against A: effect, 95% interval, verdict (and its kind), seeds per arm for 80% power."""
    n = f"n = {len(a)}" if len(a) == len(b) else f"n = {len(a)}/{len(b)}"
    out: dict[str, Any] = {"effect": math.nan, "low": math.nan, "high": math.nan,
                           "seeds_needed": None, "verdict": "not run yet", "kind": "not run yet"}
    if len(a) == 0 or len(b) == 0:
        return out
    xa, xb = (np.log10(a), np.log10(b)) if ratio else (a, b)
    diff = float(xb.mean() - xa.mean())
    shown = (lambda x: 10.0 ** x) if ratio else (lambda x: x)
    out["effect"] = shown(diff)
    if min(len(a), len(b)) < 2:
        return {**out, "verdict": "inconclusive: one seed", "kind": "inconclusive"}
    var_a, var_b = float(xa.var(ddof=1)), float(xb.var(ddof=1))
    out["seeds_needed"] = seeds_for_power(diff, var_a, var_b)
    if var_a == var_b == 0:  # every seed the same in both arms: the difference is exact
        low = high = diff
    else:
        with warnings.catch_warnings():  # an arm whose seeds agree: its variance is ~0, as meant
            warnings.simplefilter("ignore", RuntimeWarning)
            test = stats.ttest_ind(xb, xa, equal_var=False)
        low, high = test.confidence_interval(CONFIDENCE)
    sign = 1 if direction == "higher" else -1
    if sign * low > 0 and sign * high > 0:
        kind = verdict = "supported"
    elif sign * low < 0 and sign * high < 0:
        kind = verdict = "contradicted"
    else:
        kind, verdict = "inconclusive", f"inconclusive at {n}"
    return {**out, "low": shown(float(low)), "high": shown(float(high)), "verdict": verdict,
            "kind": kind}


def judge(claims: Sequence[Claim], runs: pd.DataFrame) -> pd.DataFrame:
    """A row per claim and pair of arms: what is compared, n, means, effect, interval, verdict,
    seeds per arm for 80% power, the runs left out. `runs`: the report's kept runs."""
    rows = []
    for claim in claims:
        judged = arms(claim, runs)  # each arm against the one before it, or against the first
        firsts = judged[:1] * (len(judged) - 1) if claim.pairs == "first" else judged[:-1]
        for a, b in zip(firsts, judged[1:], strict=True):
            ratio = claim.effect == "ratio"
            mean = stats.gmean if ratio else np.mean
            rows.append({
                "claim": claim.id, "report_section": claim.report_section, "quote": claim.quote,
                "measure": claim.measure(), "effect_kind": claim.effect,
                "direction": claim.direction, "arm_a": a.label, "arm_b": b.label,
                "n_a": len(a.values), "n_b": len(b.values),
                "mean_a": float(mean(a.values)) if len(a.values) else math.nan,
                "mean_b": float(mean(b.values)) if len(b.values) else math.nan,
                **compare(a.values, b.values, ratio=ratio, direction=claim.direction),
                "excluded": "; ".join(  # "SGD: 1 NaN, 1 failed": the runs that gave no value
                    f"{arm.label}: " + ", ".join(f"{k} {why}" for why, k in arm.excluded.items())
                    for arm in (a, b) if arm.excluded),
                "setting_a": a.setting, "setting_b": b.setting,
                "seeds_a": " ".join(map(str, a.seeds)), "seeds_b": " ".join(map(str, b.seeds)),
                "note": "; ".join(x for x in (claim.note, a.note, b.note) if x)})
    return pd.DataFrame(rows, columns=COLUMNS)  # claims.csv has its header with no row too

