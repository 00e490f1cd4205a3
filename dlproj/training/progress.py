"""Progress on a terminal (tqdm), silence elsewhere: log files get epoch lines instead.

`RunBar` is one bar for a whole training run: steps of all epochs, so its ETA is the run's, with
the running training loss and the latest epoch's metrics beside it. `DLPROJ_PROGRESS=0|1` forces
bars off or on (the tests and `make reproduce` turn them off).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def show_bars() -> bool:
    if os.environ.get("DLPROJ_PROGRESS") in {"0", "1"}:
        return os.environ["DLPROJ_PROGRESS"] == "1"
    return sys.stderr.isatty()


_SHOWN = ("val_acc", "test_acc", "val_loss", "test_mse", "train_eval_acc")


class RunBar:
    """A bar over every training step of a run; a no-op where bars are off."""

    def __init__(self, total: int, initial: int = 0, desc: str = "train"):
        self._bar = None
        self._loss = None
        self._metrics: dict[str, str] = {}
        if show_bars() and total > 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, leave=False,
                             dynamic_ncols=True, unit="step")

    def step(self, loss: float) -> None:
        if self._bar is None:
            return
        # An exponential moving average: the loss of the last ~50 steps, not the last batch's.
        self._loss = loss if self._loss is None else 0.98 * self._loss + 0.02 * loss
        self._bar.update(1)
        if self._bar.n % 10 == 0:
            self._bar.set_postfix(loss=f"{self._loss:.4g}", **self._metrics, refresh=False)

    def epoch_done(self, row: dict[str, Any]) -> None:
        if self._bar is None:
            return
        self._metrics = {k: f"{row[k]:.4g}" for k in _SHOWN if k in row}
        self._metrics["epoch"] = str(row.get("epoch"))
        self._bar.set_postfix(loss=f"{self._loss:.4g}" if self._loss is not None else "-",
                              **self._metrics)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
