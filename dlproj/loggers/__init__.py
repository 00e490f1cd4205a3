"""Tracker loggers: the `logger=` config group (csv, tensorboard, mlflow), built into RunContext.

Each logger has four methods, called by the runner and the training loop:

    start(ctx)                  when the run starts writing into its directory (ctx.run_dir)
    log_step(step, values)      every training step: {"train_loss": ...}
    log_epoch(epoch, row)       every metrics.csv row
    finish(record)              after results.json is written (figures and model files are on disk)

A logger that fails (a missing package, a locked store) warns once and is switched off; the run
goes on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dlproj.build import build

log = logging.getLogger("dlproj")

_INSTALL_HINT = "install the trackers extra: .venv/bin/python -m pip install -e '.[trackers]'"
METHODS = ("start", "log_step", "log_epoch", "finish")  # the logger interface (see above)


class Guarded:
    """One tracker logger, built from its node when the run starts (its package is imported
    then: a missing one is a warning, not a crash); a failure is logged once and switches it off
    for the rest of the run."""

    def __init__(self, name: str, node: DictConfig,
                 waiting: Callable[[], AbstractContextManager] = contextlib.nullcontext) -> None:
        self.name, self.node = name, node
        self.waiting = waiting  # around each call: a wait a stop may cut short (its `cut`)
        self.logger: Any = None
        self.failed = False

    def _call(self, method: str, *args: Any) -> None:
        if self.failed:
            return
        try:
            with self.waiting() as wait:  # a store that stalls never holds a stop
                if not getattr(wait, "cut", False):  # cut as it began: no wait at all
                    if self.logger is None:
                        self.logger = build(self.node)()
                    getattr(self.logger, method)(*args)
            if getattr(wait, "cut", False):
                self.failed = True  # not closed: that would wait on it again
                log.warning("logger %s: stopped waiting on it in %s, as the run was asked to "
                            "stop; it is off for the rest of this run", self.name, method)
        except Exception as exc:
            self.failed = True
            missing = isinstance(exc, ImportError) or isinstance(exc.__cause__, ImportError)
            hint = f" ({_INSTALL_HINT})" if missing else ""
            log.warning("logger %s failed in %s: %s: %s%s; it is off for the rest of this run",
                        self.name, method, type(exc).__name__, exc, hint)
            with contextlib.suppress(Exception):  # best effort (none if it was never built)
                self.logger.close()
        except BaseException:  # a start cut short (a second Ctrl-C) left nothing to finish
            self.failed = method == "start"
            raise

    def __getattr__(self, method: str) -> Any:
        """start, log_step, log_epoch and finish: the logger's own, guarded."""
        if method not in METHODS:
            raise AttributeError(method)
        return functools.partial(self._call, method)


def build_loggers(cfg: DictConfig, waiting: Callable[[], AbstractContextManager] = (
        contextlib.nullcontext)) -> list[Guarded]:
    """The trackers `logger=` chose, each guarded; `waiting` around each call (Guarded)."""
    node = cfg.get("logger") or {}
    return [Guarded(name, node[name], waiting) for name in node if "_target_" in node[name]]


class Tracker:
    """What the tracker loggers share: which numbers go out at which step. Each logger sends
    them (its `scalars(items, step)`) and does its own start, finish and close."""

    def __init__(self, steps: bool) -> None:
        self.steps = steps
        self.last_epoch = 0

    def log_step(self, step: int, values: dict[str, float]) -> None:
        if self.steps:
            self.scalars({f"step/{k}": v for k, v in numeric(values)}, step)

    def log_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        self.last_epoch = int(epoch)
        self.scalars(dict(numeric(row)), epoch)


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as dotted keys -> scalars (lists, None as strings), less `logger`."""
    import pandas as pd  # only a tracker's run imports it: sections 1-3 never do otherwise

    tree = OmegaConf.to_container(cfg, resolve=True)
    tree = {key: node for key, node in tree.items() if key not in ("logger", "hydra")}
    flat = pd.json_normalize(tree, sep=".").to_dict("records")[0]
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flat.items()}


def is_label(key: str) -> bool:
    """A class label, not a quantity (`most_confused_true`): a param or tag, never a metric."""
    return key.endswith(("_true", "_pred"))


def run_name(ctx: Any, most: int = 250) -> str:
    """A tracker's name for the run: its setting's label and seed (`optimizer=adam seed=0`), at
    most `most` characters, the label cut ("...") and never the seed (a long label's was)."""
    seed = f" seed={ctx.cfg.seed}"
    label = ctx.label or "defaults"
    if len(label) + len(seed) > most:
        label = label[:max(0, most - len(seed) - 3)] + "..."
    return label + seed


def numeric(row: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """The numbers of a row as floats (its epoch, bools, strings and labels left out; NaN kept)."""
    for key, value in row.items():
        if key == "epoch" or isinstance(value, bool) or is_label(key):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            yield key, float(value)
