"""The one epoch loop of every section: NumPy (1-3) and PyTorch (4) plug in a `Stack`.

`fit` owns what every training run shares: epochs, the learning-rate schedule, the progress bar,
divergence checks (dlproj.training.divergence), the metrics row, checkpoints (`last.*`), resuming
from them, early stopping (`best.*`) and clean interrupts. A stack supplies only what differs
between frameworks: one epoch's batches, one training step, the evaluation, and its state (model,
optimizer, RNGs) as a snapshot it can write, read and restore. This module never imports torch.

A checkpoint holds the end of an epoch: the stack's snapshot plus `meta` (epoch, step, how many
rows metrics.csv and each step log had, early-stopping state, the resolved config, the run's
provenance: what it found out as it started). The rows themselves stay in the append-only CSV
files, which a resumed run cuts back to those counts, so a checkpoint costs the same at epoch
3000 as at epoch 3.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from omegaconf import OmegaConf

from dlproj.build import build
from dlproj.errors import ConfigError, DataError, Interrupted
from dlproj.files.records import record_status
from dlproj.training.context import RunContext
from dlproj.training.csvlog import complete_lines
from dlproj.training.divergence import Divergence
from dlproj.training.resume_rules import changed_keys

StepHook = Callable[[int, int], None]  # (global step, 1-based epoch), after the update


@dataclass
class StepResult:
    loss: float
    n: int
    correct: int | None = None  # classification in the training pass itself (Section 4)


@dataclass(frozen=True)
class Evaluation:
    """What a run measures after each epoch: `fn()` -> {column: value}, with those `columns`
    named ahead, so that early stopping's monitor is checked before the run writes anything."""

    fn: Callable[[], dict[str, float]]
    columns: tuple[str, ...]

    def __call__(self) -> dict[str, float]:
        return self.fn()


LAST = "last"  # the resumable checkpoint: RUN_DIR/last<Stack.suffix>


def has_last_checkpoint(run_dir: Path) -> bool:
    """Whether `run_dir` holds a resumable checkpoint (in any Stack's format)."""
    return any(p.is_file() for p in Path(run_dir).glob(f"{LAST}.*"))


def last_threads(run_dir: Path) -> dict[str, Any] | None:
    """The thread counts the run's resumable checkpoint was trained with (its meta's "threads"),
    if it has a readable one that says: a run killed before it wrote its record has them only
    there. Reads the NumPy checkpoint's meta alone; a Section 4 one whole (torch's format)."""
    for path in sorted(Path(run_dir).glob(f"{LAST}.*")):
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as npz:
                    meta = json.loads(str(npz["meta"]))
            elif path.suffix == ".pt":  # torch only where its run imported it anyway
                import torch

                meta = json.loads(torch.load(path, map_location="cpu", weights_only=True)["meta"])
            else:
                continue
        except Exception:  # noqa: BLE001 - cut short, another file: the resume itself says so
            continue
        if isinstance(meta, dict) and isinstance(meta.get("threads"), dict):
            return meta["threads"]
    return None


class Stack(Protocol):
    """What a framework supplies to `fit`."""

    suffix: str  # ".npz" or ".pt": the checkpoint format

    def batches(self) -> Iterable[Any]:
        """One epoch's mini-batches (reshuffled by the stack's own RNG on every call)."""

    def steps_per_epoch(self) -> int: ...

    def set_lr(self, lr: float) -> None: ...

    def train_step(self, batch: Any) -> StepResult: ...

    def evaluate(self) -> dict[str, float]: ...

    def columns(self) -> tuple[str, ...]:
        """What an epoch's row holds after epoch, lr and train_loss: what training measures
        besides the loss, then the evaluation's columns (then epoch_seconds)."""

    def snapshot(self) -> Any:
        """A copy of everything training changes: model, optimizer state, RNG states."""

    def restore(self, snap: Any) -> None: ...

    def write(self, path: Path, snap: Any, meta: dict[str, Any], *, durable: bool) -> None:
        """Write `snap` and `meta` to `path` atomically, loadable without unpickling; fsynced
        when `durable`."""

    def read(self, path: Path) -> tuple[Any, dict[str, Any]]: ...

    def write_weights(self, path: Path) -> None:
        """The model's current weights (best.* / model.*), as `checkpoint=` reads them."""


