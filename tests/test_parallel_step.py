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


# -- passes: each worker's slice in passes whose layer outputs fit in PASS_BYTES -------------------

def _row_bytes_by_hand(channels, image=28, classes=10):
    """The CNN's layer outputs for one image, float32: nhwc, then per block conv, ReLU, pool
    (each conv keeps the size, each pool halves it), flatten, fc."""
    total, size, c_in = image * image, image, 1
    for c in channels:
        total += 2 * size * size * c  # conv, ReLU
        size //= 2
        total += size * size * c  # pool
        c_in = c
    return 4 * (total + size * size * c_in + classes)  # + flatten, fc


@pytest.mark.parametrize("channels", [[4, 8], [8, 16], [32, 64], [16]])
def test_a_pass_takes_as_many_rows_as_pass_bytes_of_layer_outputs_hold(channels):
    from dlproj.training import parallel

    model = build_cnn(channels, rng=np.random.default_rng(0))
    x = np.zeros((64, 1, 28, 28), np.float32)
    per_row = _row_bytes_by_hand(channels)
    assert parallel.output_bytes_per_row(model, x) == per_row
    assert parallel.rows_per_pass(model, x) == max(1, parallel.PASS_BYTES // per_row)


def test_the_mlps_and_the_two_layer_net_run_their_batches_in_one_pass():
    """Sections 1-2: the study's widest MLP at its batch (128) in one pass, the very computation of
    before; the 2-layer net has no layers to count and is never cut."""
    from dlproj.training import parallel

    mlp = build_mlp(784, [512, 256], 10, activation="relu", rng=np.random.default_rng(0))
    x = np.zeros((128, 784), np.float32)
    assert parallel.output_bytes_per_row(mlp, x) == 4 * (2 * 512 + 2 * 256 + 10)
    assert parallel.rows_per_pass(mlp, x) >= 128
    two = TwoLayerNet(784, 512, 10, rng=np.random.default_rng(0))
    assert parallel.output_bytes_per_row(two, x) == 0
    assert parallel.rows_per_pass(two, np.zeros((100_000, 784), np.float32)) == 100_000


def test_no_rows_leave_no_count_behind():
    from dlproj.training import parallel

    model = _cnn()
    x = np.zeros((0, 1, 28, 28), np.float32)
    assert parallel.output_bytes_per_row(model, x) == 0
    assert parallel.output_bytes_per_row(model, np.zeros((3, 1, 28, 28), np.float32)) > 0


class _InPlaceLinear:
    """A layer that writes its gradients into the same arrays every backward (as a layer may):
    the passes' sum must not be lost to the next pass's write."""

    def __init__(self, layer):
        self.inner, self.params = layer, layer.params
        self.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}

    def forward(self, x, train=True):
        return self.inner.forward(x, train)

    def backward(self, dout):
        dx = self.inner.backward(dout)
        for k, g in self.inner.grads.items():
            self.grads[k][...] = g
        return dx

    def replica(self):
        return _InPlaceLinear(self.inner.replica())


def _in_place_mlp():
    model = _mlp()
    model.layers = [(n, _InPlaceLinear(layer) if n.startswith("fc") else layer)
                    for n, layer in model.layers]
    return model


PASS_MODELS = {**MODELS, "mlp_in_place_grads": (_in_place_mlp, (784,), SoftmaxCrossEntropy)}


@pytest.mark.parametrize("name", sorted(PASS_MODELS))
@pytest.mark.parametrize("rows", [1, 3, 8])
@pytest.mark.parametrize("workers,n", [(1, 1), (1, 7), (1, 37), (2, 37), (3, 64)])
def test_passes_give_the_one_pass_results(name, rows, workers, n, monkeypatch):
    """Whatever the passes (1-row ones included) and workers, the loss and gradients are the one
    pass's to float32 round-off, and no pass takes more than rows_per_pass rows."""
    from dlproj.training import parallel

    build, shape, loss_cls = PASS_MODELS[name]
    x, y = _batch(shape, loss_cls, n)
    ref_loss, ref = _serial(build(), loss_cls(), x, y)
    model = build()
    per_row = parallel.output_bytes_per_row(model, x)
    monkeypatch.setattr(parallel, "PASS_BYTES", rows * per_row)
    seen = []
    forward = type(model).forward
    monkeypatch.setattr(type(model), "forward",
                        lambda self, x, train=True: seen.append(len(x)) or forward(self, x, train))
    loss = forward_backward(model, loss_cls(), x, y, workers=workers)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    _assert_close(model.grads, ref)
    if per_row:  # a model with layers: cut into passes of at most `rows`
        assert sum(seen) == n and max(seen) <= rows
        assert len(seen) >= -(-n // rows)
    else:
        assert sorted(seen) == sorted(len(s) for s in np.array_split(x, min(workers, n)))


@pytest.mark.parametrize("channels,n", [([8, 16], 100), ([32, 64], 37), ([4], 1)])
def test_predict_cuts_image_batches_as_passes_and_leaves_the_mlps_as_they_were(channels, n):
    """Evaluation: the CNN's outputs in batches of twice a pass's rows, the same values to
    float32 round-off as in one batch; the MLP's in batches of 1,000, bit for bit as before."""
    from dlproj.experiments.common import predict
    from dlproj.training import parallel

    rng = np.random.default_rng(3)
    cnn = build_cnn(channels, rng=rng)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    seen = []
    forward = cnn.forward
    cnn.forward = lambda x, train=True: seen.append(len(x)) or forward(x, train)
    out = predict(cnn, x)
    np.testing.assert_allclose(out, forward(x, train=False), rtol=1e-5, atol=1e-5)
    assert max(seen) == min(n, 2 * parallel.rows_per_pass(cnn, x)) and sum(seen) == n

    mlp = build_mlp(784, [512, 256], 10, activation="relu", rng=rng)
    xs = rng.standard_normal((2500, 784)).astype(np.float32)
    expected = np.concatenate([mlp.forward(xs[i:i + 1000], train=False) for i in (0, 1000, 2000)])
    np.testing.assert_array_equal(predict(mlp, xs), expected)
