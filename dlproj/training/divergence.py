"""When a run has diverged: the one rule every section's training loop applies to its losses.

A loss diverges when it is NaN or infinite, or when it exceeds `train.divergence_factor` times
the run's first measured loss (its first training step's; the first above 0, as a loss of 0 sets
no scale). Lightning's EarlyStopping says the same in two parts: `check_finite` (stop on NaN/inf)
and `divergence_threshold` (stop once the monitored value is worse than a bound); here the bound
is relative to the run's own start, so one factor fits a cross-entropy of 2.3 and an MSE of 0.05
alike. The study never comes near it: no completed run of the course study has a loss above 2
times its first (scripts/loss_ratios.py), where a learning rate that blows a model up reaches 1e6
and more within a few steps.

`train.stop_on_divergence=false` turns the rule off (the run goes on, its record `completed`);
`train.divergence_factor=null` leaves NaN/inf alone to count. The first loss is kept in every
checkpoint, so a resumed run holds its losses to the same bound (a checkpoint written before
the rule: the first loss the resumed run measures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dlproj.errors import Diverged

FACTOR = 1e4  # train.divergence_factor's default


@dataclass
class Divergence:
    """The rule of one run: `factor` (None: NaN/inf only), `stop` (train.stop_on_divergence),
    and the run's first loss > 0 once measured (`reference`)."""

    factor: float | None = FACTOR
    stop: bool = True
    reference: float | None = None

    @classmethod
    def from_config(cls, train: Any) -> Divergence:
        factor = train.get("divergence_factor", FACTOR)
        return cls(None if factor is None else float(factor),
                   bool(train.get("stop_on_divergence", True)))

    def limit(self) -> float:
        """The largest loss that has not diverged (inf while there is no reference)."""
        if self.factor is None or self.reference is None:
            return math.inf
        return self.factor * self.reference

    def check(self, value: float, where: str, *, first: bool = False) -> float:
        """`value` as a float; Diverged if it has diverged (unless `stop` is off). `first`: a
        training step's loss, which sets the reference while there is none."""
        value = float(value)
        if not self.stop:
            return value
        if not math.isfinite(value):
            raise Diverged(where, value)
        if value > self.limit():
            raise Diverged(where, value, f"over train.divergence_factor={self.factor:g} times "
                                         f"the run's first loss ({self.reference:.4g})")
        if first and self.reference is None and value > 0:
            self.reference = value
        return value

    def state(self) -> dict[str, Any]:
        return {"reference": self.reference}

    def load(self, state: dict[str, Any] | None) -> None:
        self.reference = (state or {}).get("reference")
