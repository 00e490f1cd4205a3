"""Mini-batch training of a NumPy model, one metrics row per epoch.

The model exposes `forward(x, train)`, `backward(dout)`, `params` and `grads` (dicts under the same
names); the loss exposes `forward(pred, target) -> float` and `backward() -> dpred`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.optim.optimizers import Optimizer
from dlproj.optim.schedules import lr_at
from dlproj.runtime.context import RunContext

StepHook = Callable[[int, dict[str, np.ndarray]], None]
Evaluator = Callable[[], dict[str, float]]


@dataclass
class ArrayData:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def predict(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Model outputs for `x`, in batches, without caching for backward."""
    return np.concatenate([model.forward(x[i:i + batch_size], train=False)
                           for i in range(0, len(x), batch_size)])


def classification_metrics(model: Any, data: ArrayData, prefix: str) -> dict[str, float]:
    logits = predict(model, data.x)
    loss = SoftmaxCrossEntropy().forward(logits.astype(np.float64), data.y)
    acc = float(np.mean(logits.argmax(axis=1) == data.y))
    return {f"{prefix}_loss": loss, f"{prefix}_acc": acc}


def mnist_arrays(mnist: Any, *, flatten: bool) -> tuple[ArrayData, ArrayData, ArrayData]:
    """train, val, test of a loaded MNIST as standardised float32 arrays (data.mnist.to_float)."""
    from dlproj.data.mnist import to_float

    return tuple(ArrayData(to_float(s.images, flatten=flatten), s.labels)
                 for s in (mnist.train, mnist.val, mnist.test))


def val_test_evaluator(model: Any, val: ArrayData, test: ArrayData) -> Evaluator:
    """An `evaluate` for fit(): val_loss/val_acc (when there is a val split), test_loss/test_acc."""

    def evaluate() -> dict[str, float]:
        out = classification_metrics(model, val, "val") if len(val) else {}
        return {**out, **classification_metrics(model, test, "test")}

    return evaluate


def evaluate_checkpoint(ctx: RunContext, model: Any, evaluate: Evaluator) -> dict[str, float]:
    """Load `checkpoint=PATH` into `model` and evaluate it, without training."""
    from dlproj.nn.checkpoint import load_checkpoint

    load_checkpoint(ctx.cfg.checkpoint, model)
    final = evaluate()
    ctx.log.info("evaluated %s: %s", ctx.cfg.checkpoint, final)
    return final


def fit(ctx: RunContext, model: Any, loss_fn: Any, optimizer: Optimizer, train: ArrayData,
        evaluate: Evaluator, *, on_step: StepHook | None = None) -> dict[str, Any]:
    """Train for `train.epochs` epochs of shuffled mini-batches; returns the last metrics row."""
    cfg = ctx.cfg
    epochs, batch_size = cfg.train.epochs, cfg.train.batch_size
    base_lr = optimizer.lr
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        optimizer.lr = lr_at(cfg.schedule, base_lr, epoch, epochs)
        order = ctx.rng.permutation(len(train))
        starts = range(0, len(train), batch_size)
        total, seen = 0.0, 0
        for start in ctx.progress(starts, total=len(starts), desc=f"epoch {epoch + 1}/{epochs}"):
            idx = order[start:start + batch_size]
            out = model.forward(train.x[idx], train=True)
            loss = ctx.check_finite(loss_fn.forward(out, train.y[idx]),
                                    f"epoch {epoch + 1} step {step + 1}")
            ctx.log_step(step + 1, {"train_loss": loss})
            model.backward(loss_fn.backward())
            grads = model.grads
            optimizer.step(model.params, grads)
            step += 1
            if on_step is not None:
                on_step(step, grads)
            total += loss * len(idx)
            seen += len(idx)
        row = {"epoch": epoch + 1, "lr": optimizer.lr, "train_loss": total / seen}
        row.update(evaluate())
        row["epoch_seconds"] = time.perf_counter() - t0
        for key, value in row.items():
            if key.endswith(("_loss", "_mse")):
                ctx.check_finite(value, f"epoch {epoch + 1} ({key})")
        ctx.log_epoch(**row)
    return dict(ctx.metrics.last)
