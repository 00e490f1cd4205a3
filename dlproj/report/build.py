"""Build the report: read the runs, keep one per (setting, seed), group them with pandas, write
results.{md,csv,tex}, the claims judged (claims.{md,csv}: dlproj/claims/), the figures and
index.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dlproj.claims import write
from dlproj.claims.judge import judge
from dlproj.config import study as studies
from dlproj.files.atomic import write_text
from dlproj.report.runs import Problem, dedupe, read_runs
from dlproj.report.tables import csv_frame, latex, markdown, settings

INPUTS = "inputs.json"  # what reproduce built the report from (dlproj/reproduce/report_inputs.py)


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
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)  # a row per judged pair of arms


def build_report(roots: list[Path] | Path, out_dir: Path, *, figures: bool = True,
                 matched_only: bool = False, study: str = "course") -> Report:
    """Read every run under `roots` and write the report into `out_dir`.

    `matched_only` leaves out the course report's numbers no run here matches (a sweep's report).
    The course report's numbers and the figures are the study file's (conf/study/`study`.yaml);
    without that file the report has neither, and says so under *Skipped files*.
    """
    roots = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]
    runs, problems = read_runs(roots)
    numbers, specs, claims = (), (), ()
    if study in studies.available():
        numbers, specs = studies.course_numbers(study), studies.figures(study)
        claims = studies.claims(study)
    else:
        problems.append(Problem(studies.STUDY_DIR / f"{study}.yaml",
                                "no such study file: no course-report numbers, no figures"))
    kept, superseded = dedupe(runs)
    rows, stats = settings(kept, numbers)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INPUTS).unlink(missing_ok=True)  # this build is not what reproduce recorded
    judged = judge(claims, kept)
    if matched_only and not judged.empty:  # a sweep's report: the claims its runs bear on
        judged = judged[judged["kind"] != "not run yet"]
    write_text(out_dir / "claims.md", write.markdown(judged, study, claims=len(claims)))
    write_text(out_dir / "claims.csv", judged.to_csv(index=False))
    drawn = []
    if figures:
        from dlproj.report.figures import draw_all

        drawn = draw_all(kept, specs, out_dir / "figures", problems, judged)
    md = markdown(rows, stats, superseded, problems, matched_only=matched_only, numbers=numbers)
    head = (f"# Results\n\n{len(kept)} runs in {len(rows)} rows ({len(superseded)} superseded), "
            "read from " + ", ".join(f"`{r}`" for r in roots) + ".\n\n")
    write_text(out_dir / "results.md", head + md)
    write_text(out_dir / "results.csv", csv_frame(rows, stats, numbers).to_csv(index=False))
    write_text(out_dir / "results.tex", latex(rows, stats, numbers))
    captions = {spec.name: spec.caption for spec in specs} | {
        write.FIGURE: "The course report's claims: effect and 95% interval per comparison"}
    index = [head, md, write.markdown(judged, study, heading="##", claims=len(claims)),
             "\n## Figures\n"]
    if not drawn:
        index.append("_No cross-run figure yet: each appears once the runs it compares exist._\n")
    for path in drawn:
        rel = path.relative_to(out_dir).as_posix()
        index.append(f"### {captions.get(path.stem, path.stem)}\n\n![{path.stem}]({rel}) "
                     f"([PDF]({Path(rel).with_suffix('.pdf').as_posix()}))\n")
    index.append("\nAlso here: `results.csv` (every metric, long format), `results.tex`, and "
                 "`claims.md` / `claims.csv` (the claims judged).\n")
    write_text(out_dir / "index.md", "\n".join(index))
    return Report(out_dir, kept, superseded, rows, stats, problems, md, drawn, judged)