# -- early stopping ------------------------------------------------------------------------------
_MAX_HINTS = ("acc", "accuracy", "f1", "auc")
_MIN_HINTS = ("loss", "mse", "error", "err")


@dataclass
class EarlyStopping:
    """Stop when `monitor` has not improved for `patience` epochs; remember the best epoch."""

    monitor: str | None
    patience: int = 5
    mode: str | None = "min"  # None: to be said by the monitor's name (check)
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0

    @classmethod
    def from_config(cls, es: Any) -> EarlyStopping:
        monitor = es.get("monitor") if es is not None else None
        if not monitor:
            return cls(None)
        return cls(monitor, patience=int(es.patience), mode=es.get("mode"),
                   min_delta=float(es.get("min_delta", 0.0)))

    def check(self, columns: tuple[str, ...]) -> None:
        """A ConfigError, before the run starts, when `monitor` names none of its columns, then
        when no mode was given and its name does not say one (infer_mode)."""
        if self.monitor is not None and self.monitor not in columns:
            available = ", ".join(k for k in columns if k not in ("epoch", "epoch_seconds"))
            raise ConfigError(
                f"Invalid value for 'train.early_stopping.monitor': {self.monitor!r} is not a "
                f"column of this run's metrics. Allowed: one of {available}, or null (off).")
        if self.monitor is not None and self.mode is None:
            self.mode = infer_mode(self.monitor)

    def update(self, row: dict[str, Any], epoch: int) -> tuple[bool, bool]:
        """(improved, stop) after `epoch`'s row."""
        if self.monitor is None:
            return False, False
        value = float(row[self.monitor])
        better = (self.best is None or
                  (value < self.best - self.min_delta if self.mode == "min"
                   else value > self.best + self.min_delta))
        if better and math.isfinite(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True, False
        self.bad_epochs += 1
        return False, self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
        self.bad_epochs = int(state.get("bad_epochs", 0))


def infer_mode(monitor: str) -> str:
    """max for accuracies, min for losses and errors; ConfigError when the name says neither."""
    name = monitor.lower()
    if name.endswith(_MAX_HINTS):
        return "max"
    if name.endswith(_MIN_HINTS):
        return "min"
    raise ConfigError(
        f"Invalid value for 'train.early_stopping.mode': null, and the metric {monitor!r} does "
        f"not say whether higher or lower is better. Allowed: min or max, e.g. "
        f"`train.early_stopping.mode=max`.")


# -- the loop ------------------------------------------------------------------------------------
@dataclass
class Progress:
    """Where training stands; the runner copies it into results.json (also when interrupted)."""

    epoch: int = 0  # the last completed epoch
    step: int = 0
    checkpoint: str | None = None
    checkpoint_epoch: int | None = None
    stopped_early: bool = False
    resumed_from_epoch: int | None = None
    # Early stopping's state, which a checkpoint holds: the record's fields are read from it.
    stopper: EarlyStopping = field(default_factory=lambda: EarlyStopping(None))
    # The divergence rule's (RunContext.divergence): the record keeps the run's first loss.
    divergence: Divergence = field(default_factory=Divergence)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"last_epoch": self.epoch, "checkpoint": self.checkpoint,
                               "checkpoint_epoch": self.checkpoint_epoch}
        if self.resumed_from_epoch is not None:
            out["resumed_from_epoch"] = self.resumed_from_epoch
        if self.divergence.reference is not None:
            out["first_loss"] = self.divergence.reference
        if (es := self.stopper).monitor:
            out.update(monitor=es.monitor, mode=es.mode, stopped_early=self.stopped_early)
            if es.best_epoch is not None:
                out.update(best_epoch=es.best_epoch, best_value=es.best)
        return out


def _config_json(ctx: RunContext) -> str:
    return json.dumps(OmegaConf.to_container(ctx.cfg, resolve=True), sort_keys=True, default=str)


