"""The memory guard: what a run needs (dlproj.experiments.footprint.estimate, before anything is
allocated; what it counts: README's "What is checked"), refused when it cannot fit in the lower
of the cgroup's limit less its usage and MemAvailable. It counts the big arrays, not the
interpreter: a refused run would certainly not fit, an accepted one may still be tight.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from omegaconf import DictConfig

from dlproj.errors import ConfigError
from dlproj.experiments.footprint import Estimate, ModelSize, estimate, model_size
from dlproj.experiments.registry import Experiment

GiB = 1 << 30


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes() -> tuple[int | None, str]:
    """Memory this process may still use: min(cgroup limit - usage, MemAvailable), and whence."""
    found: list[tuple[int, str]] = []
    cg = Path("/sys/fs/cgroup")
    for limit, usage in (("memory.max", "memory.current"),  # cgroup v2, then v1
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        lim, used = _read_int(cg / limit), _read_int(cg / usage)
        if lim is not None and lim < 1 << 60:
            found.append((lim - (used or 0), "the cgroup's memory limit less its usage"))
            break
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "MemAvailable"))
    return min(found) if found else (None, "unknown")


def guard(cfg: DictConfig, exp: Experiment) -> Estimate | None:
    """ConfigError when the estimate for `exp`'s data and model exceeds the memory available;
    else the estimate (None: `exp` declared no data)."""
    if exp.data is None:
        return None
    data = exp.data(cfg)
    model = (model_size(cfg.model, cfg, data.features, data.classes)
             if exp.models else ModelSize(0, 0, "model"))
    est = estimate(cfg, data, model)
    avail, source = available_bytes()
    if avail is not None and est.total > avail:
        biggest = max(est.parts, key=lambda what: est.parts[what][0])
        detail = "; ".join(f"{what} {b / GiB:.1f} GiB" for what, (b, _) in est.parts.items())
        raise ConfigError(
            f"This run would need about {est.total / GiB:.1f} GiB of memory ({detail}), more "
            f"than the {max(avail, 0) / GiB:.1f} GiB available to this process ({source}). "
            f"Most of it is {biggest}: lower {est.parts[biggest][1]}.")
    return est
