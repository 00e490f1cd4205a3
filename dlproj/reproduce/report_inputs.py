"""What reproduce built its report from, kept beside it as `report/inputs.json`, so that a rerun
with nothing to run keeps the report only when it was built from exactly the same inputs.

Comparing the newest results.json's mtime with the report's missed a deleted run, a run copied
in with its old mtime (`cp -a`, merged cluster outputs), an edited study file, and a report
rebuilt by hand for another study or without figures (build_report removes this record as it
starts: only reproduce writes it, after a build that returned). The fingerprint is cheap: a stat
per run (its results.json, or the metrics.csv of one not finished), a hash of the study files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dlproj.config import study as studies
from dlproj.files.atomic import write_json
from dlproj.report.build import INPUTS
from dlproj.report.runs import find_run_dirs


def fingerprint(outputs: Path, study: str) -> dict[str, Any]:
    """The inputs of the report of `study` over `outputs`, as JSON values."""
    digest = hashlib.sha256()
    for path in studies.files(study):  # the study file and its bases, by content
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    runs = {}
    for run_dir in find_run_dirs(Path(outputs)):
        file = run_dir / ("results.json" if (run_dir / "results.json").exists() else "metrics.csv")
        try:
            st = file.stat()
            runs[str(run_dir.resolve())] = [file.name, [st.st_size, st.st_mtime_ns]]
        except OSError:  # gone since the walk found it
            runs[str(run_dir.resolve())] = [file.name, None]
    return {"study": study, "study_sha256": digest.hexdigest(), "runs": runs}


def refresh(outputs: Path, study: str, *, rebuild: bool) -> bool:
    """The report of the whole outputs folder (the study's numbers, figures and claims), unless
    reproduce built it from exactly these runs and this study file (and `rebuild` is false);
    False when it could not be built (its reason printed)."""
    from dlproj.report.__main__ import main as report_main

    record, now = outputs / "report" / INPUTS, fingerprint(outputs, study)
    try:
        built_from_these = not rebuild and json.loads(record.read_text(encoding="utf-8")) == now
    except (OSError, ValueError):  # none (built by hand, cut short, older), or unreadable
        built_from_these = False
    if built_from_these:
        print(f"report up to date (built from these runs and this study file): "
              f"{record.parent / 'index.md'}", flush=True)
        return True
    if report_main(["--outputs", str(outputs), "--study", study, "--quiet"]) != 0:
        return False
    write_json(record, now)
    return True
