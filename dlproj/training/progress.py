"""Progress on a terminal (tqdm), silence elsewhere: log files get epoch lines instead.

`RunBar` is one bar for a whole training run, as Lightning's: log lines are written above it
(tqdm's logging redirect), never into it; its description says the epoch and the phase
(`eval` while the validation and test sets are evaluated); beside it stand the running training
loss and one monitored metric, so that the line fits 80 columns. Its unit is time-like: after the
first evaluation, an epoch counts its steps plus the evaluation in step-equivalents, so the ETA
covers training and evaluation, and the bar ends at its total. `FigureBar` is a second, short
phase for what a run draws after training. `DLPROJ_PROGRESS=0|1` forces bars off or on (the
tests and `make reproduce` turn them off).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

from dlproj.errors import knob


def show_bars() -> bool:
    forced = knob("DLPROJ_PROGRESS")
    return sys.stderr.isatty() if forced is None else forced


# The metric shown beside the loss: the first of these a row has (or the monitored one).
_SHOWN = ("val_acc", "test_acc", "test_mse", "val_loss", "train_eval_acc", "max_rel_error")
_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"


def _bar(bar_format: str = _FORMAT, **kw: Any) -> Any:
    from tqdm.auto import tqdm

    # tqdm measures the terminal at each refresh, and draws nothing on one that reports 0 rows or
    # columns (a pty never sized: 0x0) and lines wider than one of 1 column. Such a terminal gets
    # a fixed size instead: 80x24 for a size of 0, as shutil.get_terminal_size gives.
    try:
        cols, rows = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):  # not a terminal (DLPROJ_PROGRESS=1): tqdm's defaults
        cols = rows = 80
    sized = cols > 1 and rows > 2
    fixed = {} if sized else {"ncols": max(cols or 80, 2) - 1, "nrows": max(rows or 24, 3) - 1}
    return tqdm(bar_format=bar_format, dynamic_ncols=sized, **fixed, smoothing=0,
                file=sys.stderr, **kw)


class RunBar:
    """A bar over every epoch of a run (training steps and evaluation); a no-op where bars are
    off."""

    def __init__(self, epochs: int, per_epoch: int, done: int = 0, desc: str = "train",
                 monitor: str | None = None):
        self._bar: Any = None
        self.epochs, self.per_epoch, self.epoch = epochs, per_epoch, done
        self.desc, self.monitor = desc, monitor
        self._eval_units: int | None = None  # an evaluation, in training steps of the same time
        self._ema, self._steps = 0.0, 0  # the loss's moving average and its steps (`_loss`)
        self._started: float | None = None  # this epoch's first step
        self._eval_started: float | None = None
        self._shown: dict[str, str] = {}
        self._redirect = contextlib.ExitStack()
        if show_bars() and epochs * per_epoch > 0:
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._redirect.enter_context(logging_redirect_tqdm())
            self._bar = _bar(total=epochs * per_epoch, initial=done * per_epoch, leave=True,
                             desc=self._description())

    def _description(self, phase: str = "") -> str:
        return (f"{self.desc} epoch {min(self.epoch + 1, self.epochs)}/{self.epochs}"
                f"{' ' + phase if phase else ''}")

    def _describe(self, phase: str = "") -> None:
        self._bar.set_description_str(self._description(phase), refresh=False)

    def step(self, loss: float) -> None:
        if self._bar is None:
            return
        if self._started is None:
            self._started = time.perf_counter()
        # An exponential moving average, the loss of the last ~50 steps rather than the last
        # batch's; debiased (Adam's way), as one started at the first loss showed mostly that one
        # for a run of a few dozen steps.
        self._ema, self._steps = 0.98 * self._ema + 0.02 * loss, self._steps + 1
        self._bar.update(1)
        if self._bar.n % 10 == 0:
            self._postfix()

    def evaluating(self) -> None:
        """The epoch's training steps are done; its evaluation starts."""
        if self._bar is None:
            return
        self._eval_started = time.perf_counter()
        self._describe("eval")
        self._bar.refresh()

    def epoch_done(self, row: dict[str, Any]) -> None:
        if self._bar is None:
            return
        now = time.perf_counter()
        if self._eval_units is None and self._started and self._eval_started:
            train = max(self._eval_started - self._started, 1e-6)
            self._eval_units = round(self.per_epoch * (now - self._eval_started) / train)
            self._bar.total = self.epochs * (self.per_epoch + self._eval_units)
            self._bar.n = self.epoch * (self.per_epoch + self._eval_units) + self.per_epoch
        self._bar.update(self._eval_units or 0)
        self.epoch = int(row.get("epoch", self.epoch + 1))
        self._started = None
        name = self.monitor if self.monitor in row else next((k for k in _SHOWN if k in row), None)
        self._shown = {name: f"{float(row[name]):.4g}"} if name else {}
        self._describe()
        self._postfix()

    @property
    def _loss(self) -> float | None:
        """The loss's moving average over the steps so far, debiased; None before the first."""
        return self._ema / (1 - 0.98**self._steps) if self._steps else None

    def _postfix(self) -> None:
        loss = {"loss": f"{self._loss:.4g}"} if self._loss is not None else {}
        self._bar.set_postfix({**loss, **self._shown}, refresh=True)

    def close(self, *, finished: bool = False) -> None:
        """`finished`: the run trained to its end (or stopped early): the bar ends at its total."""
        if self._bar is not None:
            if finished:  # at the last epoch run (early stopping: not the one after it)
                self._bar.set_description_str(f"{self.desc} epoch {self.epoch}/{self.epochs}")
                self._bar.total = self._bar.n
                self._bar.refresh()
            self._bar.close()
            self._bar = None
        self._redirect.close()


class FigureBar:
    """What a run draws after training, one figure after another; a no-op where bars are off."""

    def __init__(self, desc: str):
        self._bar: Any = None
        self._redirect = contextlib.ExitStack()
        if show_bars():
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._redirect.enter_context(logging_redirect_tqdm())
            self._bar = _bar(desc=f"{desc} figures", total=None, leave=False,
                             bar_format="{desc}: {n} drawn [{elapsed}]{postfix}")

    def drawing(self, name: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(name)

    def drawn(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._redirect.close()
