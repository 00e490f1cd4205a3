"""Learning-rate schedules: each against its formula and against torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import pytest
import torch

from dlproj.build import build
from dlproj.config.compose import compose_config
from dlproj.runtime.validate import choices

BASE = 0.1
TOTAL = 12


def _cfg(name: str, **keys):
    """The `schedule=NAME` file with `schedule.KEY=VALUE` overrides, composed as on the command
    line, built the way the training loop builds it."""
    overrides = [f"schedule={name}", *(f"schedule.{k}={v}" for k, v in keys.items())]
    return build(compose_config(overrides).schedule)()


def _ours(schedule, total=TOTAL):
    return [schedule(BASE, e, total) for e in range(total)]


def _torch(make, total=TOTAL):
    """The lr each epoch trains with: the scheduler stepped once per finished epoch."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE)
    sched = make(opt)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def _warmup(opt, w):
    return torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / (w + 1), end_factor=1.0,
                                             total_iters=w)


def test_every_schedule_is_tested_here():
    assert set(choices("schedule")) == {"constant", "step", "exponential", "cosine"}


def test_constant():
    assert _ours(_cfg(name="constant")) == [BASE] * TOTAL


def test_step_formula_default_every_5_epochs_times_half():
    lrs = _ours(_cfg(name="step"))
    assert lrs == pytest.approx([0.1] * 5 + [0.05] * 5 + [0.025] * 2, rel=1e-15)


@pytest.mark.parametrize("step_size,gamma", [(5, 0.5), (3, 0.1), (1, 0.9)])
def test_step_matches_steplr(step_size, gamma):
    ours = _ours(_cfg(name="step", step_size=step_size, gamma=gamma))
    theirs = _torch(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma))
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_exponential_formula_and_exponentiallr():
    cfg = _cfg(name="exponential", gamma=0.97)
    ours = _ours(cfg)
    assert ours == pytest.approx([BASE * 0.97**e for e in range(TOTAL)], rel=1e-15)
    theirs = _torch(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.97))
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("min_lr", [0.0, 0.01])
def test_cosine_formula_and_cosineannealinglr(min_lr):
    ours = _ours(_cfg(name="cosine", min_lr=min_lr))
    formula = [min_lr + (BASE - min_lr) * (1 + math.cos(math.pi * e / TOTAL)) / 2
               for e in range(TOTAL)]
    assert ours == pytest.approx(formula, rel=1e-15)
    theirs = _torch(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, TOTAL, min_lr))
    assert ours == pytest.approx(theirs, rel=1e-10)
    # Starts at the base rate, decreases, and the last epoch still trains above min_lr.
    assert ours[0] == BASE and all(a > b for a, b in zip(ours[:-1], ours[1:], strict=True))
    assert ours[-1] > min_lr


@pytest.mark.parametrize("warmup", [1, 3])
def test_warmup_formula(warmup):
    lrs = _ours(_cfg(name="constant", warmup_epochs=warmup))
    assert lrs == pytest.approx([BASE * (e + 1) / (warmup + 1) for e in range(warmup)]
                                + [BASE] * (TOTAL - warmup), rel=1e-15)


@pytest.mark.parametrize("name,make", [
    ("constant", None),
    ("step", lambda o: torch.optim.lr_scheduler.StepLR(o, 5, 0.5)),
    ("exponential", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.97)),
    ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, TOTAL)),
])
def test_warmup_composes_like_chained_linearlr(name, make):
    gamma = {"step": {"gamma": 0.5}, "exponential": {"gamma": 0.97}}.get(name, {})
    ours = _ours(_cfg(name=name, warmup_epochs=3, **gamma))
    chain = torch.optim.lr_scheduler.ChainedScheduler
    theirs = _torch(lambda o: chain([_warmup(o, 3)] + ([make(o)] if make else [])))
    assert ours == pytest.approx(theirs, rel=1e-10)
    assert ours[0] == pytest.approx(BASE / 4)


@pytest.mark.parametrize("min_lr", [0.0, 0.001, 0.01])
def test_warmup_cosine_with_min_lr_is_the_documented_closed_form(min_lr):
    """warmup(e) * (min_lr + (lr - min_lr)(1 + cos(pi e / T)) / 2): exactly; torch's chained
    LinearLR + CosineAnnealingLR(eta_min) equals it at min_lr = 0 and otherwise lies above it
    by less than 0.05 * min_lr / lr (relative), as the module docstring says."""
    w = 3
    ours = _ours(_cfg(name="cosine", min_lr=min_lr, warmup_epochs=w))
    formula = [(e + 1) / (w + 1) * (min_lr + (BASE - min_lr) * (1 + math.cos(math.pi * e / TOTAL))
                                    / 2) if e < w
               else min_lr + (BASE - min_lr) * (1 + math.cos(math.pi * e / TOTAL)) / 2
               for e in range(TOTAL)]
    assert ours == pytest.approx(formula, rel=1e-15)
    chain = torch.optim.lr_scheduler.ChainedScheduler
    theirs = _torch(lambda o: chain(
        [_warmup(o, w), torch.optim.lr_scheduler.CosineAnnealingLR(o, TOTAL, min_lr)]))
    rel = [(t - o) / o for t, o in zip(theirs, ours, strict=True)]
    if min_lr == 0:
        assert max(abs(r) for r in rel) < 1e-10
    else:
        assert 1e-6 < max(rel) < 0.05 * min_lr / BASE and min(rel) > -1e-12
