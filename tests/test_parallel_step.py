"""The data-parallel training step: N workers give the 1-worker results to float32 round-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlproj.nn.cnn import build_cnn
from dlproj.nn.losses import MSELoss, SoftmaxCrossEntropy
from dlproj.nn.mlp import build_mlp
from dlproj.nn.pooling import AvgPool2d, MaxPool2d
from dlproj.nn.two_layer import TwoLayerNet
from dlproj.optim.optimizers import SGD
from dlproj.training.parallel import forward_backward


def _mlp():
    return build_mlp(784, [64, 32], 10, activation="relu", rng=np.random.default_rng(0))


def _two_layer():
    return TwoLayerNet(784, 48, 10, rng=np.random.default_rng(0), activation="tanh")


def _cnn(pooling=MaxPool2d, fc_hidden=0):
    return build_cnn([4, 8], rng=np.random.default_rng(0), pooling=pooling, fc_hidden=fc_hidden)


# (model builder, input shape of one example, loss); the CNN takes (1, 28, 28) images.
MODELS = {
    "mlp": (_mlp, (784,), SoftmaxCrossEntropy),
    "two_layer": (_two_layer, (784,), SoftmaxCrossEntropy),
    "cnn_max": (_cnn, (1, 28, 28), SoftmaxCrossEntropy),
    "cnn_avg_fc": (lambda: _cnn(AvgPool2d, 16), (1, 28, 28), SoftmaxCrossEntropy),
    "mlp_regression": (lambda: build_mlp(3, [16], 2, activation="tanh",
                                         rng=np.random.default_rng(0)), (3,), MSELoss),
}


def _batch(shape, loss_cls, n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    if loss_cls is MSELoss:
        return x, rng.standard_normal((n, 2)).astype(np.float32)
    return x, rng.integers(0, 10, n)


def _serial(model, loss_fn, x, y):
    """The three lines the parallel step stands for."""
    out = model.forward(x, train=True)
    loss = loss_fn.forward(out, y)
    model.backward(loss_fn.backward())
    return loss, {k: v.copy() for k, v in model.grads.items()}


def _assert_close(grads, ref):
    assert grads.keys() == ref.keys()
    for k in ref:
        scale = float(np.abs(ref[k]).max()) or 1.0
        np.testing.assert_allclose(grads[k], ref[k], rtol=0, atol=2e-5 * scale, err_msg=k)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("workers,n", [(1, 37), (2, 64), (3, 37), (4, 64), (8, 5)])
def test_n_workers_equal_one(name, workers, n):
    build, shape, loss_cls = MODELS[name]
    x, y = _batch(shape, loss_cls, n)
    ref_loss, ref = _serial(build(), loss_cls(), x, y)
    model = build()
    loss = forward_backward(model, loss_cls(), x, y, workers=workers)
    if workers == 1:  # the very same computation
        assert loss == ref_loss
        for k in ref:
            np.testing.assert_array_equal(model.grads[k], ref[k], err_msg=k)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    _assert_close(model.grads, ref)


@pytest.mark.parametrize("name", ["mlp", "two_layer", "cnn_max"])
def test_training_steps_and_a_loaded_checkpoint_reach_the_replicas(name):
    """Replicas share the parameters: the optimizer's in-place updates and set_params reach them."""
    build, shape, loss_cls = MODELS[name]
    serial, parallel = build(), build()
    opt_s, opt_p = SGD(0.1, momentum=0.9), SGD(0.1, momentum=0.9)
    for step in range(6):
        x, y = _batch(shape, loss_cls, 48, seed=step)
        loss_s = forward_backward(serial, loss_cls(), x, y, workers=1)
        loss_p = forward_backward(parallel, loss_cls(), x, y, workers=3)
        assert loss_p == pytest.approx(loss_s, rel=1e-5)
        opt_s.step(serial.params, serial.grads)
        opt_p.step(parallel.params, parallel.grads)
    _assert_close(parallel.params, serial.params)

    fresh = {k: v + 0.5 for k, v in build().params.items()}  # a checkpoint loaded mid-run
    serial.set_params(fresh)
    parallel.set_params(fresh)
    x, y = _batch(shape, loss_cls, 48, seed=99)
    loss_s = forward_backward(serial, loss_cls(), x, y, workers=1)
    assert forward_backward(parallel, loss_cls(), x, y, workers=3) == pytest.approx(loss_s,
                                                                                   rel=1e-5)
    _assert_close(parallel.grads, serial.grads)


@pytest.mark.parametrize("workers,bad", [(2, 7), (2, 0), (3, 0), (3, 4), (3, 8), (4, 5)])
def test_a_failing_worker_raises_in_the_caller(workers, bad):
    """A worker's error (here a bad label in its slice) is the step's, whichever worker it is,
    and the next step runs."""
    model = _mlp()
    x = np.zeros((12, 784), np.float32)
    y = np.arange(12) % 10
    y[bad] = 99
    with pytest.raises(IndexError):
        forward_backward(model, SoftmaxCrossEntropy(), x, y, workers=workers)
    y[bad] = 0
    assert np.isfinite(forward_backward(model, SoftmaxCrossEntropy(), x, y, workers=workers))


def test_first_layer_skips_its_input_gradient():
    model = _mlp()
    x, y = _batch((784,), SoftmaxCrossEntropy, 4)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x), y)
    assert model.backward(loss_fn.backward()) is None


@pytest.mark.parametrize("rows,expected", [(4, 1), (7, 1), (8, 1), (15, 1), (16, 2), (24, 2),
                                           (128, 2)])
def test_the_runs_worker_count_leaves_small_batches_serial(rows, expected, monkeypatch):
    """A training run's step (NumpyStack: its RunContext's workers, min_rows=MIN_ROWS) gives every
    slice at least MIN_ROWS rows: XOR's 4-row batch is not cut in two; a given `workers=` alone
    is used as it is."""
    from omegaconf import OmegaConf

    from dlproj.training import parallel
    from dlproj.training.context import RunContext
    from dlproj.training.numpy_stack import ArrayData, NumpyStack

    used = []
    real = parallel._replicas_of
    monkeypatch.setattr(parallel, "_replicas_of",
                        lambda model, n: used.append(n) or real(model, n))
    build, shape, loss_cls = MODELS["mlp"]
    x, y = _batch(shape, loss_cls, rows)
    ref_loss, ref = _serial(build(), loss_cls(), x, y)
    model = build()
    cfg = OmegaConf.create({"seed": 0, "section": 1, "experiment": "mlp",
                            "train": {"batch_size": rows}})
    ctx = RunContext(cfg, Path("/nonexistent-run-dir"), workers=2)
    optimizer = SGD(0.0)  # a step that leaves the weights as they are
    stack = NumpyStack(ctx, model, loss_cls(), optimizer, ArrayData(x, y), dict)
    loss = stack.train_step(np.arange(rows)).loss
    assert used == ([expected] if expected > 1 else [])
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    _assert_close(model.grads, ref)
    if rows >= 2:
        used.clear()
        forward_backward(build(), loss_cls(), x, y, workers=2)
        assert used == [2]