# A diverging run overflows into inf and NaN: it says so once (Diverged, from the loss), not in
# NumPy's RuntimeWarnings (the step's threads run in this context too: dlproj/pool.py).
@np.errstate(over="ignore", invalid="ignore")
def fit(ctx: RunContext, stack: Stack, *, on_step: StepHook | None = None) -> dict[str, Any]:
    """Train for `train.epochs` epochs (continuing a checkpoint when resuming); returns the last
    metrics row. Raises Diverged, Interrupted, or ConfigError for a bad early-stopping key."""
    tcfg = ctx.cfg.train
    epochs = int(tcfg.epochs)
    every = int(tcfg.get("checkpoint_every", 1))
    min_seconds = float(tcfg.get("checkpoint_min_seconds", 0.0))
    stopper = EarlyStopping.from_config(tcfg.get("early_stopping"))
    columns = ("epoch", "lr", "train_loss", *stack.columns(), "epoch_seconds")
    stopper.check(columns)  # before the run writes anything: a bad key leaves no run
    progress = ctx.training = Progress(stopper=stopper, divergence=ctx.divergence)
    last_path = ctx.run_dir / f"{LAST}{stack.suffix}"
    best_path = ctx.run_dir / f"best{stack.suffix}"

    base_lr = float(ctx.cfg.optimizer.lr)
    schedule = build(ctx.cfg.schedule)()
    if ctx.resuming:
        _resume(ctx, stack, stopper, progress, last_path,
                rate=lambda epoch, total: schedule(base_lr, epoch, total))
    else:
        ctx.open()

    config = _config_json(ctx)

    def meta() -> dict[str, Any]:
        return {"epoch": progress.epoch, "step": progress.step,
                "metrics_rows": len(ctx.metrics.rows),
                "step_logs": {name: len(log.rows) for name, log in ctx.step_logs.items()},
                "early_stopping": stopper.state(), "stopped_early": progress.stopped_early,
                "divergence": ctx.divergence.state(),
                "config": config,
                "threads": ctx.thread_counts(),
                "wall_seconds": ctx.wall_seconds(),
                **({"provenance": dict(ctx.provenance)} if ctx.provenance else {})}

    def save_checkpoint(snap: Any, info: dict[str, Any], *, final: bool) -> None:
        # Per-epoch checkpoints are renamed into place but not fsynced (a rename is atomic for
        # every reader and after a killed process); the final one, and an interrupt's, are.
        if final:
            ctx.sync()
        else:
            ctx.flush()
        stack.write(last_path, snap, info, durable=final)
        progress.checkpoint, progress.checkpoint_epoch = str(last_path), info["epoch"]
        written[0] = time.monotonic()

    per_epoch = stack.steps_per_epoch()
    pending: tuple[Any, dict[str, Any]] | None = None  # the last epoch's state, not yet on disk
    written = [time.monotonic()]  # when the last checkpoint was written
    bar = ctx.run_bar(epochs, per_epoch, done=progress.epoch)
    finished = False
    try:
        for epoch in range(progress.epoch, epochs):
            if progress.stopped_early:
                break
            t0 = time.perf_counter()
            lr = schedule(base_lr, epoch, epochs)
            stack.set_lr(lr)
            total, seen, correct, counted = 0.0, 0, 0, False
            for batch in stack.batches():
                ctx.check_stop(f"at epoch {epoch + 1} step {progress.step + 1}")
                result = stack.train_step(batch)
                loss = ctx.check_loss(result.loss, f"epoch {epoch + 1} step {progress.step + 1}",
                                      step=True)
                progress.step += 1
                ctx.log_step(progress.step, {"train_loss": loss})
                if on_step is not None:
                    on_step(progress.step, epoch + 1)
                total += loss * result.n
                seen += result.n
                if result.correct is not None:
                    correct, counted = correct + result.correct, True
                bar.step(loss)
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "train_loss": total / seen}
            if counted:
                row["train_acc"] = correct / seen
            bar.evaluating()
            row.update(stack.evaluate())
            row["epoch_seconds"] = time.perf_counter() - t0
            if set(row) != set(columns):  # a stack that named its columns wrong: a bug
                raise RuntimeError(f"the epoch's row has {list(row)}, its stack named "
                                   f"{list(columns)}")
            for key, value in row.items():
                if key.endswith(("_loss", "_mse")):
                    ctx.check_loss(value, f"epoch {epoch + 1} ({key})")
            improved, stop = stopper.update(row, epoch + 1)
            stop = stop and epoch + 1 < epochs  # on the last epoch it stops nothing early
            ctx.log_epoch(row, last=stop)
            bar.epoch_done(row)
            progress.epoch = epoch + 1
            if improved:
                stack.write_weights(best_path)
            if stop:
                progress.stopped_early = True
                ctx.log.info("early stopping after epoch %d: %s has not improved for %d epochs "
                             "(best %.6g at epoch %d)", epoch + 1, stopper.monitor,
                             stopper.patience, stopper.best, stopper.best_epoch)
            pending = (stack.snapshot(), meta())
            final = epoch + 1 == epochs or stop
            due = (epoch + 1) % every == 0 and time.monotonic() - written[0] >= min_seconds
            if due or final:
                save_checkpoint(*pending, final=final)
                pending = None
        finished = True
    except (Interrupted, KeyboardInterrupt):  # a second Ctrl-C too (during an evaluation)
        if pending is not None:  # no completed epoch is lost, whatever checkpoint_every says
            with ctx.shield():  # nor to a further Ctrl-C while it is written
                save_checkpoint(*pending, final=True)
        raise
    finally:
        bar.close(finished=finished)
        ctx.sync()
    return dict(ctx.metrics.last)


