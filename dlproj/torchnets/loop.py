"""The Section 4 training loop: autograd for the gradients, ExplicitOptimizer for the update.

No trainer: every step is forward, cross-entropy, backward, gradient norms, then our own update;
one metrics.csv row per epoch in the format of the NumPy sections.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlproj.errors import ConfigError
from dlproj.optim.schedules import lr_at
from dlproj.runtime.context import RunContext
from dlproj.torchnets.optim import ExplicitOptimizer

StepHook = Callable[[int, int], None]


def resolve_device(name: str) -> torch.device:
    """device=auto -> cuda when available, else cpu; device=cuda without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Invalid value for 'device': 'cuda', but torch sees no CUDA device "
                          "here. Allowed: auto (cuda when available), cpu.")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, device: torch.device,
             prefix: str) -> dict[str, float]:
    """Mean cross-entropy and accuracy over `batches`, in eval mode."""
    was_training = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        total += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    model.train(was_training)
    return {f"{prefix}_loss": total / max(n, 1), f"{prefix}_acc": correct / max(n, 1)}


def set_train_mode(model: nn.Module, frozen: Sequence[nn.Module]) -> None:
    """Train mode, except frozen modules: their batch-norm statistics must not move."""
    model.train()
    for m in frozen:
        m.eval()


def fit(ctx: RunContext, model: nn.Module, train: Iterable, optimizer: ExplicitOptimizer,
        evaluate_fn: Callable[[], dict[str, float]], *, device: torch.device,
        frozen: Sequence[nn.Module] = (), on_step: StepHook | None = None) -> dict[str, Any]:
    """`train.epochs` passes over `train`; returns the last metrics row.

    `on_step(step, epoch)` runs after backward and before the update (gradients in `.grad`)."""
    cfg = ctx.cfg
    epochs = cfg.train.epochs
    base_lr = optimizer.lr
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        optimizer.lr = lr_at(cfg.schedule, base_lr, epoch, epochs)
        set_train_mode(model, frozen)
        total, correct, seen = 0.0, 0, 0
        for x, y in ctx.progress(train, total=len(train), desc=f"epoch {epoch + 1}/{epochs}"):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            value = ctx.check_finite(loss.item(), f"epoch {epoch + 1} step {step + 1}")
            ctx.log_step(step + 1, {"train_loss": value})
            optimizer.zero_grad()
            loss.backward()
            step += 1
            if on_step is not None:
                on_step(step, epoch + 1)
            optimizer.step()
            total += value * len(y)
            correct += (logits.detach().argmax(1) == y).sum().item()
            seen += len(y)
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.lr,
                               "train_loss": total / seen, "train_acc": correct / seen}
        row.update(evaluate_fn())
        row["epoch_seconds"] = time.perf_counter() - t0
        for key, value in row.items():
            if key.endswith("_loss"):
                ctx.check_finite(value, f"epoch {epoch + 1} ({key})")
        ctx.log_epoch(**row)
    return dict(ctx.metrics.last)
