"""Learning-rate schedules: lr as a function of the (0-based) epoch.

constant; step (x gamma every step_size epochs); exponential (x gamma every epoch); cosine
(half a cosine from lr towards min_lr over the run). A linear warm-up over `warmup_epochs`
multiplies any of them. Each equals its torch.optim.lr_scheduler counterpart (StepLR,
ExponentialLR, CosineAnnealingLR with T_max = total, warm-up: LinearLR chained), stepped once per
epoch: tests/test_schedules.py checks it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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


SCHEDULES: dict[str, Callable[[float, int, int, DictConfig], float]] = {
    "constant": constant,
    "step": step,
    "exponential": exponential,
    "cosine": cosine,
}


def lr_at(cfg: DictConfig, base_lr: float, epoch: int, total: int) -> float:
    """The learning rate of epoch `epoch` (0-based) of `total`, warm-up included.

    Warm-up multiplies the schedule by (epoch + 1) / (warmup_epochs + 1) for the first
    `warmup_epochs` epochs: lr / (w + 1), 2 lr / (w + 1), ..., then the schedule itself.
    """
    lr = SCHEDULES[cfg.name](base_lr, epoch, total, cfg)
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        lr *= (epoch + 1) / (cfg.warmup_epochs + 1)
    return lr
