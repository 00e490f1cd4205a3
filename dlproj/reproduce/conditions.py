"""Which case of a study's `conditions:` holds on this machine (docs/report.md, *Section 4
offline*). It knows no resource by name: a resource is available when its files and folders
exist or, where the study allows downloads, when its host answers on port 443.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dlproj import paths
from dlproj.config.study import Conditions, Step


@dataclass(frozen=True)
class Situation:
    """What holds here: the conditions steps' `when:` may name, the `{NAME}` values, a notice."""

    when: set[str] = field(default_factory=set)
    substitutions: dict[str, str] = field(default_factory=dict)
    notice: str | None = None


def expand(text: str) -> str:
    """`{data}` and `{torch_home}` in a resource's paths and in a notice, filled in."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return text.replace("{data}", str(paths.data_root())).replace("{torch_home}",
                                                                  str(Path(torch_home)))


def reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def assess(conditions: Conditions | None, steps: Iterable[Step], *, probe: bool = True,
           reach: Callable[[str], bool] = reachable) -> Situation:
    """The first case whose needs are all available. Nothing is looked at when no step depends
    on the conditions (no `when:`, no `{placeholder}` they fill); hosts are probed only with
    `probe` and where the study says `downloads: true`, each at most once."""
    if conditions is None:
        return Situation()
    marks = [f"{{{key}}}" for key in conditions.cases[0].substitutions]  # every case's keys
    if not any(step.when is not None or any(m in v for m in marks for v in step.overrides.values())
               for step in steps):
        return Situation()

    @cache
    def available(name: str) -> bool:
        resource = conditions.resources[name]
        on_disk = (all(Path(expand(f)).is_file() for f in resource.files)
                   and all(Path(expand(d)).is_dir() for d in resource.dirs))
        return on_disk or bool(
            probe and conditions.downloads and resource.host and reach(resource.host))

    # The last case needs nothing (dlproj.config.study checks), so one always holds.
    case = next(c for c in conditions.cases if all(available(n) for n in c.needs))
    notice = expand(case.notice) if case.notice else None
    return Situation(set(case.enables), dict(case.substitutions), notice)
