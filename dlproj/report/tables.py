"""Runs -> one row per setting and outcome (pandas groupby), and the tables *Course report vs
ours* and *All runs* as Markdown, CSV and LaTeX (docs/report.md, *The report*).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from dlproj.config.study import CourseNumber
from dlproj.report.runs import natural_key
from dlproj.tables import fmt, fmt_stat, md_table

Numbers = Sequence[CourseNumber]  # the course report's numbers, as a study file gives them

KEYS = ["section", "experiment", "setting", "status"]
# Which final metric a row leads with when the course report has none for it.
PRIMARY_ORDER = ("test_mse", "max_rel_error", "test_acc", "val_acc", "train_acc", "train_loss")
SECTION_PRIMARY = {4: ("val_acc", "test_acc", "train_acc", "train_loss")}
# Bookkeeping metrics left out of a row's "other metrics" (still in results.csv).
QUIET_METRICS = frozenset({"epoch", "epoch_seconds", "lr", "kink_crossings", "n_train",
                           "trainable_params", "most_confused_pred", "most_confused_true"})
MAX_OTHER_METRICS = 5
STATUS_RANK = {"completed": 0, "diverged": 1, "interrupted": 2, "failed": 3}
# results.csv's header, the same with no runs (then the header alone) or no metrics.
CSV_COLUMNS = [*KEYS, "setting_label", "n", "seeds", "wall_seconds", "error", "run_dirs",
               "primary", "metric", "mean", "std", "metric_n", "course_report",
               "course_report_label"]


def settings(runs: pd.DataFrame, numbers: Numbers) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, stats): a row per (section, experiment, setting, status); stats per row and metric.

    `runs` are the kept runs (after dedupe), so n counts distinct seeds.
    """
    grouped = runs.groupby(KEYS, sort=False, dropna=False)
    rows = grouped.agg(
        label=("label", "first"), n=("seed", "nunique"),
        seeds=("seed", lambda s: " ".join(map(str, sorted(s)))),  # ints: load_run checked
        wall_seconds=("wall_seconds", "mean"), config=("config", "first"),
        error=("error", lambda s: next((e for e in s if e), "")),  # load_run's first_line
        run_dirs=("path", lambda s: " ".join(map(str, s))),
    ).reset_index()
    # A line per (run, numeric finite metric): what the statistics are taken over.
    long = pd.DataFrame([(i, k, float(v)) for i, m in runs["metrics"].items() for k, v in m.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and math.isfinite(v)], columns=["run", "metric", "value"])
    stats = (long.join(runs[KEYS], on="run").groupby([*KEYS, "metric"], dropna=False)["value"]
             .agg(["mean", "std", "count"]).reset_index())
    rows["primary"] = [_primary(r, stats, numbers) for r in rows.itertuples()]
    rows["course"] = [_course_cell(r, numbers) for r in rows.itertuples()]
    order = sorted(range(len(rows)), key=lambda i: (
        rows.at[i, "section"], rows.at[i, "experiment"], natural_key(rows.at[i, "label"]),
        STATUS_RANK.get(rows.at[i, "status"], 4)))
    return rows.iloc[order].reset_index(drop=True), stats


def _row_stats(row: Any, stats: pd.DataFrame) -> pd.DataFrame:
    """The row's statistics: those of its group, every one of KEYS."""
    mask = (stats[KEYS] == [getattr(row, key) for key in KEYS]).all(axis=1)
    return stats[mask].set_index("metric")


def _primary(row: Any, stats: pd.DataFrame, numbers: Numbers) -> str:
    """The course report's metric for the row, else the section's usual one, else any."""
    names = set(_row_stats(row, stats).index)
    course = [ref.metric for ref in numbers if ref.applies(row.section, row.experiment, row.config)]
    return next((name for name in [*course, *SECTION_PRIMARY.get(row.section, PRIMARY_ORDER)]
                 if name in names), min(names, default=""))


def _course_cell(row: Any, numbers: Numbers) -> str:
    """The course report's number beside the row, or why it is not comparable."""
    cells = [f"({ref.shown}: not comparable, {', '.join(why)})" if (why := ref.mismatch(row.config))
             else ref.shown for ref in numbers
             if ref.applies(row.section, row.experiment, row.config) and ref.metric == row.primary]
    return " / ".join(dict.fromkeys(cells))


def course_lines(rows: pd.DataFrame, stats: pd.DataFrame, numbers: Numbers) -> pd.DataFrame:
    """For each course-report number, our best completed row of the same protocol (most seeds,
    then the plainest label); where none matches, the nearest row and why it is not comparable."""
    lines = []
    done = rows[rows["status"] == "completed"]
    for ref in numbers:
        cands = [r for r in done.itertuples()
                 if ref.applies(r.section, r.experiment, r.config)
                 and ref.metric in _row_stats(r, stats).index]
        same = [r for r in cands if not ref.mismatch(r.config)]
        best = max(same or cands, key=lambda r: (r.n, -len(r.label)), default=None)
        ours, n, setting, protocol = "not run yet", "", "", ""
        if best is not None:
            st = _row_stats(best, stats).loc[ref.metric]
            n, setting = str(best.n), best.label
            if same:
                ours, protocol = fmt_stat(st["mean"], st["std"]), "same"
                if len(cands) > 1:
                    setting += f" (+{len(cands) - 1} other settings in All runs)"
            else:
                ours = f"— (nearest: {fmt_stat(st['mean'], st['std'])})"
                protocol = "not comparable: " + ", ".join(ref.mismatch(best.config))
        lines.append({"Section": ref.section,
                      "Course report result": ref.label + (" (Table 1)" if ref.table1 else ""),
                      "Metric": ref.metric, "Course report": ref.shown, "Ours": ours, "n": n,
                      "Our setting": setting, "Protocol": protocol})
    return pd.DataFrame(lines)


