"""The NumPy side of the training loop (sections 1-3): batches, the step, evaluation, state.

The model exposes `forward(x, train)`, `backward(dout)`, `params` and `grads` (dicts under the same
names) and `set_params`; the loss exposes `forward(pred, target) -> float` and `backward() ->
dpred`. `NumpyStack` plugs them into the one epoch loop, dlproj.training.loop.fit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlproj.errors import DataError
from dlproj.files.atomic import save_npz
from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.optim.optimizers import Optimizer
from dlproj.training import loop
from dlproj.training.context import RunContext
from dlproj.training.parallel import forward_backward

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


@dataclass
class NumpyStack:
    """Shuffled mini-batches from `ctx.rng`; forward, loss, backward, then the optimizer step."""

    ctx: RunContext
    model: Any
    loss_fn: Any
    optimizer: Optimizer
    train: ArrayData
    evaluate_fn: Evaluator
    suffix: str = ".npz"

    def steps_per_epoch(self) -> int:
        return -(-len(self.train) // self.ctx.cfg.train.batch_size)

    def batches(self) -> Iterator[np.ndarray]:
        order = self.ctx.rng.permutation(len(self.train))
        size = self.ctx.cfg.train.batch_size
        for start in range(0, len(order), size):
            yield order[start:start + size]

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def train_step(self, idx: np.ndarray) -> loop.StepResult:
        loss = forward_backward(self.model, self.loss_fn, self.train.x[idx], self.train.y[idx])
        self.optimizer.step(self.model.params, self.model.grads)
        return loop.StepResult(float(loss), len(idx))

    def evaluate(self) -> dict[str, float]:
        return self.evaluate_fn()

    # -- state: parameters, optimizer moments and step count, the run's RNG --------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "params": {k: v.copy() for k, v in self.model.params.items()},
            "optimizer": {name: {k: v.copy() for k, v in s.items()}
                          for name, s in self.optimizer.state.items()},
            "optimizer_t": self.optimizer.t,
            "rng": self.ctx.rng.bit_generator.state,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        self.model.set_params(snap["params"])
        self.optimizer.state = {name: dict(s) for name, s in snap["optimizer"].items()}
        self.optimizer.t = int(snap["optimizer_t"])
        self.ctx.rng.bit_generator.state = snap["rng"]

    def write(self, path: Path, snap: dict[str, Any], meta: dict[str, Any], *,
              durable: bool) -> None:
        arrays = {f"param/{k}": v for k, v in snap["params"].items()}
        for name, s in snap["optimizer"].items():
            arrays.update({f"optimizer/{k}/{name}": v for k, v in s.items()})
        header = {**meta, "optimizer_t": snap["optimizer_t"], "rng": snap["rng"]}
        arrays["meta"] = np.array(json.dumps(header))
        save_npz(path, arrays, durable=durable)

    def read(self, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            header = json.loads(str(arrays.pop("meta")))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise DataError(f"Cannot read the checkpoint {path} ({type(exc).__name__}). It is "
                            f"not a last.npz written by a NumPy run of dlproj, or it was cut "
                            f"short; start the run again without resume=.") from None
        params = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("param/")}
        optimizer: dict[str, dict[str, np.ndarray]] = {}
        for key, v in arrays.items():
            if key.startswith("optimizer/"):
                _, moment, name = key.split("/", 2)
                optimizer.setdefault(name, {})[moment] = v
        snap = {"params": params, "optimizer": optimizer,
                "optimizer_t": header.pop("optimizer_t"), "rng": header.pop("rng")}
        return snap, header

    def write_weights(self, path: Path) -> None:
        save_npz(path, {k: np.asarray(v) for k, v in self.model.params.items()})


def fit(ctx: RunContext, model: Any, loss_fn: Any, optimizer: Optimizer, train: ArrayData,
        evaluate: Evaluator, *, on_step: loop.StepHook | None = None) -> dict[str, Any]:
    """Train a NumPy model with the one epoch loop; returns the last metrics row.

    `on_step(step, epoch)` runs after each update (the step's gradients are still in
    `model.grads`)."""
    return loop.fit(ctx, NumpyStack(ctx, model, loss_fn, optimizer, train, evaluate),
                    on_step=on_step)
