"""Build the report: read the runs, keep one per (setting, seed), group them with pandas, write
results.{md,csv,tex}, the figures and index.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dlproj.files.atomic import write_text
from dlproj.report.runs import Problem, dedupe, read_runs
from dlproj.report.tables import csv_frame, latex, markdown, settings


@dataclass
class Report:
    out_dir: Path
    runs: pd.DataFrame  # every run kept (one per setting and seed)
    superseded: pd.DataFrame  # the runs set aside for a newer one of the same setting and seed
    rows: pd.DataFrame  # a row per (setting, outcome)
    stats: pd.DataFrame  # per row and metric: mean, std, count
    problems: list[Problem]
    markdown: str
    figures: list[Path] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        names = ("results.md", "results.csv", "results.tex", "index.md")
        return [self.out_dir / n for n in names] + self.figures


def build_report(roots: list[Path] | Path, out_dir: Path, *, figures: bool = True,
                 matched_only: bool = False) -> Report:
    """Read every run under `roots` and write the report into `out_dir`.

    `matched_only` leaves out the course report's numbers no run here matches (a sweep's report).
    """
    roots = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]
    runs, problems = read_runs(roots)
    kept, superseded = dedupe(runs)
    rows, stats = settings(kept)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    if figures:
        from dlproj.report.figures import draw_all

        drawn = draw_all(kept, out_dir / "figures", problems)
    md = markdown(rows, stats, superseded, problems, matched_only=matched_only)
    head = (f"# Results\n\n{len(kept)} runs in {len(rows)} rows ({len(superseded)} superseded), "
            "read from " + ", ".join(f"`{r}`" for r in roots) + ".\n\n")
    write_text(out_dir / "results.md", head + md)
    write_text(out_dir / "results.csv", csv_frame(rows, stats).to_csv(index=False)
               if not rows.empty else "")
    write_text(out_dir / "results.tex", latex(rows, stats))
    write_text(out_dir / "index.md", _index(head, md, drawn, out_dir))
    return Report(out_dir, kept, superseded, rows, stats, problems, md, drawn)


_CAPTIONS = {
    "activation_study": "Section 1: sigmoid vs tanh vs ReLU on the MNIST MLP",
    "optimizer_schedule": "Section 2: optimizers × learning-rate schedules",
    "grad_norms_optimizer_schedule": "Section 2: gradient norms per epoch, optimizer × schedule",
    "gradient_flow_first_last": "Section 4: first vs last layer gradient norm, plain vs residual",
    "pooling_max_vs_avg": "Section 3: max vs average pooling",
    "plain_vs_residual": "Section 4: plain vs residual — loss, accuracy and gradient flow",
    "transfer_settings": "Section 4: transfer learning settings",
    "augmentation": "Section 4: augmentation off vs on",
}


def _index(head: str, md: str, figures: list[Path], out_dir: Path) -> str:
    parts = [head, md, "\n## Figures\n"]
    if not figures:
        parts.append("_No cross-run figure yet: each appears once the runs it compares exist._\n")
    for path in figures:
        rel = path.relative_to(out_dir).as_posix()
        parts.append(f"### {_CAPTIONS.get(path.stem, path.stem)}\n\n![{path.stem}]({rel}) "
                     f"([PDF]({Path(rel).with_suffix('.pdf').as_posix()}))\n")
    parts.append("\nAlso here: `results.csv` (every metric, long format) and `results.tex`.\n")
    return "\n".join(parts)
