"""The verdict on each claim, pair of arms by pair of arms, with scipy's statistics (METHOD).

For arms A and B (B is asserted `direction` than A) the effect is mean(B) - mean(A), or for a
`ratio` claim mean(B) / mean(A) of geometric means (the difference of the mean log10 values,
shown as a ratio). The verdict: *supported* when the 95% interval lies wholly on the asserted
side of no effect, *contradicted* when wholly on the other, else *inconclusive at n = N*;
*inconclusive: one seed* where an arm has one value, *not run yet* where an arm has none.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from dlproj.claims.arms import Arm, arms
from dlproj.config.study import Claim

CONFIDENCE, ALPHA, POWER = 0.95, 0.05, 0.80
MOST_SEEDS = 100_000  # beyond this: "more than"
METHOD = ("95% interval: Welch's t over seeds (scipy.stats.ttest_ind, equal_var=False), on "
          "log10 values for a ratio (of geometric means); seeds for 80% power: the n per arm at "
          "which Welch's t-test (two-sided, alpha = 0.05) finds the observed difference with "
          "the observed variances 80% of the time (noncentral t with Welch-Satterthwaite df, "
          "scipy.stats.nct)")


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

    if power(MOST_SEEDS) < POWER:
        return math.inf
    lo, hi = 2, MOST_SEEDS  # power grows with n: the first n that reaches it
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power(mid) >= POWER else (mid + 1, hi)
    return lo


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


def pairs(claim: Claim, judged: list[Arm]) -> list[tuple[Arm, Arm]]:
    """(A, B) pairs to judge: each arm against the one before it, or against the first."""
    if claim.pairs == "first":
        return [(judged[0], arm) for arm in judged[1:]]
    return list(zip(judged[:-1], judged[1:], strict=True))


def judge(claims: Sequence[Claim], runs: pd.DataFrame) -> pd.DataFrame:
    """A row per claim and pair of arms: what is compared, n, means, effect, interval, verdict,
    seeds per arm for 80% power, the runs left out. `runs`: the report's kept runs."""
    rows = []
    for claim in claims:
        for a, b in pairs(claim, arms(claim, runs)):
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
                "excluded": _excluded(a, b), "setting_a": a.setting, "setting_b": b.setting,
                "seeds_a": " ".join(map(str, a.seeds)), "seeds_b": " ".join(map(str, b.seeds)),
                "note": "; ".join(x for x in (claim.note, a.note, b.note) if x)})
    return pd.DataFrame(rows)


def _excluded(*judged: Arm) -> str:
    """"SGD: 1 NaN, 1 failed": the runs of each arm that gave no value, and why."""
    return "; ".join(f"{arm.label}: " + ", ".join(f"{k} {why}" for why, k in arm.excluded.items())
                     for arm in judged if arm.excluded)
