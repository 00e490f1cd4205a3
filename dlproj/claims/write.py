"""The judged claims where people look: claims.md (a table and the claims' words; the report
writes it and claims.csv, every number) and the figure (dlproj/plots/claims.py) the report saves
with its others (dlproj/report/figures.py)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dlproj.claims.judge import METHOD, MOST_SEEDS
from dlproj.tables import fmt, md_table

FIGURE = "claims"  # figures/claims.png (and .pdf)


def _effect(x: float, ratio: bool) -> str:
    if not math.isfinite(x):
        return ""
    return f"×{fmt(x)}" if ratio else f"{'+' if x > 0 else ''}{fmt(x)}"


def _seeds(n: Any) -> str:
    return "" if pd.isna(n) else f"> {MOST_SEEDS:,}" if n == math.inf else str(int(n))


def asserted(row: Any) -> str:
    """"max > average": what the claim asserts of the pair."""
    return f"{row.arm_b} {'>' if row.direction == 'higher' else '<'} {row.arm_a}"


def table(rows: pd.DataFrame) -> pd.DataFrame:
    """The judged pairs as the Markdown table shows them."""
    out = []
    for r in rows.itertuples():
        ratio = r.effect_kind == "ratio"  # an arm not run: effect and interval NaN, shown ""
        interval = (f"[{_effect(r.low, ratio)}, {_effect(r.high, ratio)}]"
                    if math.isfinite(r.low) else "")
        out.append({"Claim": r.claim, "§": r.report_section, "Asserted": asserted(r),
                    "Measure": r.measure, "n": f"{r.n_a}, {r.n_b}",
                    "Effect": _effect(r.effect, ratio),
                    "95% interval": interval, "Verdict": r.verdict,
                    "Seeds/arm for 80% power": _seeds(r.seeds_needed),
                    "Excluded": r.excluded})
    return pd.DataFrame(out)


def markdown(rows: pd.DataFrame, study: str, *, heading: str = "#", claims: int = 0) -> str:
    """The claims' section: what was done, the table, then each claim's words and runs.
    `claims`: how many the study has (a sweep's report keeps those its runs bear on)."""
    parts = [f"{heading} Claims judged\n",
             f"The course report's claims (`claims:` in `conf/study/{study}.yaml`) judged from "
             "these runs, a row per pair of arms the claim orders (*Asserted*: B > A or B < A). "
             "*Effect*: B − A, or B / A (×) as a ratio of geometric means; *n*: seeds of A, "
             f"B. {METHOD[0].upper() + METHOD[1:]}. *supported*: the interval lies wholly on "
             "the side the claim asserts; *contradicted*: wholly on the other side; else "
             "*inconclusive at n = N*. More seeds for the claims' steps: `python -m "
             f"dlproj.reproduce --study {study} --seeds N` (only the new seeds run).\n"]
    if rows.empty:
        return "\n".join([*parts, (
            f"_None of the study's {claims} claims compares these runs (each names its arms in "
            f"`conf/study/{study}.yaml`); the report of every run, `make report-table`, lists "
            f"them all._\n" if claims else "_This study has no claims._\n")])
    parts += [md_table(table(rows)), f"\n{heading}# The claims' words and runs\n"]
    words = []
    for claim, mine in rows.groupby("claim", sort=False):
        first = mine.iloc[0]
        arms = dict.fromkeys((r.arm_a, r.setting_a, r.seeds_a) for r in mine.itertuples())
        arms.update(dict.fromkeys((r.arm_b, r.setting_b, r.seeds_b) for r in mine.itertuples()))
        runs = "; ".join(f"{label}: {setting or '—'}" + (f" (seeds {seeds})" if seeds else "")
                         for label, setting, seeds in arms)
        note = f" Measured: {first.note}." if first.note else ""
        words.append(f"- **{claim}** (§{first.report_section}): “{first.quote}” — "
                     f"{first.measure}.{note} Runs: {runs}.\n")
    return "\n".join([*parts, "".join(words)])


def figure(rows: pd.DataFrame) -> Any:
    """The figure of figures/claims.png (and .pdf): each pair's effect and interval; None
    without claims (the report then removes any old one)."""
    if rows.empty:
        return None
    from dlproj.plots.claims import effect_intervals

    return effect_intervals(pd.DataFrame({
        "label": [f"{r.claim}\n{asserted(r)}: {r.measure}, {r.effect_kind}"
                  for r in rows.itertuples()],
        "effect": rows["effect"], "low": rows["low"], "high": rows["high"],
        "verdict": rows["verdict"], "kind": rows["kind"],
        "ratio": rows["effect_kind"] == "ratio", "higher": rows["direction"] == "higher"}))
