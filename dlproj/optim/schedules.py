"""Learning-rate schedules: lr as a function of the (0-based) epoch.

constant; step (x gamma every step_size epochs); exponential (x gamma every epoch); cosine
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
The names and their builders are the `schedule=` group's registry, dlproj.config.groups.SCHEDULE.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig


def constant(base_lr: float, epoch: int, total: int, cfg: DictConfig) -> float:
    return base_lr


def step(base_lr: float, epoch: int, total: int, cfg: DictConfig) -> float:
    return base_lr * cfg.gamma ** (epoch // cfg.step_size)


def exponential(base_lr: float, epoch: int, total: int, cfg: DictConfig) -> float:
    return base_lr * cfg.gamma**epoch


def cosine(base_lr: float, epoch: int, total: int, cfg: DictConfig) -> float:
    # Period = the whole run, as CosineAnnealingLR(T_max=total): the last epoch still learns
    # (min_lr is where the run would arrive one epoch later), where T_max = total - 1 would
    # spend it at min_lr, i.e. at zero by default.
    return cfg.min_lr + (base_lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / total))


def lr_at(cfg: DictConfig, base_lr: float, epoch: int, total: int) -> float:
    """The learning rate of epoch `epoch` (0-based) of `total`, warm-up included.

    Warm-up multiplies the schedule by (epoch + 1) / (warmup_epochs + 1) for the first
    `warmup_epochs` epochs: lr / (w + 1), 2 lr / (w + 1), ..., then the schedule itself.
    """
    from dlproj.config.groups import SCHEDULE

    lr = SCHEDULE.builder(cfg.name)(base_lr, epoch, total, cfg)
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        lr *= (epoch + 1) / (cfg.warmup_epochs + 1)
    return lr
