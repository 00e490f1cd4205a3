"""`python -m dlproj.report [--outputs DIR ...] [--out DIR] [--bundle PATH.tar.gz]`: the results
table, the claims judged, the figures, and the supplement (dlproj/supplement.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlproj import paths
from dlproj.config.study import available
from dlproj.errors import DlprojError, one_paragraph


def main(argv: list[str] | None = None) -> int:
    """The report, or one paragraph on stderr and a non-zero exit (dlproj.errors.one_paragraph)."""
    return one_paragraph("dlproj.report", lambda: _report(argv),
                         "Allowed: an --out folder and a --bundle path this user can write to, "
                         "on a disk with room.")


def _report(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlproj.report",
        description="Aggregate every run (results.json, metrics.csv, .hydra/) into one table: "
                    "one row per setting, mean ± std over its distinct seeds; a repeated "
                    "(setting, seed) counts once (the newest completed run, else the newest); "
                    "failed runs are marked.")
    parser.add_argument("--outputs", type=Path, action="append",
                        help="an outputs folder (its runs/ and multirun/), a sweep or a run; "
                             "repeatable (default: outputs/ or $DLPROJ_OUTPUTS)")
    parser.add_argument("--out", type=Path,
                        help="where the report goes (default: <first outputs>/report)")
    parser.add_argument("--study", default="course", choices=available(),
                        help="the study file (conf/study/NAME.yaml) whose course-report numbers "
                             "and figures the report shows (default: course)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    parser.add_argument("--quiet", action="store_true", help="do not print the tables")
    parser.add_argument("--bundle", type=Path, metavar="PATH.tar.gz",
                        help="also write the supplement: tables, claims, figures, the study file, "
                             "each run's config, metrics.csv and results.json, the environment "
                             "(the same bytes for the same runs); a gzipped tar: the name ends "
                             "in .tar.gz or .tgz")
    parser.add_argument("--with-weights", action="store_true",
                        help="put each run's final weights (model.npz / model.pt) in the bundle")
    args = parser.parse_args(argv)
    if args.with_weights and args.bundle is None:
        parser.error("--with-weights: allowed only with --bundle PATH.tar.gz")
    roots = args.outputs or [paths.outputs_root()]
    # where the folder came from: the command line, else DLPROJ_OUTPUTS or outputs/
    given = "--outputs" if args.outputs else "the outputs folder (DLPROJ_OUTPUTS, else outputs/)"
    if missing := [r for r in roots if not r.is_dir()]:
        raise DlprojError(f"{given}: not a folder: {', '.join(map(str, missing))}. Allowed: "
                          "an outputs folder, a sweep's or a run's.")
    from dlproj.report.runs import find_run_dirs

    if empty := [r for r in roots if not find_run_dirs(r)]:  # a report of nothing: not written
        raise DlprojError(f"{given}: no runs under {', '.join(map(str, empty))}: nothing "
                          "written. Allowed: an outputs folder, a sweep's or a run's, holding at "
                          "least one run (a folder with results.json or .hydra/config.yaml).")
    out = args.out or roots[0] / "report"
    if args.bundle is not None:
        from dlproj import supplement

        bundle = supplement.check_path(args.bundle)  # before the report is built, not after it

    from dlproj.report.build import build_report

    report = build_report(roots, out, figures=not args.no_figures, study=args.study)
    if not args.quiet:
        print(report.markdown + "\n" + (out / "claims.md").read_text())
    for problem in report.problems:
        print(f"dlproj.report: skipped {problem}", file=sys.stderr)
    verdicts = report.claims["kind"].value_counts() if not report.claims.empty else {}
    print(f"{len(report.runs)} runs, {len(report.rows)} rows, {len(report.superseded)} "
          f"superseded -> {out}/results.md (.csv, .tex), claims.md ("
          + ", ".join(f"{n} {kind}" for kind, n in verdicts.items()) + f"), index.md, "
          f"{len(report.figures)} figures", file=sys.stderr)
    if args.bundle is not None:
        files = supplement.parts(report, roots=roots, study=args.study,
                                 weights=args.with_weights)
        path = supplement.write(bundle, files)
        print(f"supplement: {path} ({len(files)} files, {path.stat().st_size / 1e6:.1f} MB)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    from dlproj.errors import stopped

    sys.exit(stopped(main, "python -m dlproj.report"))
