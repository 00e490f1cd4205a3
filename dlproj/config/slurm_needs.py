"""What one dlproj job needs from a cluster, by section: the SLURM launcher's defaults."""

from __future__ import annotations

import re
from typing import Any

# section -> what one job of it needs: NumPy sections run on one BLAS thread well; Section 4
# (torch) gets two. Minutes are generous limits for the study's full budgets on one CPU.
JOB_NEEDS: dict[int, dict[str, int]] = {
    1: {"cpus_per_task": 1, "mem_gb": 2, "timeout_min": 60},
    2: {"cpus_per_task": 1, "mem_gb": 2, "timeout_min": 60},
    3: {"cpus_per_task": 1, "mem_gb": 4, "timeout_min": 120},
    4: {"cpus_per_task": 2, "mem_gb": 6, "timeout_min": 240},
}


def slurm_needs(key: str, section: Any, task_overrides: Any = None) -> int:
    """The resolver behind `${dlproj.slurm_needs:KEY,${section},${hydra.overrides.task}}`:
    the largest need among the sections the sweep runs (`section=1,4` counts both)."""
    sections = {int(section)}
    for override in task_overrides or []:
        if m := re.fullmatch(r"\+?section=(.+)", str(override)):
            sections |= {int(s) for s in re.findall(r"\d+", m[1])}
    return max((JOB_NEEDS[s][key] for s in sections if s in JOB_NEEDS), default=JOB_NEEDS[1][key])
