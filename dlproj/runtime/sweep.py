"""How a multirun ended: one summary line, and a non-zero exit when any job did not complete.

`SweepOutcome` is a Hydra callback (conf/config.yaml, after the report's): when the sweep ends it
reads every job's results.json under the sweep directory, whichever launcher ran them, and prints

    sweep: 7 completed, 1 failed (job 3), 1 diverged (job 5) -> outputs/multirun/...

`python -m dlproj -m ...` then exits with `exit_code()`: 0 when every job completed, 128 + the
signal's number when the sweep was interrupted, 1 when a job failed, diverged or was refused as
invalid (a config error leaves no run directory, so jobs of this process without one come from
runner.UNRECORDED).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dlproj.runtime import interrupt

_EXIT = {"code": 0}


def exit_code() -> int:
    return _EXIT["code"]


def _job_number(path: Path) -> int | str:
    return int(path.name) if path.name.isdigit() else path.name


def outcome(sweep_dir: Path, unrecorded: list[dict[str, Any]]) -> tuple[str, int]:
    """The summary line and the exit code for the jobs under `sweep_dir`."""
    by_status: dict[str, list[int | str]] = {}
    for results in sorted(sweep_dir.glob("*/results.json"), key=lambda p: str(p)):
        try:
            status = json.loads(results.read_text()).get("status", "unreadable")
        except (OSError, ValueError):
            status = "unreadable"
        by_status.setdefault(status, []).append(_job_number(results.parent))
    for job in unrecorded:  # no results.json: refused as invalid, or never started
        by_status.setdefault(job["status"], []).append(_job_number(Path(job["run_dir"])))
    order = ["completed", "failed", "invalid", "diverged", "interrupted", "not started",
             "running"]
    statuses = sorted(by_status, key=lambda s: order.index(s) if s in order else len(order))
    parts = [_part(s, sorted(by_status[s], key=str)) for s in statuses]
    line = f"sweep: {', '.join(parts) or 'no jobs recorded'} -> {sweep_dir}"
    if interrupt.requested() is not None:
        code = interrupt.exit_code(interrupt.requested())
    else:
        code = 0 if set(by_status) <= {"completed"} else 1
    return line, code


def _part(status: str, jobs: list[int | str]) -> str:
    if status == "completed":
        return f"{len(jobs)} completed"
    label = "job" if len(jobs) == 1 else "jobs"
    shown = ", ".join(map(str, jobs[:8])) + (", ..." if len(jobs) > 8 else "")
    return f"{len(jobs)} {status} ({label} {shown})"


class SweepOutcome(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from dlproj.runtime.runner import UNRECORDED

        sweep_dir = Path(config.hydra.sweep.dir)
        line, code = outcome(sweep_dir, UNRECORDED)
        for status in ("invalid", "not started"):
            jobs = [" ".join(j["overrides"]) or "(no overrides)" for j in UNRECORDED
                    if j["status"] == status]
            if jobs:
                line += f"\n  {status}: " + "; ".join(jobs)
        _EXIT["code"] = code
        print(line, file=sys.stderr, flush=True)
