"""Build the report: discover runs, group them, write the tables, the figures and index.md."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from dlproj.report.aggregate import Row, group_runs
from dlproj.report.discover import Problem, RunRecord, discover
from dlproj.report.tables import csv_text, latex, markdown
from dlproj.runtime.atomic import write_text

log = logging.getLogger("dlproj.report")


@dataclass
class Report:
    out_dir: Path
    runs: list[RunRecord]
    rows: list[Row]
    problems: list[Problem]
    markdown: str
    figures: list[Path] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        names = ("results.md", "results.csv", "results.tex", "index.md")
        return [self.out_dir / n for n in names] + self.figures


def build_report(roots: list[Path] | Path, out_dir: Path, *, figures: bool = True,
                 matched_only: bool = False) -> Report:
    """Read every run under `roots`, write results.{md,csv,tex}, figures/ and index.md.

    `matched_only` leaves out the course report's numbers that no run here matches (a sweep's
    own report).
    """
    runs, problems = discover(roots)
    rows = group_runs(runs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn: list[Path] = []
    if figures:
        from dlproj.report.figures import draw_all

        drawn = draw_all(runs, out_dir / "figures", problems)
    md = markdown(rows, problems, matched_only=matched_only)
    head = f"# Results\n\n{len(runs)} runs in {len(rows)} rows, read from " + ", ".join(
        f"`{r}`" for r in ([roots] if isinstance(roots, (str, Path)) else roots)) + ".\n\n"
    write_text(out_dir / "results.md", head + md)
    write_text(out_dir / "results.csv", csv_text(rows))
    write_text(out_dir / "results.tex", latex(rows))
    write_text(out_dir / "index.md", _index(head, md, drawn, out_dir))
    return Report(out_dir, runs, rows, problems, md, drawn)


_CAPTIONS = {
    "optimizer_schedule.png": "Section 2: optimizers × learning-rate schedules",
    "pooling_max_vs_avg.png": "Section 3: max vs average pooling",
    "plain_vs_residual.png": "Section 4: plain vs residual — loss, accuracy and gradient flow",
    "transfer_settings.png": "Section 4: transfer learning settings",
    "augmentation.png": "Section 4: augmentation off vs on",
}


def _index(head: str, md: str, figures: list[Path], out_dir: Path) -> str:
    parts = [head, md, "\n## Figures\n"]
    if not figures:
        parts.append("_No cross-run figure yet: each appears once the runs it compares exist._\n")
    for path in figures:
        rel = path.relative_to(out_dir).as_posix()
        parts.append(f"### {_CAPTIONS.get(path.name, path.stem)}\n\n![{path.stem}]({rel})\n")
    parts.append("\nAlso here: `results.csv` (every metric, long format) and `results.tex`.\n")
    return "\n".join(parts)
