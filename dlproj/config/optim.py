"""The `optimizer=` and `schedule=` groups: a schema per kind of choice, its range rules beside it
(`check(node, cfg)`, some of them against the rest of the config: a warm-up shorter than the run).
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from dlproj.config.checks import Built, check, in_unit, integer, is_number, positive
from dlproj.errors import ConfigError


def _weight_decay(node: DictConfig) -> None:
    positive("optimizer.lr", node.lr)
    check(is_number(node.weight_decay) and node.weight_decay >= 0, "optimizer.weight_decay",
          node.weight_decay, "a number >= 0")


@dataclass
class SGDConfig(Built):
    """optimizer=sgd, and optimizer=momentum (its file sets momentum 0.9)."""

    name: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _weight_decay(node)
        in_unit("optimizer.momentum", node.momentum)
        if node.nesterov and not node.momentum > 0:
            raise ConfigError(
                f"Invalid value for 'optimizer.nesterov': True with optimizer.name="
                f"{node.name!r} and optimizer.momentum={node.momentum}. Allowed: Nesterov needs "
                f"SGD with momentum > 0, e.g. `python -m dlproj optimizer=momentum "
                f"optimizer.nesterov=true`.")
        if node.name == "momentum" and not node.momentum > 0:
            raise ConfigError(
                f"Invalid value for 'optimizer.momentum': {node.momentum} with "
                f"optimizer=momentum. Allowed: a number in (0, 1), e.g. "
                f"`optimizer.momentum=0.9`; plain SGD is `optimizer=sgd`.")


@dataclass
class RMSpropConfig(Built):
    name: str = "rmsprop"
    lr: float = 1e-3
    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    weight_decay: float = 0.0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _weight_decay(node)
        in_unit("optimizer.alpha", node.alpha)
        positive("optimizer.eps", node.eps)
        in_unit("optimizer.momentum", node.momentum)


@dataclass
class AdamConfig(Built):
    """optimizer=adam, and optimizer=adamw (decoupled weight decay)."""

    name: str = "adam"
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _weight_decay(node)
        in_unit("optimizer.beta1", node.beta1)
        in_unit("optimizer.beta2", node.beta2)
        positive("optimizer.eps", node.eps)


# -- schedule ------------------------------------------------------------------------------------

def _warmup(node: DictConfig, cfg: DictConfig) -> None:
    integer("schedule.warmup_epochs", node.warmup_epochs, 0)
    check(node.warmup_epochs < cfg.train.epochs or node.warmup_epochs == 0,
          "schedule.warmup_epochs", node.warmup_epochs,
          f"fewer than train.epochs={cfg.train.epochs} (the run would end inside the warm-up)")


def _gamma(node: DictConfig) -> None:
    check(is_number(node.gamma) and 0 < node.gamma <= 1, "schedule.gamma", node.gamma,
          "a number in (0, 1]")


@dataclass
class ConstantConfig(Built):
    name: str = "constant"
    warmup_epochs: int = 0

    check = staticmethod(_warmup)


@dataclass
class StepConfig(Built):
    name: str = "step"
    step_size: int = 5
    gamma: float = 0.5
    warmup_epochs: int = 0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        integer("schedule.step_size", node.step_size)
        _gamma(node)
        _warmup(node, cfg)


@dataclass
class ExponentialConfig(Built):
    name: str = "exponential"
    gamma: float = 0.97
    warmup_epochs: int = 0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _gamma(node)
        _warmup(node, cfg)


@dataclass
class CosineConfig(Built):
    name: str = "cosine"
    min_lr: float = 0.0
    warmup_epochs: int = 0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _warmup(node, cfg)
        check(is_number(node.min_lr) and node.min_lr >= 0, "schedule.min_lr", node.min_lr,
              "a number >= 0")
        check(node.min_lr < cfg.optimizer.lr, "schedule.min_lr", node.min_lr,
              f"a number in [0, optimizer.lr={cfg.optimizer.lr}): the cosine falls from "
              f"optimizer.lr to min_lr, a higher min_lr would make the rate climb")
