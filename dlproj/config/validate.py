"""Range and choice checks that types alone cannot express (`train.epochs=-1`, `optimizer.lr=0`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlproj.errors import ConfigError


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(
        f"Invalid value for '{key}': {value!r}. Allowed: {allowed}. "
        f"Fix it on the command line, e.g. `python -m dlproj {key}=...`."
    )

def check(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ConfigError naming `key` and what is allowed unless `ok`."""
    if not ok:
        _fail(key, value, allowed)

def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = sorted(choices)
    check(value in choices, key, value, "one of " + ", ".join(choices))

def _positive_int(key: str, value: Any) -> None:
    check(isinstance(value, int) and value >= 1, key, value, "an integer >= 1")

def _optional_limit(key: str, value: Any) -> None:
    check(value is None or (isinstance(value, int) and value >= 1), key, value,
          "null (all) or an integer >= 1")

def _in_unit(key: str, value: float, *, closed_right: bool = False) -> None:
    ok = 0.0 <= value <= 1.0 if closed_right else 0.0 <= value < 1.0
    check(ok, key, value, "a number in [0, 1]" if closed_right else "a number in [0, 1)")

def validate(cfg: DictConfig) -> None:
    """Check every shared key; experiments check their own model keys with the same helpers."""
    from dlproj.nn.activations import ACTIVATIONS
    from dlproj.optim.optimizers import OPTIMIZERS
    from dlproj.optim.schedules import SCHEDULES

    check(cfg.seed >= 0, "seed", cfg.seed, "an integer >= 0")
    check_choice("device", cfg.device, ["auto", "cpu", "cuda"])
    _positive_int("train.epochs", cfg.train.epochs)
    _positive_int("train.batch_size", cfg.train.batch_size)
    check(cfg.train.get("log_every") is None or cfg.train.log_every >= 1, "train.log_every",
          cfg.train.get("log_every"), "null (about 50 lines per run) or an integer >= 1")
    _optional_limit("data.train_limit", cfg.data.train_limit)
    _optional_limit("data.test_limit", cfg.data.test_limit)
    check(cfg.data.val_size >= 0, "data.val_size", cfg.data.val_size, "an integer >= 0")

    opt = cfg.optimizer
    check_choice("optimizer.name", opt.name, OPTIMIZERS)
    check(opt.lr > 0, "optimizer.lr", opt.lr, "a number > 0")
    _in_unit("optimizer.momentum", opt.momentum)
    _in_unit("optimizer.alpha", opt.alpha)
    _in_unit("optimizer.beta1", opt.beta1)
    _in_unit("optimizer.beta2", opt.beta2)
    check(opt.eps > 0, "optimizer.eps", opt.eps, "a number > 0")
    check(opt.weight_decay >= 0, "optimizer.weight_decay", opt.weight_decay, "a number >= 0")

    sch = cfg.schedule
    check_choice("schedule.name", sch.name, SCHEDULES)
    _positive_int("schedule.step_size", sch.step_size)
    check(0 < sch.gamma <= 1, "schedule.gamma", sch.gamma, "a number in (0, 1]")
    check(sch.warmup_epochs >= 0, "schedule.warmup_epochs", sch.warmup_epochs, "an integer >= 0")
    check(sch.min_lr >= 0, "schedule.min_lr", sch.min_lr, "a number >= 0")

    check_choice("pooling.name", cfg.pooling.name, ["max", "avg"])
    check_choice("augmentation.name", cfg.augmentation.name, ["none", "standard"])

    model = cfg.model
    if "activation" in model:
        check_choice("model.activation", model.activation, ACTIVATIONS)
    if "hidden" in model:
        hidden = OmegaConf.to_container(model.hidden)
        check(all(h >= 1 for h in hidden), "model.hidden", hidden, "a list of integers >= 1")
