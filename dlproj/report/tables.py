"""The results table as Markdown, CSV and LaTeX: every setting that ran, and the study beside ours.

Two tables: *Course report vs ours* (one line per number the course report gives, with the best
matching row of ours) and *All runs* (every setting of every experiment that ran).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from dlproj.report.aggregate import QUIET_METRICS, Row, Stat
from dlproj.report.study import STUDY, StudyRef

MAX_OTHER_METRICS = 5


def fmt(x: float | None) -> str:
    """Accuracies to 4 decimals, small errors in scientific notation."""
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.4f}"


def fmt_stat(s: Stat | None) -> str:
    if s is None:
        return "—"
    return fmt(s.mean) if s.std is None else f"{fmt(s.mean)} ± {fmt(s.std)}"


def _status(row: Row) -> str:
    return row.status if row.status == "completed" else row.status.upper()


def _other_metrics(row: Row) -> str:
    primary = row.primary
    parts = [f"{k}={fmt(s.mean)}" for k, s in sorted(row.stats.items())
             if k != primary and k not in QUIET_METRICS]
    extra = len(parts) - MAX_OTHER_METRICS
    parts = parts[:MAX_OTHER_METRICS] + ([f"+{extra} more in results.csv"] if extra > 0 else [])
    if row.status != "completed" and row.errors:
        parts.insert(0, "error: " + _shorten(row.errors[0], 90))
    return ", ".join(parts)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class StudyLine:
    ref: StudyRef
    row: Row | None
    others: int


def study_lines(rows: list[Row], table1_only: bool = False) -> list[StudyLine]:
    """For each course-report number, our best matching completed row (or none yet).

    Best: the full data set (no `data.train_limit`), then the most epochs, the most seeds, and the
    shortest setting label (the experiment's defaults rather than a sweep's corner).
    """
    lines = []
    for ref in STUDY:
        if table1_only and not ref.table1:
            continue
        matches = [r for r in rows if r.status == "completed" and ref.metric in r.stats
                   and ref.applies(r.section, r.experiment, r.config)]

        def rank(r: Row) -> tuple:
            epochs = r.config.get("train.epochs")
            return (r.config.get("data.train_limit") is None,
                    epochs if isinstance(epochs, (int, float)) else 0, r.n, -len(r.setting))

        best = max(matches, key=rank) if matches else None
        lines.append(StudyLine(ref, best, len(matches) - 1 if matches else 0))
    return lines


def mark_study_rows(rows: list[Row]) -> None:
    """Give each row the course-report numbers it is the best match for (its table column)."""
    for row in rows:
        row.study_refs = []
    for line in study_lines(rows):
        if line.row is not None:
            line.row.study_refs.append(line.ref)


STUDY_HEADER = ["Section", "Course report result", "Metric", "Course report", "Ours", "n",
                "Our setting"]
ROW_HEADER = ["Section", "Experiment", "Setting", "Status", "n", "Metric", "Ours",
              "Course report", "Other final metrics", "Wall s/run"]


def study_cells(line: StudyLine) -> list[str]:
    ref, row = line.ref, line.row
    label = ref.label + (" (Table 1)" if ref.table1 else "")
    ours = fmt_stat(row.stats[ref.metric]) if row else "not run yet"
    setting = ""
    if row:
        setting = row.setting or "defaults"
        if line.others:
            setting += f" (+{line.others} other settings below)"
    shown = ref.shown + (f" ({ref.note})" if ref.note else "")
    return [str(ref.section), label, ref.metric, shown, ours, str(row.n) if row else "",
            setting]


def row_cells(row: Row) -> list[str]:
    primary = row.primary
    stat = row.stats.get(primary) if primary else None
    study = " / ".join(ref.shown for ref in row.study_refs if ref.metric == primary)
    wall = row.wall_seconds
    return [str(row.section if row.section is not None else "?"), row.experiment,
            row.setting or "defaults", _status(row), str(row.n), primary or "",
            fmt_stat(stat) if stat else "—", study, _other_metrics(row),
            f"{wall:.1f}" if wall is not None else ""]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def markdown(rows: list[Row], problems: list | None = None, *,
             matched_only: bool = False) -> str:
    """Both tables (and the skipped files); `matched_only` drops study lines we have no run for."""
    mark_study_rows(rows)
    lines = [x for x in study_lines(rows) if x.row is not None or not matched_only]
    parts = ["## Course report vs ours\n",
             "The course report's numbers (its sections 4.1-4.4 and Table 1) beside the best "
             "matching setting of ours (mean ± sample std over seeds, n runs).\n",
             markdown_table(STUDY_HEADER, [study_cells(x) for x in lines])] if lines else []
    parts += ["## All runs\n",
             "One row per setting: runs that differ only in `seed` are averaged (mean ± std, n). "
             "Failed, diverged and incomplete runs are rows of their own, in capitals.\n",
             markdown_table(ROW_HEADER, [row_cells(r) for r in rows]) if rows
             else "_No runs found._\n"]
    if problems:
        parts.append("\n## Skipped files\n")
        parts.extend(f"- `{p.path}`: {p.reason}\n" for p in problems)
    return "\n".join(parts)


CSV_HEADER = ["section", "experiment", "setting", "status", "n", "seeds", "metric", "mean",
              "std", "metric_n", "primary", "course_report", "course_report_label",
              "wall_seconds_mean", "error", "run_dirs"]


def csv_text(rows: list[Row]) -> str:
    """Long format: one line per (row, metric); rows without metrics get one line with no metric."""
    mark_study_rows(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        primary = row.primary
        common = [row.section, row.experiment, row.setting, row.status, row.n,
                  " ".join(map(str, row.seeds))]
        tail = [f"{row.wall_seconds:.3f}" if row.wall_seconds is not None else "",
                row.errors[0] if row.errors else "", " ".join(row.paths)]
        items = sorted(row.stats.items()) or [(None, None)]
        for name, stat in items:
            study = next((ref for ref in row.study_refs if ref.metric == name), None)
            writer.writerow(common + [
                name or "", repr(stat.mean) if stat else "",
                repr(stat.std) if stat and stat.std is not None else "",
                stat.n if stat else "", int(name == primary) if name else "",
                repr(study.value) if study else "", study.label if study else "", *tail])
    return buf.getvalue()


_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "\\": r"\textbackslash{}", "±": r"$\pm$", "≈": r"$\approx$", "—": "--",
                "…": r"\ldots{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _tex_table(header: list[str], body: list[list[str]], caption: str) -> str:
    cols = "l" * len(header)
    lines = [r"\begin{table}[ht]", r"\centering\small", rf"\begin{{tabular}}{{{cols}}}",
             r"\hline", " & ".join(rf"\textbf{{{tex_escape(h)}}}" for h in header) + r" \\",
             r"\hline"]
    lines += [" & ".join(tex_escape(c) for c in cells) + r" \\" for cells in body]
    lines += [r"\hline", r"\end{tabular}", rf"\caption{{{tex_escape(caption)}}}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def latex(rows: list[Row]) -> str:
    mark_study_rows(rows)
    short = [c for c in ROW_HEADER if c != "Other final metrics"]
    keep = [ROW_HEADER.index(c) for c in short]
    return "\n".join([
        "% Generated by `python -m dlproj.report`; \\input{} it into a document.",
        _tex_table(STUDY_HEADER, [study_cells(x) for x in study_lines(rows)],
                   "The course report's numbers beside ours (mean ± std over seeds)."),
        _tex_table(short, [[row_cells(r)[i] for i in keep] for r in rows],
                   "Every setting that ran; runs differing only in seed averaged."),
    ])
