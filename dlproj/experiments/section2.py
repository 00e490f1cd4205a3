"""Section 2: optimization in NumPy — the hand-derived 2-layer net, gradient checking, optimizers,
learning-rate schedules and gradient norms."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlproj import plots
from dlproj.build import build
from dlproj.data.mnist import TRAIN_IMAGES, to_float
from dlproj.errors import DlprojError, check
from dlproj.experiments import footprint
from dlproj.experiments.common import (
    evaluate_checkpoint,
    figure,
    mnist,
    mnist_arrays,
    val_test_evaluator,
)
from dlproj.experiments.registry import TRAINING, Param, param_range, param_values, register
from dlproj.nn.checkpoint import save_checkpoint
from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.nn.two_layer import (
    PARAM_NAMES,
    TwoLayerNet,
    check_gradients,
    kink_crossings,
    two_layer_net,
)
from dlproj.training.context import RunContext
from dlproj.training.loop import Evaluation
from dlproj.training.numpy_stack import fit


class GradientCheckFailed(DlprojError):
    """An analytic gradient disagrees with its centred-difference estimate; `metrics`: what the
    check measured, the failed run's final metrics (dlproj.runtime.runner)."""

    def __init__(self, message: str, metrics: dict[str, Any]):
        super().__init__(message)
        self.metrics = metrics


def _two_layer(ctx: RunContext, n_in: int, n_out: int, dtype: type) -> TwoLayerNet:
    return build(ctx.cfg.model)(in_features=n_in, out_features=n_out, rng=ctx.rng, dtype=dtype)


GRADCHECK_PARAMS = {
    "batch_size": Param(16, param_range(int, lo=1), "an integer >= 1"),
    "h": Param(1e-5, param_range((int, float), lo=0, hi=1e-2, lo_open=True, hi_open=True),
               "a step in (0, 0.01), about 1e-5 in float64"),
    "max_entries": Param(None, param_range(int, lo=1, none_ok=True),
                         "null (every entry) or an integer >= 1"),
    "tolerance": Param(1e-8, param_range((int, float), lo=0, lo_open=True, none_ok=True),
                       "a number > 0, or null: record the errors, fail nothing"),
    # float32 shows why the check runs in float64: the centred differences drown in rounding
    # (the course report's "dtype issues"). `+params.dtype=float32`, with `params.tolerance=null`
    # to record its errors rather than fail.
    "dtype": Param("float64", lambda v: v in ("float64", "float32"), "float64 or float32"),
}


def check_gradcheck(cfg) -> None:
    batch = param_values(cfg, GRADCHECK_PARAMS)["batch_size"]
    images = TRAIN_IMAGES - cfg.data.val_size
    if cfg.data.train_limit is not None:
        images = min(images, cfg.data.train_limit)
    check(batch <= images, "params.batch_size", batch,
          f"at most the {images} training images loaded (data.train_limit, data.val_size)")


class GradNormLog:
    """`fit`'s on_step hook: the L2 norm of every parameter's gradient, each step.

    Steps go to `grad_norms.csv` (step, epoch, grad_norm_W1, ...); `epoch_means()` returns the
    finished epoch's means under the same column names, for metrics.csv.
    """

    def __init__(self, ctx: RunContext, net: TwoLayerNet, names: tuple[str, ...] = PARAM_NAMES):
        self.net = net
        self.names = names
        self.steps = ctx.step_log("grad_norms.csv")
        self._sums = dict.fromkeys(names, 0.0)
        self._count = 0

    def __call__(self, step: int, epoch: int) -> None:
        grads = self.net.grads
        row: dict[str, Any] = {"step": step, "epoch": epoch}
        for name in self.names:
            norm = float(np.linalg.norm(grads[name]))
            row[f"grad_norm_{name}"] = norm
            self._sums[name] += norm
        self._count += 1
        self.steps.append(**row)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"grad_norm_{n}" for n in self.names)

    def epoch_means(self) -> dict[str, float]:
        means = {f"grad_norm_{n}": self._sums[n] / max(self._count, 1) for n in self.names}
        self._sums = dict.fromkeys(self.names, 0.0)
        self._count = 0
        return means


@register(2, "train", models=(two_layer_net,), checkpoint=".npz", reads=(*TRAINING, "data"),
          evaluates=("data",), data=footprint.mnist)