def all_runs_table(rows: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    out = []
    for r in rows.itertuples():
        st = _row_stats(r, stats)
        main = fmt_stat(st.at[r.primary, "mean"], st.at[r.primary, "std"]) \
            if r.primary in st.index else "—"
        others = [f"{k}={fmt(v)}" for k, v in st["mean"].items()
                  if k != r.primary and k not in QUIET_METRICS]
        if len(others) > MAX_OTHER_METRICS:
            others[MAX_OTHER_METRICS:] = [f"+{len(others) - MAX_OTHER_METRICS} more in results.csv"]
        if r.status != "completed" and r.error:  # its first line, to 90 characters
            others.insert(0, "error: " + (r.error if len(r.error) <= 90 else r.error[:89] + "…"))
        out.append({"Section": r.section, "Experiment": r.experiment,
                    "Setting": r.label, "Status": r.status if r.status == "completed"
                    else r.status.upper(), "n": r.n, "Metric": r.primary, "Ours": main,
                    "Course report": r.course, "Other final metrics": ", ".join(others),
                    "Wall s/run": "" if pd.isna(r.wall_seconds) else f"{r.wall_seconds:.1f}",
                    "Id": r.setting})
    return pd.DataFrame(out)


def markdown(rows: pd.DataFrame, stats: pd.DataFrame, superseded: pd.DataFrame,
             problems: list, *, matched_only: bool = False, numbers: Numbers) -> str:
    """Both tables, the superseded runs and the skipped files."""
    course = course_lines(rows, stats, numbers)
    if matched_only and not course.empty:
        course = course[course["Ours"] != "not run yet"]
    parts = []
    if not course.empty:
        parts += ["## Course report vs ours\n",
                  "The course report's numbers (its sections 4.1-4.4 and Table 1) beside our "
                  "best setting measured the same way (dataset, epochs, all the data); mean ± "
                  "sample std over n seeds. Where no run of ours has the course's protocol, "
                  "*Protocol* says how the nearest one differs.\n",
                  md_table(course)]
    parts += ["## All runs\n",
              "One row per setting (*Id*: its hash in results.json; *Setting*: every key that "
              "differs from the experiment's defaults) and outcome: mean ± std over n distinct "
              "seeds. Failed, diverged and interrupted runs are rows of their own, in capitals. "
              "*Course report*: its number where the protocol matches, else why not.\n",
              md_table(all_runs_table(rows, stats)) if not rows.empty else "_No runs found._\n"]
    if not superseded.empty:
        parts += ["\n## Superseded runs\n",
                  "A (setting, seed) that ran more than once counts once: the newest completed "
                  "run, else (none completed) the newest. These were set aside:\n",
                  *(f"- `{r.path}` ({r.status}, seed {r.seed}, {r.label}): superseded by "
                    f"`{r.superseded_by}`\n" for r in superseded.itertuples())]
    if problems:
        parts += ["\n## Skipped files\n", *(f"- `{p.path}`: {p.reason}\n" for p in problems)]
    return "\n".join(parts)


def csv_frame(rows: pd.DataFrame, stats: pd.DataFrame, numbers: Numbers) -> pd.DataFrame:
    """Long format: a line per (setting row, metric), with the course report's value where the
    protocol matches; rows without metrics get one line with no metric; no rows, no lines."""
    base = rows.drop(columns="course").rename(columns={"label": "setting_label"})
    out = base.merge(stats.rename(columns={"count": "metric_n"}), how="left",
                     on=KEYS) if not stats.empty else base.assign(metric="")
    out["primary"] = (out["metric"] == out["primary"]).astype(int)
    refs = [next((x for x in numbers if x.applies(r.section, r.experiment, r.config)
                  and x.metric == r.metric and not x.mismatch(r.config)), None)
            for r in out.itertuples()]
    return out.drop(columns="config").assign(
        course_report=[ref.value if ref else None for ref in refs],
        course_report_label=[ref.label if ref else "" for ref in refs]).reindex(
        columns=CSV_COLUMNS)


def latex(rows: pd.DataFrame, stats: pd.DataFrame, numbers: Numbers) -> str:
    """Both tables as booktabs `tabular`s (pandas' to_latex)."""
    course = course_lines(rows, stats, numbers)
    runs = all_runs_table(rows, stats).drop(columns=["Other final metrics", "Id"], errors="ignore")
    parts = ["% Generated by `python -m dlproj.report`; needs \\usepackage{booktabs}."]
    for frame, caption in ((course, "The course report's numbers beside ours, same protocol "
                                    "(mean ± std over seeds)."),
                           (runs, "Every setting that ran; seeds averaged.")):
        if frame.empty:
            continue
        tex = frame.astype(str).to_latex(index=False, escape=True, caption=caption)
        parts.append(tex.replace("±", r"$\pm$").replace("≈", r"$\approx$")
                     .replace("—", "--").replace("…", r"\ldots{}"))
    return "\n".join(parts) + "\n"
