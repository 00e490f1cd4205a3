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


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:  # absent, or gone since the walk found it
        return None
    return [st.st_size, st.st_mtime_ns]


def fingerprint(outputs: Path, study: str) -> dict[str, Any]:
    """The inputs of the report of `study` over `outputs`, as JSON values."""
    digest = hashlib.sha256()
    for path in studies.files(study):  # the study file and its bases, by content
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    runs = {}
    for run_dir in find_run_dirs(Path(outputs)):
        name = "results.json" if (run_dir / "results.json").exists() else "metrics.csv"
        runs[str(run_dir.resolve())] = [name, _stat(run_dir / name)]
    return {"study": study, "study_sha256": digest.hexdigest(), "runs": runs}


def built_from(report_dir: Path, inputs: dict[str, Any]) -> bool:
    """Whether the report in `report_dir` was built by reproduce from exactly `inputs`."""
    try:
        return json.loads((Path(report_dir) / INPUTS).read_text(encoding="utf-8")) == inputs
    except (OSError, ValueError):  # none (built by hand, cut short, older), or unreadable
        return False


def record(report_dir: Path, inputs: dict[str, Any]) -> None:
    write_json(Path(report_dir) / INPUTS, inputs)