def train(ctx: RunContext) -> dict[str, Any]:
    """The hand-derived 2-layer net on MNIST: optimizer, lr schedule and gradient norms."""
    cfg = ctx.cfg
    # Model and optimizer first: a bad setting fails before MNIST is read.
    net = _two_layer(ctx, 784, 10, np.float32)
    optimizer = build(cfg.optimizer)()
    train_set, val, test = mnist_arrays(mnist(cfg.data), flatten=True)
    evaluate = val_test_evaluator(net, val, test)
    if cfg.checkpoint:
        return evaluate_checkpoint(ctx, net, evaluate)

    norms = GradNormLog(ctx, net)
    ctx.log.info("MNIST: %d train, %d val, %d test; 784-%d-10 %s net; %s lr=%g; schedule %s",
                 len(train_set), len(val), len(test), cfg.model.hidden[0], cfg.model.activation,
                 cfg.optimizer.name, cfg.optimizer.lr, cfg.schedule.name)
    final = fit(ctx, net, SoftmaxCrossEntropy(), optimizer, train_set,
                Evaluation(lambda: {**evaluate(), **norms.epoch_means()},
                           (*evaluate.columns, *norms.columns)), on_step=norms)
    save_checkpoint(ctx.path("model.npz"), net)

    label = f"{cfg.optimizer.name}, {cfg.schedule.name} schedule"
    rows = ctx.metrics.rows
    figure(ctx, "curves.png", lambda: plots.curves.learning_curves(
        rows, f"2-layer net on MNIST ({label})"))
    figure(ctx, "lr_schedule.png", lambda: plots.schedules.lr_schedule(
        rows, f"learning rate ({label})"))
    ctx.flush()
    figure(ctx, "grad_norms_step.png", lambda: plots.grad_norms.grad_norms_per_step(
        norms.steps.rows, PARAM_NAMES, f"gradient norm per step ({label})"))
    figure(ctx, "grad_norms_epoch.png", lambda: plots.grad_norms.grad_norms_per_epoch(
        rows, PARAM_NAMES, f"gradient norm per epoch ({label})"))
    keep = ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc")
    return {k: final[k] for k in keep if k in final}


# It trains nothing: no optimizer or schedule is read (it reads data.* alone), so `optimizer=` and
# `schedule=` are refused rather than recorded as settings that change nothing.
@register(2, "gradcheck", models=(two_layer_net,), params=GRADCHECK_PARAMS, reads=("data",),
          data=footprint.mnist_raw_only, check=check_gradcheck)
def gradcheck(ctx: RunContext) -> dict[str, Any]:
    """The 2-layer net's derived gradients against centred differences (float64; float32 to
    show why not)."""
    cfg, params = ctx.cfg, param_values(ctx.cfg, GRADCHECK_PARAMS)
    batch, h = int(params["batch_size"]), float(params["h"])
    max_entries, tolerance = params["max_entries"], params["tolerance"]
    dtype = np.dtype(params["dtype"]).type
    splits = mnist(cfg.data)
    x = to_float(splits.train.images[:batch], flatten=True, dtype=dtype)
    y = splits.train.labels[:batch]
    net = _two_layer(ctx, 784, 10, dtype)
    # Non-zero biases, so that a bias missing from forward or backward shows.
    for name in ("b1", "b2"):
        net.params[name] += ctx.rng.normal(0.0, 0.1, size=net.params[name].shape)

    crossings = kink_crossings(net, x, h)
    if crossings:
        ctx.log.warning("%d hidden ReLU inputs lie within a perturbation of 0: their "
                        "centred differences straddle the kink (try another seed)", crossings)
    results = check_gradients(net, x, y, h=h,
                              max_entries=None if max_entries is None else int(max_entries),
                              rng=np.random.default_rng(cfg.seed))

    lines = [f"{'param':<6} {'shape':<12} {'checked':>15} {'rel error':>10}"]
    ctx.open()
    for name in PARAM_NAMES:
        r = results[name]
        shape = "x".join(map(str, net.params[name].shape))
        passed = None if tolerance is None else r["rel_error"] < tolerance
        ctx.metrics.append(param=name, shape=shape, checked=r["checked"], total=r["total"],
                           rel_error=r["rel_error"], passed=passed)
        lines.append(f"{name:<6} {shape:<12} {r['checked']:>7}/{r['total']:<7} "
                     f"{r['rel_error']:>10.2e}")
    ctx.log.info("gradient check in %s, %d images, h=%g, %s activation, %d hidden:\n%s",
                 params["dtype"], batch, h, net.activation, net.params["b1"].size,
                 "\n".join(lines))

    out: dict[str, Any] = {f"rel_error_{n}": results[n]["rel_error"] for n in PARAM_NAMES}
    out["max_rel_error"] = max(out.values())
    out["kink_crossings"] = crossings
    ctx.write_json("gradcheck.json", {"h": h, "batch_size": batch, "tolerance": tolerance,
                                      "dtype": params["dtype"], "kink_crossings": crossings,
                                      "results": results})
    failing = [] if tolerance is None else [n for n in PARAM_NAMES
                                            if not results[n]["rel_error"] < tolerance]
    if failing:
        raise GradientCheckFailed(
            "gradient check failed for " + ", ".join(
                f"{n} (relative error {results[n]['rel_error']:.2e})" for n in failing)
            + f"; tolerance {tolerance:g}. " + ("The derived backward pass disagrees with the loss."
                                                if dtype is np.float64 else
                                                "In float32 the centred differences drown in "
                                                "rounding: check in float64."), out)
    return out
