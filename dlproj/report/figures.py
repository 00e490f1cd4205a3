"""Which runs each cross-run figure compares (the study's `figures:`, docs/report.md, *Figures*);
dlproj/plots/compare.py draws them. Each compares a *family*: completed runs with curves that
agree on every key but the compared ones; the one with the most settings, then the most runs.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from dlproj.config.setting import is_excluded
from dlproj.config.study import FigureSpec, holds
from dlproj.report.runs import Problem, run_csv

log = logging.getLogger("dlproj.report")

DPI = 150
# A key as the legend names it; others by their last part (model.activation -> activation,
# optimizer.name -> optimizer).
SHORT = {"model.finetune": "trains"}


def short(key: str) -> str:
    return SHORT.get(key, key.removesuffix(".name").rsplit(".", 1)[-1])


def family(runs: pd.DataFrame, vary: tuple[str, ...]) -> pd.DataFrame:
    """The largest family of completed runs with curves, with `values` (of `vary`) per run."""
    prefixes = tuple(k.removesuffix("name") for k in vary if k.endswith(".name"))
    ok = runs[(runs["status"] == "completed") & runs["curve"].notna()]
    if ok.empty:
        return ok

    def fam(config: dict) -> tuple:
        return tuple(sorted((k, v) for k, v in config.items() if not is_excluded(k)
                            and k not in vary and not k.startswith(prefixes)))

    ok = ok.assign(family=[fam(c) for c in ok["config"]],
                   values=[tuple(c.get(k) for k in vary) for c in ok["config"]])
    size = ok.groupby("family")["values"].agg(lambda v: (len(set(v)), len(v)))
    return ok[ok["family"] == size.idxmax()].sort_values("values", key=lambda s: s.map(str))


def _shown(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(".../"):
        return "our checkpoint"  # a checkpoint another run made (offline pretraining)
    return "None" if value is None else value


def per_layer(rows: pd.DataFrame) -> pd.DataFrame:
    """A per-step CSV with a column per layer (grad_norms.csv) as a row per (step, layer):
    `name`, `value` and `layer`, the column's place from 1 (input) to the last (output)."""
    ids = [c for c in ("step", "epoch") if c in rows]
    names = [c for c in rows.columns if c not in ids and pd.api.types.is_numeric_dtype(rows[c])]
    long = rows.melt(id_vars=ids, value_vars=names, var_name="name", value_name="value")
    return long.assign(layer=long["name"].map({n: i for i, n in enumerate(names, 1)}))


def stacked(members: pd.DataFrame, spec: FigureSpec, csv: str, problems: list[Problem], *,
            layers: bool = False) -> pd.DataFrame:
    """The members' rows of `csv` (metrics.csv: the curves read with the runs; `layers`: per
    layer) stacked, with `seed`, `run` and a column per compared key (its legend name)."""
    parts = []
    for run in members.itertuples():
        rows = run.curve if csv == "metrics.csv" else run_csv(Path(run.path), csv, problems)
        if rows is not None:
            rows = per_layer(rows) if layers else rows
            keys = {short(k): _shown(v) for k, v in zip(spec.vary, run.values, strict=True)}
            parts.append(rows.assign(seed=run.seed, run=str(run.path), **keys))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def draw(spec: FigureSpec, runs: pd.DataFrame, problems: list[Problem]) -> Any:
    """The figure `spec` over `runs`, or None where fewer than two settings can be compared."""
    from dlproj.plots import compare

    runs = runs[(runs["section"] == spec.section) & (runs["experiment"] == spec.experiment)]
    members = family(runs[runs["config"].map(lambda c: holds(spec.match, c)).astype(bool)],
                     spec.vary)
    if members.empty or members["values"].nunique() < 2:
        return None
    keys = [short(k) for k in spec.vary]
    curves = stacked(members, spec, "metrics.csv", problems)
    metric = next((m for m in spec.metrics if m in curves and curves[m].notna().any()), None)
    if spec.draw in ("curves_and_bars", "curves_by_panel"):
        return getattr(compare, spec.draw)(curves, keys, metric, spec.title) if metric else None
    if spec.draw in ("curves_and_seeds", "grad_norms"):
        return getattr(compare, spec.draw)(curves, keys, spec.metrics, spec.title)
    if spec.draw == "plain_vs_residual":
        if metric is None or len({v[0] for v in members["values"]}) < 2:
            return None  # one network: nothing to set beside it
        norms = stacked(members, spec, spec.csv, problems, layers=True)
        return compare.plain_vs_residual(curves, norms, keys, metric, spec.title)
    if spec.draw == "gradient_flow":
        steps = stacked(members, spec, spec.csv, problems, layers=True)
        return None if steps.empty else compare.gradient_flow(steps, keys, spec.metrics, spec.title)
    raise ValueError(f"unknown drawing `draw: {spec.draw}` (see conf/study/course.yaml)")


def draw_all(runs: pd.DataFrame, specs: tuple[FigureSpec, ...], out_dir: Path,
             problems: list[Problem], judged: pd.DataFrame | None = None) -> list[Path]:
    """Draw every figure whose runs exist into `out_dir`, then the claims' (`judged`:
    dlproj/claims/write.py); returns the PNGs written (a PDF lies beside each). A figure whose
    runs are gone is removed."""
    from dlproj.claims import write
    from dlproj.plots.save import save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    makers = {spec.name: partial(draw, spec, runs, problems) for spec in specs}
    if judged is not None:
        makers[write.FIGURE] = partial(write.figure, judged)
    written = []
    for name, make in makers.items():
        target = out_dir / f"{name}.png"
        try:
            fig = make()
        except Exception as exc:  # a figure must never take the table down with it
            log.warning("figure %s not drawn: %s: %s", name, type(exc).__name__, exc)
            problems.append(Problem(target, f"not drawn ({type(exc).__name__}: {exc})"))
            fig = None
        if fig is None:
            target.unlink(missing_ok=True)
            target.with_suffix(".pdf").unlink(missing_ok=True)
            continue
        written.append(save_figure(fig, target, DPI, pdf=True))
    return written
