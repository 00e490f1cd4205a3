"""Learning-rate schedules: the rate of each (0-based) epoch of a run of `total` epochs.

Constant; StepDecay (x gamma every step_size epochs); Exponential (x gamma every epoch); Cosine
(half a cosine from lr towards min_lr over the run). A linear warm-up over `warmup_epochs`
multiplies any of them. Each equals its torch.optim.lr_scheduler counterpart (StepLR,
ExponentialLR, CosineAnnealingLR with T_max = total, warm-up: LinearLR chained), stepped once per
epoch: tests/test_schedules.py checks it.

One exception, by choice: warm-up together with cosine and `min_lr > 0`. Ours is the closed form

    lr(e) = warmup(e) * (min_lr + (lr - min_lr) * (1 + cos(pi e / total)) / 2),
    warmup(e) = (e + 1) / (warmup_epochs + 1) for e < warmup_epochs, else 1,

while torch's chained LinearLR + CosineAnnealingLR(eta_min=min_lr) applies the cosine's
recursive update to the warmed-up rate and lands above it, by less than 0.05 * min_lr / lr
(relative; 3.5e-3 for min_lr = lr / 10). With min_lr = 0 the two are equal.
The `schedule=` config group names these classes (`_target_`).
"""

from __future__ import annotations

import math


class Schedule:
    """`schedule(base_lr, epoch, total)`: the rate of `epoch`, warm-up included.

    Warm-up multiplies the schedule by (epoch + 1) / (warmup_epochs + 1) for the first
    `warmup_epochs` epochs: lr / (w + 1), 2 lr / (w + 1), ..., then the schedule itself.
    """

    def __init__(self, warmup_epochs: int = 0):
        self.warmup_epochs = warmup_epochs

    def rate(self, base_lr: float, epoch: int, total: int) -> float:
        raise NotImplementedError

    def __call__(self, base_lr: float, epoch: int, total: int) -> float:
        lr = self.rate(base_lr, epoch, total)
        if self.warmup_epochs and epoch < self.warmup_epochs:
            lr *= (epoch + 1) / (self.warmup_epochs + 1)
        return lr


class Constant(Schedule):
    def rate(self, base_lr: float, epoch: int, total: int) -> float:
        return base_lr


class StepDecay(Schedule):
    """lr x gamma every `step_size` epochs."""

    def __init__(self, step_size: int = 5, gamma: float = 0.5, warmup_epochs: int = 0):
        super().__init__(warmup_epochs)
        self.step_size, self.gamma = step_size, gamma

    def rate(self, base_lr: float, epoch: int, total: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class Exponential(Schedule):
    """lr x gamma every epoch."""

    def __init__(self, gamma: float = 0.97, warmup_epochs: int = 0):
        super().__init__(warmup_epochs)
        self.gamma = gamma

    def rate(self, base_lr: float, epoch: int, total: int) -> float:
        return base_lr * self.gamma**epoch


class Cosine(Schedule):
    """Half a cosine from lr to `min_lr`, period = the whole run."""

    def __init__(self, min_lr: float = 0.0, warmup_epochs: int = 0):
        super().__init__(warmup_epochs)
        self.min_lr = min_lr

    def rate(self, base_lr: float, epoch: int, total: int) -> float:
        # Period = the whole run, as CosineAnnealingLR(T_max=total): the last epoch still learns
        # (min_lr is where the run would arrive one epoch later), where T_max = total - 1 would
        # spend it at min_lr, i.e. at zero by default.
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / total))
