"""The memory guard: estimate what a run needs before anything is allocated (what the estimate
counts: README's "What is checked"), refuse when it cannot fit in the lower of the cgroup's limit
less its usage and MemAvailable. It counts the big arrays, not the interpreter: a refused run
would certainly not fit, an accepted one may still be tight.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from dlproj.errors import ConfigError
from dlproj.experiments.footprint import DataSize, ModelSize, model_size
from dlproj.experiments.registry import Experiment

GiB = 1 << 30
# Optimizer state per parameter, in parameter-sized arrays.
OPTIMIZER_SLOTS = {"sgd": 1, "momentum": 1, "rmsprop": 2, "adam": 2, "adamw": 2}


@dataclass(frozen=True)
class Estimate:
    parts: dict[str, tuple[int, str]]  # what -> (bytes, the keys that shrink it)

    @property
    def total(self) -> int:
        return sum(size for size, _ in self.parts.values())


def estimate(cfg: DictConfig, data: DataSize, model: ModelSize) -> Estimate:
    item = data.item_bytes
    slots = OPTIMIZER_SLOTS.get(cfg.optimizer.name, 2)
    batch = min(cfg.train.batch_size, data.samples or cfg.train.batch_size)
    return Estimate({
        "the dataset in memory": (data.samples * data.features * item + data.raw_bytes,
                                  data.keys),
        "parameters, gradients and optimizer state": (model.params * item * (2 + slots),
                                                      model.keys),
        # Forward outputs kept for backward, and their gradients.
        "a batch's activations, forward and backward": (
            model.activations * item * 3 * batch,
            "train.batch_size, " + (model.act_keys or model.keys)),
    })


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


def guard(cfg: DictConfig, exp: Experiment,
          available: tuple[int | None, str] | None = None) -> Estimate | None:
    """ConfigError when the estimate for `exp`'s data and model exceeds the memory available;
    else the estimate (None: `exp` declared no data)."""
    if exp.data is None:
        return None
    data = exp.data(cfg)
    model = (model_size(cfg.model, cfg, data.features, data.classes)
             if exp.models else ModelSize(0, 0, "model"))
    est = estimate(cfg, data, model)
    avail, source = available if available is not None else available_bytes()
    if avail is not None and est.total > avail:
        biggest = max(est.parts, key=lambda what: est.parts[what][0])
        detail = "; ".join(f"{what} {b / GiB:.1f} GiB" for what, (b, _) in est.parts.items())
        raise ConfigError(
            f"This run would need about {est.total / GiB:.1f} GiB of memory ({detail}), more "
            f"than the {max(avail, 0) / GiB:.1f} GiB available to this process ({source}). "
            f"Most of it is {biggest}: lower {est.parts[biggest][1]}.")
    return est
