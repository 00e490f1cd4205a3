"""Learning-rate schedules: lr as a function of the (0-based) epoch.

constant; step (x gamma every step_size epochs); exponential (x gamma every epoch); cosine
(from lr to min_lr over the run). A linear warm-up over `warmup_epochs` composes with any of them.
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
    span = max(total - 1, 1)
    return cfg.min_lr + (base_lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / span))


SCHEDULES: dict[str, Callable[[float, int, int, DictConfig], float]] = {
    "constant": constant,
    "step": step,
    "exponential": exponential,
    "cosine": cosine,
}


def lr_at(cfg: DictConfig, base_lr: float, epoch: int, total: int) -> float:
    """The learning rate of epoch `epoch` (0-based) of `total`, warm-up included."""
    lr = SCHEDULES[cfg.name](base_lr, epoch, total, cfg)
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        lr *= (epoch + 1) / (cfg.warmup_epochs + 1)
    return lr
