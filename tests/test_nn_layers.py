"""Every NumPy layer: float64 numerical gradient check and equality with torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlproj.nn.activations import ACTIVATIONS, LeakyReLU, stable_sigmoid
from dlproj.nn.gradcheck import numerical_gradient, rel_error
from dlproj.nn.layers import Linear
from dlproj.nn.losses import MSELoss, SoftmaxCrossEntropy, log_softmax
from dlproj.nn.mlp import build_mlp

TORCH_ACTS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
}


def _away_from_zero(rng, shape):
    """Inputs with |x| >= 0.1 so ReLU-like kinks are never inside the finite-difference step."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


@pytest.mark.parametrize("seed", range(3))
def test_linear_gradcheck_and_torch(seed):
    rng = np.random.default_rng(seed)
    n, d_in, d_out = rng.integers(1, 6), rng.integers(1, 7), rng.integers(1, 7)
    layer = Linear(d_in, d_out, rng=rng, dtype=np.float64)
    layer.params["b"] = rng.standard_normal(d_out)
    x = rng.standard_normal((n, d_in))
    dout = rng.standard_normal((n, d_out))

    out = layer.forward(x)
    dx = layer.backward(dout)

    def f():
        return float(np.sum(layer.forward(x) * dout))

    assert rel_error(dx, numerical_gradient(f, x)) < 1e-7
    for name in ("W", "b"):
        assert rel_error(layer.grads[name], numerical_gradient(f, layer.params[name])) < 1e-7

    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(layer.params["W"], requires_grad=True)
    bt = torch.tensor(layer.params["b"], requires_grad=True)
    yt = xt @ Wt + bt
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(layer.grads["W"], Wt.grad.numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("seed", range(2))
def test_activation_gradcheck_and_torch(name, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 6, size=2))
    x = _away_from_zero(rng, shape) * 3
    dout = rng.standard_normal(shape)
    act = ACTIVATIONS[name]()
    out = act.forward(x)
    dx = act.backward(dout)
    num = numerical_gradient(lambda: float(np.sum(act.forward(x) * dout)), x)
    assert rel_error(dx, num) < 1e-7

    xt = torch.tensor(x, requires_grad=True)
    yt = TORCH_ACTS[name](xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10, rtol=0)


def test_sigmoid_is_stable_at_extremes():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise"):
        s = stable_sigmoid(z)
    np.testing.assert_allclose(s, torch.sigmoid(torch.tensor(z)).numpy(), atol=1e-12)
    assert LeakyReLU(0.2).forward(np.array([-1.0]))[0] == pytest.approx(-0.2)


@pytest.mark.parametrize("seed", range(3))
def test_softmax_cross_entropy_gradcheck_and_torch(seed):
    rng = np.random.default_rng(seed)
    n, c = rng.integers(1, 8), rng.integers(2, 6)
    logits = rng.standard_normal((n, c)) * 3
    labels = rng.integers(0, c, size=n)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, labels)
    grad = loss_fn.backward()
    num = numerical_gradient(lambda: SoftmaxCrossEntropy().forward(logits, labels), logits)
    assert rel_error(grad, num) < 1e-7

    lt = torch.tensor(logits, requires_grad=True)
    lossT = torch.nn.functional.cross_entropy(lt, torch.tensor(labels))
    lossT.backward()
    assert abs(loss - lossT.item()) < 1e-10
    np.testing.assert_allclose(grad, lt.grad.numpy(), atol=1e-10, rtol=0)


def test_log_softmax_survives_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise"):
        out = log_softmax(logits)
    np.testing.assert_allclose(out, torch.log_softmax(torch.tensor(logits), 1).numpy())


@pytest.mark.parametrize("seed", range(3))
def test_mse_gradcheck_and_torch(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 6, size=2))
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    loss_fn = MSELoss()
    loss = loss_fn.forward(pred, target)
    grad = loss_fn.backward()
    num = numerical_gradient(lambda: MSELoss().forward(pred, target), pred)
    assert rel_error(grad, num) < 1e-7
    pt = torch.tensor(pred, requires_grad=True)
    lossT = torch.nn.functional.mse_loss(pt, torch.tensor(target))
    lossT.backward()
    assert abs(loss - lossT.item()) < 1e-10
    np.testing.assert_allclose(grad, pt.grad.numpy(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_whole_mlp_matches_torch(activation):
    """The stacked model (forward, loss, backward through every layer) against torch autograd."""
    rng = np.random.default_rng(7)
    model = build_mlp(5, [6, 4], 3, activation=activation, rng=rng, dtype=np.float64)
    x = _away_from_zero(rng, (8, 5))
    y = rng.integers(0, 3, size=8)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())

    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    h = torch.tensor(x)
    for i in (1, 2):
        h = TORCH_ACTS[activation](h @ params[f"fc{i}.W"] + params[f"fc{i}.b"])
    logits = h @ params["fc3.W"] + params["fc3.b"]
    lossT = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    lossT.backward()
    assert abs(loss - lossT.item()) < 1e-10
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, params[k].grad.numpy(), atol=1e-10, rtol=0, err_msg=k)
        num = numerical_gradient(lambda: SoftmaxCrossEntropy().forward(model.forward(x), y),
                                 model.params[k])
        assert rel_error(g, num) < 1e-7, k


def test_rel_error_flags_a_wrong_gradient():
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, a * 1.01) > 1e-3


@pytest.mark.parametrize("shapes", [[(64, 28, 28, 8)], [(128, 512), (37, 512), (128, 512)],
                                    [(4, 3), (4, 5), (2, 3, 3)], [(5, 3), (5, 3), (5, 3)]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("train", [True, False])
def test_relu_is_np_maximum_bit_for_bit_as_batches_change_shape(shapes, dtype, train):
    """ReLU's training forward keeps zeros of the batch's shape; a batch of another shape or
    dtype (the last, partial batch; another net's) must get its own, and NaN, -0.0 and inf come
    out as np.maximum(x, 0) gives them; after a training forward the backward follows the mask
    (an evaluation forward caches nothing, as the other layers')."""
    relu, rng = ACTIVATIONS["relu"](), np.random.default_rng(0)
    for i, shape in enumerate(shapes):
        x = rng.normal(size=shape).astype(dtype if i % 2 == 0 else np.float32)
        x.flat[:6] = [np.nan, -np.nan, -0.0, 0.0, np.inf, -np.inf][:x.size]
        y = relu.forward(x, train)
        want = np.maximum(x, x.dtype.type(0))
        assert y.dtype == x.dtype and y.shape == x.shape
        assert np.array_equal(y.view(np.uint8), want.view(np.uint8))
        if train:
            d = rng.normal(size=shape).astype(x.dtype)
            assert np.array_equal(relu.backward(d), d * (x > 0))
