"""Section 1: NumPy MLPs — MNIST classification, XOR, and sin(x) regression by model size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlproj import plots
from dlproj.build import build
from dlproj.experiments import footprint
from dlproj.experiments.common import (
    classification_metrics,
    evaluate_checkpoint,
    figure,
    mnist,
    mnist_arrays,
    predict,
    val_test_evaluator,
)
from dlproj.experiments.footprint import DataSize
from dlproj.experiments.registry import TRAINING, Param, param_range, param_values, register
from dlproj.nn.checkpoint import save_checkpoint
from dlproj.nn.losses import MSELoss, SoftmaxCrossEntropy
from dlproj.nn.mlp import build_mlp
from dlproj.training.context import RunContext
from dlproj.training.loop import Evaluation
from dlproj.training.numpy_stack import ArrayData, fit


def _mlp(ctx: RunContext, n_in: int, n_out: int):
    return build(ctx.cfg.model)(in_features=n_in, out_features=n_out, rng=ctx.rng)


SIN_PARAMS = {
    "n_train": Param(2048, param_range(int, lo=1, hi=10**9), "an integer in [1, 1e9]"),
    "n_test": Param(1000, param_range(int, lo=1, hi=10**9), "an integer in [1, 1e9]"),
}


def _sin_data(cfg) -> DataSize:
    p = cfg.get("params") or {}
    n = int(p.get("n_train", 2048)) + int(p.get("n_test", 1000))
    return DataSize(n, 1, 1, keys="params.n_train, params.n_test")


@register(1, "mlp", models=(build_mlp,), checkpoint=".npz", reads=(*TRAINING, "data"),
          evaluates=("data",), data=footprint.mnist)
def mlp(ctx: RunContext) -> dict[str, Any]:
    """An MLP on MNIST (784 -> hidden... -> 10), softmax cross-entropy."""
    train, val, test = mnist_arrays(mnist(ctx.cfg.data), flatten=True)
    model = _mlp(ctx, 784, 10)
    evaluate = val_test_evaluator(model, val, test)
    if ctx.cfg.checkpoint:
        return evaluate_checkpoint(ctx, model, evaluate)
    ctx.log.info("MNIST: %d train, %d val, %d test", len(train), len(val), len(test))
    final = fit(ctx, model, SoftmaxCrossEntropy(), build(ctx.cfg.optimizer)(), train, evaluate)
    save_checkpoint(ctx.path("model.npz"), model)
    m = ctx.cfg.model
    widths = "-".join(map(str, [784, *m.hidden, 10]))
    figure(ctx, "curves.png", lambda: plots.curves.learning_curves(
        ctx.metrics.rows, f"MLP {widths} ({m.activation}) on MNIST"))
    return final


@register(1, "xor", models=(build_mlp,), reads=TRAINING, data=lambda cfg: DataSize(4, 2, 2))
def xor(ctx: RunContext) -> dict[str, Any]:
    """XOR of two bits: not linearly separable, learnt by one hidden layer."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    data = ArrayData(x, y)
    model = _mlp(ctx, 2, 2)
    final = fit(ctx, model, SoftmaxCrossEntropy(), build(ctx.cfg.optimizer)(), data,
                Evaluation(lambda: classification_metrics(model, data, "train_eval"),
                           ("train_eval_loss", "train_eval_acc")))
    probs = predict(model, x)
    ctx.log.info("XOR predictions %s (targets %s)", probs.argmax(1).tolist(), y.tolist())
    save_checkpoint(ctx.path("model.npz"), model)
    figure(ctx, "decision_boundary.png", lambda: _xor_boundary(model))
    return {"train_acc": final["train_eval_acc"], "train_loss": final["train_loss"]}


def _xor_boundary(model):
    g = np.linspace(-0.5, 1.5, 200, dtype=np.float32)
    xx, yy = np.meshgrid(g, g)
    logits = predict(model, np.stack([xx.ravel(), yy.ravel()], axis=1))
    p1 = np.exp(logits[:, 1] - np.logaddexp(logits[:, 0], logits[:, 1])).reshape(xx.shape)
    return plots.functions.decision_surface(xx, yy, p1, np.array([[0, 0], [0, 1], [1, 0], [1, 1]]),
                                            [0, 1, 1, 0])


@register(1, "sin", models=(build_mlp,), params=SIN_PARAMS, reads=TRAINING, data=_sin_data)
def sin(ctx: RunContext) -> dict[str, Any]:
    """sin(x) on [-2pi, 2pi] by an MLP: test MSE against model size."""
    params = param_values(ctx.cfg, SIN_PARAMS)
    n_train, n_test = int(params["n_train"]), int(params["n_test"])
    lo, hi = -2 * math.pi, 2 * math.pi
    x_train = ctx.rng.uniform(lo, hi, size=(n_train, 1)).astype(np.float32)
    x_test = np.linspace(lo, hi, n_test, dtype=np.float32)[:, None]
    # Inputs scaled to [-1, 1]: the network sees x / 2pi, the plots show x.
    scale = np.float32(1 / hi)
    train = ArrayData(x_train * scale, np.sin(x_train))
    test = ArrayData(x_test * scale, np.sin(x_test))
    model = _mlp(ctx, 1, 1)

    def evaluate() -> dict[str, float]:
        return {"test_mse": float(np.mean((predict(model, test.x) - test.y) ** 2))}

    final = fit(ctx, model, MSELoss(), build(ctx.cfg.optimizer)(), train,
                Evaluation(evaluate, ("test_mse",)))
    save_checkpoint(ctx.path("model.npz"), model)
    figure(ctx, "fit.png", lambda: plots.functions.sin_fit(
        x_test, test.y, predict(model, test.x), ctx.cfg.model.name, final["test_mse"]))
    figure(ctx, "curves.png", lambda: plots.curves.learning_curves(
        ctx.metrics.rows, f"sin(x), {ctx.cfg.model.name}"))
    return {"test_mse": final["test_mse"], "train_loss": final["train_loss"]}
