"""RunContext: what an experiment and the training loop get — the run's config, directory, logs,
RNG, and what the run's owner hands them: the thread count, the stop signal, the tracker loggers.

Nothing is written into the run directory before `open()`: the first write (a CSV row, a figure,
a checkpoint) calls it, and the training loop calls it once a resumed run has read its checkpoint.
`open` is the run owner's commit (dlproj.runtime.owner): up to it a run that fails (a resume that
cannot read its checkpoint, data that is missing) leaves the directory as it found it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from dlproj.errors import ConfigError, Interrupted
from dlproj.files import atomic
from dlproj.files.records import record_status
from dlproj.training.csvlog import CSVLog
from dlproj.training.divergence import Divergence
from dlproj.training.progress import FigureBar, RunBar

log = logging.getLogger("dlproj")


@dataclass
class RunContext:
    cfg: DictConfig
    run_dir: Path
    is_multirun: bool = False
    # Continue the run in `run_dir` from its last checkpoint (`resume=RUN_DIR`).
    resuming: bool = False
    # Threads splitting a NumPy training step's batch (dlproj.training.parallel), and torch's
    # intra-op threads (Section 4): the run's share of the cores.
    workers: int = 1
    threads: int = 1  # the run's cores (workers x BLAS threads): the optimizer's update threads
    torch_threads: int = 1
    # The signal number that asks the run to stop at the next step boundary, else None.
    stop: Callable[[], int | None] = lambda: None
    # Around what must reach the disk once the run was asked to stop (an interrupted run's last
    # checkpoint): a further Ctrl-C waits for it (the runner's: dlproj.runtime.interrupt).
    shield: Callable[[], AbstractContextManager] = nullcontext
    # Called once, before the first write into the run directory.
    on_open: Callable[[], None] = lambda: None
    # Tracker loggers (dlproj/loggers), started by the runner.
    loggers: list[Any] = field(default_factory=list)
    # The setting's label (dlproj.config.setting), for the trackers' run names.
    label: str = ""
    # What the experiment found out as the run started and a resumed run cannot find out again
    # (Section 4: where its starting weights came from, whose file may be gone since): kept in
    # every checkpoint, and set from it again when the run is resumed (dlproj.training.loop).
    provenance: dict[str, Any] = field(default_factory=dict)
    # When this session of the run started (time.time()), and the wall time of the sessions
    # before it up to the checkpoint it continues (kept in every checkpoint, dlproj.training.loop).
    started: float = field(default_factory=time.time)
    earlier_seconds: float = 0.0

    def wall_seconds(self) -> float:
        """The run's wall time so far: this session's and the sessions' it continues."""
        return self.earlier_seconds + time.time() - self.started

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.metrics = CSVLog(self.run_dir / "metrics.csv")
        self.step_logs: dict[str, CSVLog] = {}
        self.rng = np.random.default_rng(self.cfg.seed)
        self.log = log
        self.training: Any = None  # the training loop's Progress, once fit() runs
        self.divergence = Divergence.from_config(self.cfg.train)
        self.opened = False
        self._desc = f"s{self.cfg.section} {self.cfg.experiment}"
        self._figures: FigureBar | None = None

    def thread_counts(self) -> dict[str, int]:
        """What `threads: auto` gave this run, as results.json and every checkpoint keep it: a
        resume keeps them (dlproj.runtime.threads)."""
        return {"workers": self.workers, "blas": max(1, self.threads // self.workers),
                "torch": self.torch_threads}

    def open(self, *, continuing: bool = False) -> None:
        """The run starts writing into its directory (idempotent); a fresh run's logs start
        empty there. A resumed run `continuing` its checkpoint keeps them (the training loop
        cuts them back to it); one that continues none (it trains nothing, or its checkpoint is
        gone) starts over, unless it completed: then there is nothing to resume (ConfigError,
        nothing written)."""
        if not self.opened:
            if self.resuming and not continuing:
                if record_status(self.run_dir / "results.json") == "completed":
                    raise ConfigError(
                        f"Cannot resume {self.run_dir}: it completed, and holds no checkpoint "
                        f"to continue (it trains nothing, or its last.* is gone); there is "
                        f"nothing to resume. Allowed: a new run (the command without resume=).")
                self.resuming = False
            self.opened = True
            self.on_open()
            if not self.resuming:
                for csv_log in (self.metrics, *self.step_logs.values()):
                    csv_log.keep_first(0)

    # -- files -------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """A path inside the run directory, to be written now (sub-folders are created)."""
        self.open()
        p = self.run_dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def save_npz(self, name: str, arrays: dict[str, np.ndarray]) -> Path:
        return atomic.save_npz(self.path(name), arrays)

    def write_json(self, name: str, obj: Any) -> Path:
        return atomic.write_json(self.path(name), obj)

    def write_text(self, name: str, text: str) -> Path:
        return atomic.write_text(self.path(name), text)

    @contextmanager
    def drawing(self, name: str) -> Iterator[Path | None]:
        """Where to draw the figure RUN_DIR/`name` (experiments.common.figure draws it), or None
        under `figures=false`. A stop asked for since training ended stops the run here: it
        stays resumable from its final checkpoint, and the resume draws what is left."""
        self.check_stop(f"before drawing {name}")
        if not self.cfg.get("figures", True):
            yield None
            return
        if self._figures is None:
            self._figures = FigureBar(self._desc)
        self._figures.drawing(name)
        yield self.path(name)
        self._figures.drawn()

    def step_log(self, name: str = "steps.csv") -> CSVLog:
        """A per-step CSV, appended to as rows come and flushed at every epoch's end; it is
        written once the run opens (asking for it writes nothing)."""
        if name not in self.step_logs:
            self.step_logs[name] = CSVLog(self.run_dir / name)
            if self.opened and not self.resuming:
                self.step_logs[name].keep_first(0)
        return self.step_logs[name]

    def flush(self) -> None:
        """Hand every log's new rows to the OS (a reader sees them; a kill loses none)."""
        self.metrics.flush()
        for step_log in self.step_logs.values():
            step_log.flush()

    def sync(self) -> None:
        """Flush and force every log to disk (checkpoints and the end of the run)."""
        self.metrics.sync()
        for step_log in self.step_logs.values():
            step_log.sync()

    def close(self) -> None:
        """Close every log, then raise the first OSError (a full disk) any of them met."""
        if self._figures is not None:
            self._figures.close()
        errors = []
        for log in [self.metrics, *self.step_logs.values()]:
            try:
                log.close()
            except OSError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    # -- training-loop helpers -----------------------------------------------------------------
    def run_bar(self, epochs: int, per_epoch: int, done: int = 0) -> RunBar:
        monitor = (self.cfg.train.get("early_stopping") or {}).get("monitor")
        return RunBar(epochs, per_epoch, done, desc=self._desc, monitor=monitor)

    def check_stop(self, where: str) -> None:
        """Raise Interrupted if a signal asked the run to stop (call at a step boundary); `where`
        says when, as the record reads it: "at epoch 2 step 95", "before drawing curves.png"."""
        signum = self.stop()
        if signum is not None:
            raise Interrupted(signum, where)

    def check_loss(self, loss: float, where: str, *, step: bool = False) -> float:
        """`loss` as a float; Diverged if it has diverged: NaN/inf, or over
        train.divergence_factor times the run's first loss, which a training `step`'s loss
        sets (dlproj.training.divergence; nothing unless train.stop_on_divergence)."""
        return self.divergence.check(loss, where, first=step)

    def log_step(self, step: int, values: dict[str, float]) -> None:
        """Per training step: hand `values` ({"train_loss": ...}) to the tracker loggers."""
        for logger in self.loggers:
            logger.log_step(step, values)

    def log_epoch(self, row: dict[str, Any], *, last: bool = False) -> None:
        """Append a row to metrics.csv, flush every log, hand the row to the tracker loggers and
        write a log line for it every `train.log_every` epochs (default: about 50 per run), and
        for the first and the `last` (train.epochs, or where early stopping ends the run)."""
        self.open()
        self.metrics.append(**row)
        self.flush()
        epoch = row.get("epoch")
        for logger in self.loggers:
            logger.log_epoch(epoch, row)
        total = self.cfg.train.epochs
        every = self.cfg.train.get("log_every") or max(1, math.ceil(total / 50))
        if isinstance(epoch, int) and not last and epoch not in (1, total) and epoch % every:
            return
        parts = []
        for key, value in row.items():
            if key == "epoch":
                continue
            if isinstance(value, (float, np.floating)):
                parts.append(f"{key}={float(value):.4g}")
            else:
                parts.append(f"{key}={value}")
        self.log.info("epoch %s/%s %s", row.get("epoch", "?"), total, " ".join(parts))
