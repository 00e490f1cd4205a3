"""What the experiments share: MNIST as arrays, predictions, classification metrics, evaluating
a saved model instead of training one, and drawing a figure into the run directory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dlproj import plots
from dlproj.data.mnist import MNIST, load_mnist, to_float
from dlproj.nn.checkpoint import load_checkpoint
from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.paths import resolve_path
from dlproj.training.context import RunContext
from dlproj.training.loop import Evaluation
from dlproj.training.numpy_stack import ArrayData
from dlproj.training.parallel import rows_per_pass


def mnist(data: DictConfig) -> MNIST:
    """MNIST as the `data` keys say (root, download, limits, validation split)."""
    return load_mnist(**OmegaConf.to_container(data, resolve=True))


def mnist_arrays(splits: MNIST, *, flatten: bool) -> tuple[ArrayData, ArrayData, ArrayData]:
    """train, val, test as standardised float32 arrays (dlproj.data.mnist.to_float)."""
    return tuple(ArrayData(to_float(s.images, flatten=flatten), s.labels)
                 for s in (splits.train, splits.val, splits.test))


def predict(model: Any, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Model outputs for `x`, in batches, without caching for backward: of `batch_size` rows, or
    of twice a training pass's rows where that is fewer (a forward pass keeps nothing for
    backward; dlproj.training.parallel.rows_per_pass). The wide CNN's 5,000 images took 0.39 s
    in batches of 16 here, 1.26 s in batches of 1,000, whose layer outputs left the cache."""
    size = max(1, min(batch_size, 2 * rows_per_pass(model, x)))
    return np.concatenate([model.forward(x[i:i + size], train=False)
                           for i in range(0, len(x), size)])


def classification_metrics(model: Any, data: ArrayData, prefix: str) -> dict[str, float]:
    logits = predict(model, data.x)
    loss = SoftmaxCrossEntropy().forward(logits.astype(np.float64), data.y)
    acc = float(np.mean(logits.argmax(axis=1) == data.y))
    return {f"{prefix}_loss": loss, f"{prefix}_acc": acc}


def val_test_evaluator(model: Any, val: ArrayData, test: ArrayData) -> Evaluation:
    """An `evaluate` for fit(): val_loss/val_acc (when there is a val split), test_loss/test_acc."""
    splits = [(name, data) for name, data in (("val", val), ("test", test))
              if name == "test" or len(val)]

    def evaluate() -> dict[str, float]:
        return {k: v for name, data in splits
                for k, v in classification_metrics(model, data, name).items()}

    return Evaluation(evaluate, tuple(f"{name}_{m}" for name, _ in splits for m in ("loss", "acc")))


def evaluate_checkpoint(ctx: RunContext, model: Any, evaluate: Evaluation,
                        load: Callable[..., Any] = load_checkpoint) -> dict[str, float]:
    """Load `checkpoint=PATH` into `model` and evaluate it, without training: every section's
    one place that reads it. A relative PATH is taken from the project root, as data.root and
    model.weights are (paths.resolve_path, as dlproj.runtime.validate checked it), so
    `checkpoint=outputs/runs/<run>/model.npz` names the same file from any working directory.
    `load(path, model, given=PATH)`: the section's loader (Sections 1-3: a model.npz; Section
    4 passes its own), `given` the value as typed, for its message if the file is gone since."""
    given = ctx.cfg.checkpoint
    path = resolve_path(given)
    load(path, model, given=given)
    final = evaluate()
    ctx.log.info("evaluated %s: %s", path, final)
    return final


def figure(ctx: RunContext, name: str, make: Callable[[], Any]) -> None:
    """`make()`'s figure as RUN_DIR/`name` (PNG), unless `figures=false` (RunContext.drawing)."""
    with ctx.drawing(name) as path:
        if path is not None:
            plots.save.save_figure(make(), path)