def _check_further(ctx: RunContext, epoch: int, saved: dict[str, Any], stopped_early: bool,
                   rate: Callable[[int, int], float]) -> None:
    """A resume continues a run: never below its checkpoint's epoch nor with less patience (that
    would relabel a longer run as a shorter one), and a completed run only when asked to train
    further: more epochs, or more patience for one that stopped early."""
    epochs = int(ctx.cfg.train.epochs)
    es, was = ctx.cfg.train.get("early_stopping") or {}, saved.get("train") or {}
    saved_epochs, patience = int(was.get("epochs", 0)), int(es.get("patience", 0))
    saved_patience = int((was.get("early_stopping") or {}).get("patience", patience))
    if not es.get("monitor"):  # early stopping off (a resume cannot turn it on): patience
        saved_patience = patience  # is read by nothing, so it may change either way
    completed = record_status(ctx.run_dir / "results.json") == "completed"

    def changed(total: int) -> list[int]:
        """The epochs so far whose learning rate a run of `total` epochs sets otherwise."""
        return [e + 1 for e in range(epoch) if rate(e, saved_epochs) != rate(e, total)]

    if completed and not stopped_early and epochs <= saved_epochs and changed(saved_epochs + 1):
        # not asked for more epochs, and no train.epochs would do: say so, not one refused next
        raise ConfigError(
            f"Invalid value for 'resume': {ctx.run_dir}, which completed its {saved_epochs} "
            f"epochs: there is nothing to resume, and its schedule={ctx.cfg.schedule.name} "
            f"sets the learning rate by train.epochs, so more epochs would be another run. "
            f"Allowed: a new run with the train.epochs you want.")
    if epochs < epoch or patience < saved_patience:
        key, value, least, was_at = (
            ("train.epochs", epochs, epoch, f"whose checkpoint is at epoch {epoch}")
            if epochs < epoch else ("train.early_stopping.patience", patience, saved_patience,
                                    f"started with patience {saved_patience}"))
        # a completed run has nothing left at the bound itself: only past it
        bound = f"> {least}" if completed and (key == "train.epochs" or stopped_early) else (
            f">= {least} (more to train further)")
        raise ConfigError(
            f"Invalid value for '{key}': {value} to resume {ctx.run_dir}, {was_at}. Allowed: "
            f"{key} {bound}; a shorter run is a new run.")
    if completed and stopped_early and (patience <= saved_patience or epochs <= epoch):
        key, value = (("train.early_stopping.patience", patience) if patience <= saved_patience
                      else ("train.epochs", epochs))
        raise ConfigError(
            f"Invalid value for '{key}': {value} to resume {ctx.run_dir}, which stopped early "
            f"at epoch {epoch} of {saved_epochs} ({es.get('monitor')} had not improved for "
            f"{saved_patience} epochs): it would train nothing. Allowed: "
            f"train.early_stopping.patience > {saved_patience}"
            + (f" and train.epochs > {epoch}" if epochs <= epoch else "")
            + " to train it further (more epochs alone: it stops again at once).")
    if completed and not stopped_early and epochs <= saved_epochs:
        raise ConfigError(
            f"Invalid value for 'train.epochs': {epochs} to resume {ctx.run_dir}, which "
            f"completed its {saved_epochs} epochs. Allowed: train.epochs > {saved_epochs} to "
            f"train it further; there is nothing to resume otherwise.")
    # The run is recorded as one of `epochs` epochs: so must its epochs so far have been.
    differ = changed(epochs)
    if epochs != saved_epochs and differ:
        raise ConfigError(
            f"Invalid value for 'train.epochs': {epochs} to resume {ctx.run_dir}: its "
            f"schedule={ctx.cfg.schedule.name} sets the learning rate by train.epochs, so its "
            f"{epoch} epochs so far ran the rates of a {saved_epochs}-epoch run, not those of "
            f"a {epochs}-epoch one (from epoch {differ[0]} on), and the run would be neither. "
            f"Allowed: "
            + ("" if completed else f"train.epochs={saved_epochs} to resume it as it was "
               "started, or ")
            + f"a new run with train.epochs={epochs} (schedules constant, step and exponential "
            f"may change train.epochs on resume).")


