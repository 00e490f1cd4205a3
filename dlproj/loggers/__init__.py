"""Tracker loggers: the `logger=` config group (csv, tensorboard, mlflow), built into RunContext.

Each logger has four methods, called by the runner and the training loop:

    start(ctx)                  after the RunContext exists (ctx.cfg, ctx.run_dir)
    log_step(step, values)      every training step: {"train_loss": ...}
    log_epoch(epoch, row)       every metrics.csv row
    finish(record)              after results.json is written (figures and model files are on disk)

`csv` is the run directory's own files (metrics.csv, results.json, ...), always written by
RunContext; naming it in `logger=[csv,tensorboard]` only documents that. A logger that fails (a
missing package, a locked store) warns once and is switched off; the run goes on.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("dlproj")

# logger name -> "module:Class" (imported only when selected: trackers are an optional extra).
LOGGERS: dict[str, str | None] = {
    "csv": None,
    "tensorboard": "dlproj.loggers.tensorboard_logger:TensorBoardLogger",
    "mlflow": "dlproj.loggers.mlflow_logger:MLflowLogger",
}

_INSTALL_HINT = "install the trackers extra: .venv/bin/python -m pip install -e '.[trackers]'"


class Guarded:
    """One logger whose failures are logged once and then switch it off for the rest of the run."""

    def __init__(self, name: str, logger: Any) -> None:
        self.name = name
        self.logger = logger
        self.failed = False

    def _call(self, method: str, *args: Any) -> None:
        if self.failed:
            return
        try:
            getattr(self.logger, method)(*args)
        except Exception as exc:
            self.failed = True
            hint = f" ({_INSTALL_HINT})" if isinstance(exc, ImportError) else ""
            log.warning("logger %s failed in %s: %s: %s%s; it is off for the rest of this run",
                        self.name, method, type(exc).__name__, exc, hint)
            try:
                self.logger.close()
            except Exception:  # noqa: BLE001 - best effort after a failure
                pass

    def start(self, ctx: Any) -> None:
        self._call("start", ctx)

    def log_step(self, step: int, values: dict[str, float]) -> None:
        self._call("log_step", step, values)

    def log_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        self._call("log_epoch", epoch, row)

    def finish(self, record: dict[str, Any]) -> None:
        self._call("finish", record)


def selected(cfg: DictConfig) -> list[str]:
    """The logger names in `cfg.logger` (a mapping name -> settings), in a stable order."""
    node = cfg.get("logger") or {}
    return [name for name in LOGGERS if name in node] + sorted(set(node) - set(LOGGERS))


def build_loggers(cfg: DictConfig) -> list[Guarded]:
    """The configured tracker loggers (csv needs none), each wrapped in Guarded."""
    out = []
    for name in selected(cfg):
        target = LOGGERS.get(name)
        if target is None:
            continue
        module, cls = target.split(":")
        settings = OmegaConf.to_container(cfg.logger[name], resolve=True) or {}
        out.append(Guarded(name, _Lazy(module, cls, settings)))
    return out


class _Lazy:
    """Imports the logger's module at start(): a missing package is then a warning, not a crash."""

    def __init__(self, module: str, cls: str, settings: dict[str, Any]) -> None:
        self.module, self.cls, self.settings = module, cls, settings
        self.impl: Any = None

    def start(self, ctx: Any) -> None:
        self.impl = getattr(importlib.import_module(self.module), self.cls)(self.settings)
        self.impl.start(ctx)

    def log_step(self, step: int, values: dict[str, float]) -> None:
        self.impl.log_step(step, values)

    def log_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        self.impl.log_epoch(epoch, row)

    def finish(self, record: dict[str, Any]) -> None:
        self.impl.finish(record)

    def close(self) -> None:
        if self.impl is not None:
            self.impl.close()
