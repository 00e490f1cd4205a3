"""The `optimizer=` and `schedule=` groups: a schema per kind of choice, each key's range rule
beside it (`ruled`), and in `cross_check` those against the rest of the config (a warm-up shorter
than the run).
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING, DictConfig

from dlproj.config.checks import AT_LEAST_ZERO, IN_UNIT, POSITIVE, Built, integer, number, ruled
from dlproj.errors import check


@dataclass
class SGDConfig(Built):
    """optimizer=sgd, and optimizer=momentum (its file sets momentum 0.9)."""

    name: str = "sgd"
    lr: float = ruled(0.1, POSITIVE)
    momentum: float = ruled(0.0, IN_UNIT)
    nesterov: bool = False
    weight_decay: float = ruled(0.0, AT_LEAST_ZERO)

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        check(not node.nesterov or node.momentum > 0, "optimizer.nesterov", True,
              "Nesterov needs SGD with momentum > 0, e.g. `python -m dlproj optimizer=momentum "
              "optimizer.nesterov=true`", shown=f"True with optimizer.name={node.name!r} and "
              f"optimizer.momentum={node.momentum}")
        check(node.name != "momentum" or node.momentum > 0, "optimizer.momentum", node.momentum,
              "a number in (0, 1), e.g. `optimizer.momentum=0.9`; plain SGD is `optimizer=sgd`",
              shown=f"{node.momentum} with optimizer=momentum")


@dataclass
class RMSpropConfig(Built):
    name: str = "rmsprop"
    lr: float = ruled(1e-3, POSITIVE)
    alpha: float = ruled(0.99, IN_UNIT)
    eps: float = ruled(1e-8, POSITIVE)
    momentum: float = ruled(0.0, IN_UNIT)
    weight_decay: float = ruled(0.0, AT_LEAST_ZERO)


@dataclass
class AdamConfig(Built):
    """optimizer=adam, and optimizer=adamw (decoupled weight decay)."""

    name: str = "adam"
    lr: float = ruled(1e-3, POSITIVE)
    beta1: float = ruled(0.9, IN_UNIT)
    beta2: float = ruled(0.999, IN_UNIT)
    eps: float = ruled(1e-8, POSITIVE)
    weight_decay: float = ruled(0.0, AT_LEAST_ZERO)


# -- schedule ------------------------------------------------------------------------------------

GAMMA = number("a number in (0, 1]", lambda v: 0 < v <= 1)


@dataclass
class ScheduleConfig(Built):
    """What every schedule has: a warm-up shorter than the run (`warmup_epochs`, declared by each
    where its keys show it)."""

    name: str = MISSING

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        check(node.warmup_epochs < cfg.train.epochs or node.warmup_epochs == 0,
              "schedule.warmup_epochs", node.warmup_epochs,
              f"fewer than train.epochs={cfg.train.epochs} (the run would end inside the warm-up)")


@dataclass
class ConstantConfig(ScheduleConfig):
    name: str = "constant"
    warmup_epochs: int = ruled(0, integer(0))


@dataclass
class StepConfig(ScheduleConfig):
    name: str = "step"
    step_size: int = ruled(5, integer())
    gamma: float = ruled(0.5, GAMMA)
    warmup_epochs: int = ruled(0, integer(0))


@dataclass
class ExponentialConfig(ScheduleConfig):
    name: str = "exponential"
    gamma: float = ruled(0.97, GAMMA)
    warmup_epochs: int = ruled(0, integer(0))


@dataclass
class CosineConfig(ScheduleConfig):
    name: str = "cosine"
    min_lr: float = ruled(0.0, AT_LEAST_ZERO)
    warmup_epochs: int = ruled(0, integer(0))

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        ScheduleConfig.cross_check(node, cfg)
        check(node.min_lr < cfg.optimizer.lr, "schedule.min_lr", node.min_lr,
              f"a number in [0, optimizer.lr={cfg.optimizer.lr}): the cosine falls from "
              f"optimizer.lr to min_lr, a higher min_lr would make the rate climb")
