"""The NumPy side of the training loop (sections 1-3): batches, the step, evaluation, state.

The model exposes `forward(x, train)`, `backward(dout)`, `params` and `grads` (dicts under the same
names) and `set_params`; the loss exposes `forward(pred, target) -> float` and `backward() ->
dpred`; the optimizer `step(params, grads)`, `lr`, `state` and `t`. `NumpyStack` plugs them into
the one epoch loop, dlproj.training.loop.fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlproj.errors import DataError
from dlproj.files.atomic import save_npz
from dlproj.training import loop
from dlproj.training.context import RunContext
from dlproj.training.parallel import MIN_ROWS, forward_backward


@dataclass
class ArrayData:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class NumpyStack:
    """Shuffled mini-batches from `ctx.rng`; forward, loss, backward (split across
    `ctx.workers` threads), then the optimizer step (on `ctx.threads`)."""

    ctx: RunContext
    model: Any
    loss_fn: Any
    optimizer: Any
    train: ArrayData
    evaluate_fn: loop.Evaluation
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
        loss = forward_backward(self.model, self.loss_fn, self.train.x[idx], self.train.y[idx],
                                workers=self.ctx.workers, min_rows=MIN_ROWS)
        self.optimizer.step(self.model.params, self.model.grads, threads=self.ctx.threads)
        return loop.StepResult(float(loss), len(idx))

    def evaluate(self) -> dict[str, float]:
        return self.evaluate_fn()

    def columns(self) -> tuple[str, ...]:
        return self.evaluate_fn.columns

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
        except Exception as exc:  # cut short (BadZipFile, EOFError, zlib), another file: alike
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
        # parameters alone (`checkpoint=` reads it by their shapes); the experiments write
        # model.npz with the network's layout (nn/checkpoint.py, a floor above this one's reach)
        save_npz(path, {k: np.asarray(v) for k, v in self.model.params.items()})


def fit(ctx: RunContext, model: Any, loss_fn: Any, optimizer: Any, train: ArrayData,
        evaluate: loop.Evaluation, *, on_step: loop.StepHook | None = None) -> dict[str, Any]:
    """Train a NumPy model with the one epoch loop; returns the last metrics row.

    `on_step(step, epoch)` runs after each update (the step's gradients are still in
    `model.grads`)."""
    return loop.fit(ctx, NumpyStack(ctx, model, loss_fn, optimizer, train, evaluate),
                    on_step=on_step)