def _check_logs(ctx: RunContext, counted: dict[str, int]) -> None:
    """A DataError when a CSV log holds fewer complete rows than the checkpoint counted (removed
    or cut short): the resumed run would go on without them, a curve with a hole."""
    for name, rows in counted.items():
        path = ctx.run_dir / name
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        have = max(len(complete_lines(text)) - 1, 0)
        if have < int(rows):
            raise DataError(
                f"Cannot resume {ctx.run_dir}: its {name} holds {have} of the {rows} rows its "
                f"checkpoint counted ({'removed' if not path.is_file() else 'cut short'}), so "
                f"the resumed run would lose them. Put the file back, or start the run again "
                f"without resume=.")


def _resume(ctx: RunContext, stack: Stack, stopper: EarlyStopping, progress: Progress,
            last_path: Path, *, rate: Callable[[int, int], float]) -> None:
    """Load `last.*` into the stack and cut the CSV logs back to what it counted; the run
    directory is opened for writing only once the checkpoint has been read and fits."""
    if not last_path.is_file():
        ctx.open()  # a fresh start (refused for a completed run): its logs start empty
        ctx.log.info("resume: no %s in %s (it stopped before its first checkpoint); "
                     "training from the start", last_path.name, ctx.run_dir)
        progress.resumed_from_epoch = 0
        return
    snap, meta = stack.read(last_path)
    saved = json.loads(meta.get("config", "{}"))
    now = json.loads(_config_json(ctx))
    changed = changed_keys(saved, now)
    if changed:
        raise ConfigError(
            f"Cannot resume {ctx.run_dir}: its checkpoint was written with another config "
            f"({'; '.join(changed[:5])}). Only how far it trains (train.epochs; "
            f"train.early_stopping.patience, never lower while early stopping is on) and what "
            f"computes nothing may change on resume; start a new run for anything else.")
    _check_further(ctx, int(meta["epoch"]), saved, bool(meta.get("stopped_early")), rate)
    _check_logs(ctx, {"metrics.csv": meta["metrics_rows"], **meta.get("step_logs", {})})
    stack.restore(snap)
    ctx.provenance.update(meta.get("provenance") or {})  # as the run found it when it started
    ctx.earlier_seconds = float(meta.get("wall_seconds") or 0.0)  # the sessions it continues
    ctx.open(continuing=True)
    progress.epoch, progress.step = int(meta["epoch"]), int(meta["step"])
    progress.checkpoint, progress.checkpoint_epoch = str(last_path), progress.epoch
    progress.resumed_from_epoch = progress.epoch
    stopper.load(meta.get("early_stopping", {}))  # with more patience it goes on
    ctx.divergence.load(meta.get("divergence"))  # the run's first loss, the bound's scale
    progress.stopped_early = bool(meta.get("stopped_early")) and stopper.bad_epochs >= \
        stopper.patience
    ctx.metrics.keep_first(int(meta["metrics_rows"]))
    for name, n in meta.get("step_logs", {}).items():
        ctx.step_log(name).keep_first(int(n))
    ctx.log.info("resumed %s at epoch %d of %d (step %d)", ctx.run_dir, progress.epoch,
                 ctx.cfg.train.epochs, progress.step)

