"""Section 3 layers against torch (float64, 1e-10) and against numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlproj.nn.checkpoint import LAYOUT, load_checkpoint, save_checkpoint
from dlproj.nn.cnn import activations, build_cnn, feature_map_layers
from dlproj.nn.conv import WINOGRAD_MIN_CHANNELS, ChannelsLast, Conv2d, Flatten
from dlproj.nn.gradcheck import numerical_gradient, rel_error
from dlproj.nn.im2col import col2im, im2col
from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.nn.pooling import AvgPool2d, MaxPool2d

TOL = 1e-10


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().transpose(0, 2, 3, 1)


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# (N, C_in, H, W, C_out, kernel, stride, padding): with im2col, stride 1 with few channels takes
# the transposed-convolution path for dx, the others col2im; the 3x3 stride-1 ones run Winograd's
# F(2x2, 3x3) too: even and odd outputs (a last row or column of tiles half outside), padding 0-2,
# a 1x1 image, one channel in or out.
CONV_CASES = [
    (2, 3, 7, 8, 4, 3, 1, 1),
    (2, 1, 6, 6, 5, 3, 1, 0),
    (3, 2, 9, 6, 5, 3, 2, 0),
    (2, 1, 5, 5, 3, 2, 1, 2),
    (1, 2, 8, 8, 3, 5, 3, 2),
    (2, 20, 6, 5, 3, 3, 1, 1),
    (2, 4, 10, 9, 6, (3, 2), 2, 1),
    (1, 3, 6, 7, 2, 1, 1, 0),
    (2, 3, 5, 4, 2, 3, 1, 2),
    (1, 2, 1, 1, 3, 3, 1, 1),
    (3, 5, 3, 9, 1, 3, 1, 0),
    (2, 16, 14, 14, 4, 3, 1, 1),
]


def _winograd_fits(case) -> bool:
    return case[5] in (3, (3, 3)) and case[6] == 1


@pytest.mark.parametrize("case,algorithm", [
    (case, algorithm) for case in CONV_CASES for algorithm in ("im2col", "auto", "winograd")
    if algorithm != "winograd" or _winograd_fits(case)])  # others: refused, below
def test_conv2d_matches_torch(case, algorithm):
    n, c, h, w, co, k, s, p = case
    rng = np.random.default_rng(hash(case) % 2**32)
    conv = Conv2d(c, co, k, s, p, rng=rng, dtype=np.float64, algorithm=algorithm)
    assert conv.uses_winograd == (algorithm == "winograd" or (
        algorithm == "auto" and _winograd_fits(case) and c >= WINOGRAD_MIN_CHANNELS))
    conv.params["b"] = rng.normal(size=co)
    W_t = torch.tensor(np.ascontiguousarray(conv.params["W"].transpose(3, 2, 0, 1)),
                       requires_grad=True)
    b_t = torch.tensor(conv.params["b"], requires_grad=True)
    for _ in range(2):  # the second call reuses the layer's buffers
        x = rng.normal(size=(n, h, w, c))
        y = conv.forward(x)
        dy = rng.normal(size=y.shape)
        dx = conv.backward(dy)
        x_t = nchw(x)
        W_t.grad = b_t.grad = None
        y_t = F.conv2d(x_t, W_t, b_t, stride=s, padding=p)
        y_t.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
        assert y.shape == nhwc(y_t).shape
        assert max_abs(y, nhwc(y_t)) < TOL
        assert max_abs(dx, nhwc(x_t.grad)) < TOL
        assert max_abs(conv.grads["W"], W_t.grad.numpy().transpose(2, 3, 1, 0)) < TOL
        assert max_abs(conv.grads["b"], b_t.grad.numpy()) < TOL


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_first_conv_skips_input_gradient(algorithm):
    conv = Conv2d(1, 4, 3, padding=1, rng=np.random.default_rng(0), input_grad=False,
                  algorithm=algorithm)
    y = conv.forward(np.ones((2, 5, 5, 1), np.float32))
    assert conv.backward(np.ones_like(y)) is None
    assert conv.grads["W"].shape == (3, 3, 1, 4)


@pytest.mark.parametrize("kernel,stride,algorithm", [
    (5, 1, "winograd"), (3, 2, "winograd"), ((3, 2), 1, "winograd"), (3, 1, "fft"),
    (3, 1, "Winograd"), (3, 1, ""),
])
def test_conv2d_refuses_an_algorithm_it_cannot_run(kernel, stride, algorithm):
    with pytest.raises(ValueError, match="allowed: auto, im2col, winograd"):
        Conv2d(4, 4, kernel, stride, 1, rng=np.random.default_rng(0), algorithm=algorithm)


@pytest.mark.parametrize("n,h,c,co", [(64, 14, 32, 64), (7, 13, 16, 8), (1, 28, 24, 3)])
def test_winograd_and_im2col_agree_to_float32_round_off(n, h, c, co):
    """The algorithms runs choose between: the same layer in float32, the same numbers to
    float32 round-off (relative to each output's scale): that of a sum of its K terms summed in
    another order, eps * sqrt(K), whichever kernels the BLAS picked for this CPU (observed: at
    most 0.4 of it, with OpenBLAS's Haswell and SkylakeX kernels)."""
    rng = np.random.default_rng(n + h)
    a, b = (Conv2d(c, co, 3, 1, 1, rng=np.random.default_rng(0), algorithm=alg)
            for alg in ("im2col", "winograd"))
    x = rng.normal(size=(n, h, h, c)).astype(np.float32)
    ya, yb = a.forward(x), b.forward(x)
    assert ya.dtype == yb.dtype == np.float32
    dy = rng.normal(size=ya.shape).astype(np.float32)
    dxa, dxb = a.backward(dy), b.backward(dy)
    eps, pixels = float(np.finfo(np.float32).eps), n * h * h
    for u, v, terms in ((ya, yb, 9 * c), (dxa, dxb, 9 * co), (a.grads["W"], b.grads["W"], pixels),
                        (a.grads["b"], b.grads["b"], pixels)):
        scale = eps * np.sqrt(terms) * np.abs(u).max()
        assert max_abs(u, v) < 2 * scale, max_abs(u, v) / scale


POOL_CASES = [(2, 3, 8, 8, 2, 2), (2, 2, 7, 9, 3, 2), (1, 2, 9, 7, 2, 1), (2, 2, 7, 7, 2, 2),
              (1, 3, 10, 6, 3, 3), (2, 1, 5, 8, 2, 3)]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(case, kind):
    n, c, h, w, k, s = case
    rng = np.random.default_rng(7)
    # A permutation: no two inputs equal, so max pooling has no ties.
    x = rng.permutation(n * h * w * c).reshape(n, h, w, c) / 11.0
    pool = (MaxPool2d if kind == "max" else AvgPool2d)(k, s)
    y = pool.forward(x)
    dy = rng.normal(size=y.shape)
    dx = pool.backward(dy)
    x_t = nchw(x)
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    y_t = fn(x_t, k, s)
    y_t.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    assert max_abs(y, nhwc(y_t)) < TOL
    assert max_abs(dx, nhwc(x_t.grad)) < TOL


def test_max_pool_ties_go_to_the_first_maximum():
    x = np.zeros((1, 4, 4, 2))
    x[0, 2:, 2:, 1] = 3.0
    pool = MaxPool2d(2)
    pool.forward(x)
    dx = pool.backward(np.ones((1, 2, 2, 2)))
    assert dx.sum() == 8  # one pixel per window, not every tied one
    assert dx[0, 0, 0, 0] == 1 and dx[0, 2, 2, 1] == 1 and dx[0, 3, 3, 1] == 0


@pytest.mark.parametrize("case", [(2, 3, 8, 8, 2, 2), (1, 2, 9, 6, 3, 3), (2, 2, 7, 7, 2, 2),
                                  (1, 3, 10, 6, 3, 3), (2, 2, 7, 9, 3, 2), (1, 2, 6, 6, 2, 1),
                                  (1, 2, 5, 5, 1, 1), (2, 2, 7, 7, 1, 2)])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_max_pool_ties_go_where_torch_sends_them(case, layout):
    """Inputs from {0, 1, 2}: most windows hold a tie. Windows that tile the input (2x2/2,
    3x3/3) and windows that do not, from a C-contiguous input and from a strided view."""
    n, c, h, w, k, s = case
    x = np.random.default_rng(sum(case)).integers(0, 3, size=(n, h, w, c)).astype(np.float64)
    if layout == "strided":
        x = np.repeat(x, 2, axis=3)[..., ::2]
    pool = MaxPool2d(k, s)
    y = pool.forward(x)
    dy = np.random.default_rng(1).normal(size=y.shape)
    dx = pool.backward(dy)
    x_t = nchw(np.ascontiguousarray(x))
    F.max_pool2d(x_t, k, s).backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    assert max_abs(dx, nhwc(x_t.grad)) < TOL


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (3, 2)])
def test_max_pool_nan_windows_get_their_gradient_as_torch(k, s):
    """NaN in a window: the output is NaN and the gradient goes where torch's max_pool2d puts
    it (the window's last NaN), not nowhere."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 7, 7, 3))
    x[rng.random(x.shape) < 0.08] = np.nan
    x[0, :2, :2, 0] = np.nan  # a window of NaN only
    x[1, 2:4, 2:4, 1] = 1.0  # ties, no NaN
    pool = MaxPool2d(k, s)
    y = pool.forward(x)
    dy = rng.normal(size=y.shape)
    dx = pool.backward(dy)
    x_t = nchw(x)
    y_t = F.max_pool2d(x_t, k, s)
    y_t.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(nhwc(y_t)))
    assert np.isnan(y).any()
    assert max_abs(dx, nhwc(x_t.grad)) < TOL


def _bits(a: np.ndarray) -> np.ndarray:
    """Each float's bits (a zero's sign included), every NaN as one pattern."""
    a = np.where(np.isnan(a), np.nan, a)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def _layer_by_layer(layers, x, dout):
    """Each layer's own forward in order, then each one's backward in reverse: (output, dx)."""
    for layer in layers:
        x = layer.forward(x)
    d = dout
    for layer in reversed(layers):
        d = layer.backward(d)
    return x, d


def _zeros_unsigned(a: np.ndarray) -> np.ndarray:
    return np.where(a == 0, a.dtype.type(0), a)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf * 0
@pytest.mark.parametrize("k,s", [(2, 2), (3, 3), (2, 3), (3, 2), (2, 1)])
@pytest.mark.parametrize("values", ["normal", "ties", "special"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_then_max_pool_run_as_one_step_both_ways(k, s, values, dtype, monkeypatch):
    """Sequential runs a ReLU and the max pool after it (windows not overlapping) as one step:
    forward the pool first and ReLU on its output, backward ReLU's mask on the pooled gradient.
    The gradient has the bits of the layer-by-layer pass, the output its values (its bits but a
    zero's sign, for -0.0 in the input): random inputs, ties (mostly zeros after ReLU), NaN,
    infinities and signed zeros in the input and the gradient, sizes the windows tile and sizes
    they do not. Overlapping windows go layer by layer."""
    from dlproj.nn.activations import ReLU
    from dlproj.nn.sequential import Sequential

    rng = np.random.default_rng(k * 10 + s)
    x = rng.normal(size=(2, 9, 8, 3)).astype(dtype)
    dy_scale = 1.0
    if values == "ties":
        x = rng.integers(-2, 2, size=x.shape).astype(dtype)
    elif values == "special":
        special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype=dtype)
        picks = rng.random(x.shape) < 0.2
        x[picks] = rng.choice(special, size=picks.sum())
        dy_scale = np.inf
    net = Sequential([("relu", ReLU()), ("pool", MaxPool2d(k, s))])
    pooled_shape = net.layers[1][1].forward(x).shape
    dy = rng.normal(size=pooled_shape).astype(dtype)
    dy[rng.random(dy.shape) < 0.2] = -0.0
    dy[rng.random(dy.shape) < 0.05] *= dy_scale
    want_y, want = _layer_by_layer([layer for _, layer in net.layers], x, dy)
    fused = k <= s
    relu_inputs: list[tuple] = []
    if fused:  # the ReLU's own backward must not run, its forward only on the pooled values
        monkeypatch.setattr(ReLU, "backward", lambda self, d: pytest.fail("ReLU.backward ran"))
        real = ReLU.forward
        monkeypatch.setattr(ReLU, "forward", lambda self, a, train=True: (
            relu_inputs.append(a.shape), real(self, a, train))[1])
    y = net.forward(x)
    got = net.backward(dy)
    assert relu_inputs == ([pooled_shape] if fused else [])
    np.testing.assert_array_equal(_bits(got), _bits(want))
    np.testing.assert_array_equal(_bits(_zeros_unsigned(y)), _bits(_zeros_unsigned(want_y)))
    if values != "special":  # no -0.0 in the input: the output's bits too
        np.testing.assert_array_equal(_bits(y), _bits(want_y))


def test_a_cnn_step_runs_relu_and_max_pool_as_one_step(monkeypatch):
    """The study's CNN (max pool) never runs ReLU's own backward, nor its forward on a full-size
    map; its loss and gradients are those of the layer-by-layer pass, bit for bit; with average
    pooling ReLU runs itself both ways."""
    from dlproj.nn.activations import ReLU

    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    x[:, :, :4] = 0  # a blank top margin, as MNIST's
    y = np.array([0, 1, 2, 3])
    calls: list[str] = []
    forward, backward = ReLU.forward, ReLU.backward

    def counted_forward(self, a, train=True):
        calls.append(f"forward {a.shape[1:3]}")
        return forward(self, a, train)

    def counted_backward(self, d):
        calls.append("backward")
        return backward(self, d)

    for pooling, relu_runs in ((MaxPool2d, False), (AvgPool2d, True)):
        model = build_cnn([4, 8], rng=np.random.default_rng(1), pooling=pooling)
        loss = SoftmaxCrossEntropy()
        layers = [layer for _, layer in model.layers]
        logits = x
        for layer in layers:
            logits = layer.forward(logits)
        want_loss = loss.forward(logits, y)
        d = loss.backward()
        for layer in reversed(layers):
            d = layer.backward(d)
        want = {k: v.copy() for k, v in model.grads.items()}
        calls.clear()
        monkeypatch.setattr(ReLU, "forward", counted_forward)
        monkeypatch.setattr(ReLU, "backward", counted_backward)
        got_loss = loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        monkeypatch.undo()
        if relu_runs:
            assert calls == ["forward (28, 28)", "forward (14, 14)", "backward", "backward"]
        else:  # on the pooled maps only
            assert calls == ["forward (14, 14)", "forward (7, 7)"]
        assert _bits(np.float64(got_loss)) == _bits(np.float64(want_loss))
        for name, grad in model.grads.items():
            np.testing.assert_array_equal(_bits(grad), _bits(want[name]), err_msg=name)


def test_im2col_and_col2im_are_adjoint():
    rng = np.random.default_rng(1)
    for k, s, p in [(3, 1, 1), (3, 2, 0), (2, 2, 1), (5, 1, 2)]:
        x = rng.normal(size=(2, 9, 8, 3))
        cols = im2col(x, k, k, s, p)
        c = rng.normal(size=cols.shape)
        lhs = float((cols * c).sum())
        rhs = float((x * col2im(c, x.shape[1:3], s, p)).sum())
        assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


def _gradcheck_layer(layer, x, rng, h=1e-5):
    """Analytic vs numerical gradients of sum(y * r) for the input and every parameter."""
    r = rng.normal(size=layer.forward(x).shape)

    def f():
        return float((layer.forward(x) * r).sum())

    f()
    dx = layer.backward(r)
    errors = {"x": rel_error(dx, numerical_gradient(f, x, h))} if dx is not None else {}
    for name in layer.params:
        f()
        layer.backward(r)
        analytic = layer.grads[name].copy()
        errors[name] = rel_error(analytic, numerical_gradient(f, layer.params[name], h))
    return errors


@pytest.mark.parametrize("layer", [
    Conv2d(2, 3, 3, 1, 1, rng=np.random.default_rng(0), dtype=np.float64),
    Conv2d(2, 3, 3, 2, 0, rng=np.random.default_rng(1), dtype=np.float64),
    Conv2d(2, 3, 3, 1, 1, rng=np.random.default_rng(2), dtype=np.float64, algorithm="winograd"),
    Conv2d(2, 3, 3, 1, 0, rng=np.random.default_rng(4), dtype=np.float64, algorithm="winograd"),
    MaxPool2d(2),
    AvgPool2d(3, 2),
    Flatten(),
    ChannelsLast(),
], ids=["conv_s1", "conv_s2", "conv_winograd", "conv_winograd_p0", "maxpool", "avgpool",
        "flatten", "channels_last"])
def test_gradient_check(layer):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 6 * 6 * 2).reshape(2, 6, 6, 2) / 10.0  # tie-free for max
    if "b" in layer.params:
        layer.params["b"] = rng.normal(size=layer.params["b"].shape)
    errors = _gradcheck_layer(layer, x, rng)
    assert errors and max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("conv_algorithm", ["auto", "winograd"])
def test_whole_cnn_gradient_check(conv_algorithm):
    rng = np.random.default_rng(5)
    model = build_cnn([2, 3], rng=rng, image_size=8, fc_hidden=4, dtype=np.float64,
                      conv_algorithm=conv_algorithm)
    x = rng.normal(size=(3, 1, 8, 8))
    y = np.array([0, 3, 7])
    loss = SoftmaxCrossEntropy()

    def f():
        return loss.forward(model.forward(x), y)

    f()
    model.backward(loss.backward())
    grads = {k: v.copy() for k, v in model.grads.items()}
    for name, p in model.params.items():
        idx = rng.choice(p.size, size=min(p.size, 12), replace=False)
        numeric = numerical_gradient(f, p, 1e-5, indices=idx).ravel()[idx]
        assert rel_error(grads[name].ravel()[idx], numeric) < 1e-7, name


def test_cnn_shapes_checkpoint_and_feature_maps(tmp_path):
    model = build_cnn([4, 6], rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(5, 1, 28, 28)).astype(np.float32)
    logits = model.forward(x, train=False)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    assert model.params["fc.W"].shape == (7 * 7 * 6, 10)
    maps = activations(model, x, ("conv1", "pool1", "conv2", "pool2"))
    assert {k: v.shape for k, v in maps.items()} == {
        "conv1": (5, 4, 28, 28), "pool1": (5, 4, 14, 14),
        "conv2": (5, 6, 14, 14), "pool2": (5, 6, 7, 7)}
    path = save_checkpoint(tmp_path / "model.npz", model)
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {*model.params, LAYOUT}
    other = load_checkpoint(path, build_cnn([4, 6], rng=np.random.default_rng(9)))
    np.testing.assert_array_equal(other.forward(x, train=False), logits)


def _net(kind: str, variant: str):
    from dlproj.nn.mlp import build_mlp
    from dlproj.nn.two_layer import TwoLayerNet

    rng = np.random.default_rng(0)
    if kind == "cnn":
        return build_cnn([2, 3], rng=rng, pooling=MaxPool2d if variant == "a" else AvgPool2d)
    activation = "relu" if variant == "a" else "tanh"
    if kind == "mlp":
        return build_mlp(8, [5, 4], 3, activation=activation, rng=rng)
    return TwoLayerNet(8, 5, 3, rng=rng, activation=activation)


@pytest.mark.parametrize("kind, says", [
    ("cnn", "pool1: MaxPool2d there, AvgPool2d here; pool2: MaxPool2d there, AvgPool2d here"),
    ("mlp", "relu1: ReLU there, tanh1: Tanh here"),
    ("two_layer", "TwoLayerNet: relu there, tanh here"),
])
def test_a_checkpoint_of_other_layers_with_the_same_shapes_is_refused(tmp_path, kind, says):
    """Pooling and activations have no parameters: a model.npz of max pooling (ReLU) fits a
    network of average pooling (tanh) shape for shape, and was evaluated as one. Its layout is
    kept beside the parameters and compared; the same layout loads, and a checkpoint written
    before the layout was kept still loads by its shapes."""
    from dlproj.errors import DataError

    written = _net(kind, "a")
    path = save_checkpoint(tmp_path / "model.npz", written)
    with pytest.raises(DataError, match="other layers than this config builds") as info:
        load_checkpoint(path, _net(kind, "b"))
    assert says in str(info.value)
    same = load_checkpoint(path, _net(kind, "a"))
    assert all(np.array_equal(same.params[k], v) for k, v in written.params.items())
    np.savez(tmp_path / "old.npz", **written.params)  # no layout: shapes alone
    load_checkpoint(tmp_path / "old.npz", _net(kind, "b"))


@pytest.mark.parametrize("channels,fc_hidden", [([4], 0), ([4, 6], 0), ([4, 6], 16),
                                                ([2, 3, 5], 0)])
def test_feature_maps_are_drawn_after_relu(channels, fc_hidden):
    model = build_cnn(channels, rng=np.random.default_rng(0), fc_hidden=fc_hidden)
    shown = feature_map_layers(model)
    blocks = range(1, len(channels) + 1)
    # Every conv block, after its ReLU and then pooled; never the classifier's ReLU.
    assert list(shown) == [n for b in blocks for n in (f"relu{b}", f"pool{b}")]
    assert [shown[f"relu{b}"] for b in blocks] == [f"conv{b} + ReLU" for b in blocks]
    x = np.random.default_rng(1).normal(size=(3, 1, 28, 28)).astype(np.float32)
    maps = activations(model, x, ["conv1", *shown])
    assert (maps["conv1"] < 0).any()  # before ReLU: negative responses
    np.testing.assert_array_equal(maps["relu1"], np.maximum(maps["conv1"], 0))
    for name in shown:
        assert maps[name].min() >= 0, name
    np.testing.assert_array_equal(  # max pooling of the rectified map
        maps["pool1"], maps["relu1"].reshape(3, channels[0], 14, 2, 14, 2).max(axis=(3, 5)))


def test_the_torch_twin_computes_the_same_logits():
    from dlproj.torchnets.twins import twin

    model = build_cnn([4, 6], rng=np.random.default_rng(0), pooling=AvgPool2d, fc_hidden=5)
    x = np.random.default_rng(1).normal(size=(3, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        theirs = twin(model)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, model.forward(x, train=False), atol=1e-4)


@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("optimizer,loss_tol,weight_tol", [
    ("sgd", 1e-5, 5e-6),
    # Adam moves each weight by about lr (1e-3) a step whatever the size of its gradient, so a
    # gradient below float32 round-off (a feature at a ReLU's kink) may step either way: a few
    # weights end some lr apart (3.5 lr seen), the losses ~1e-4.
    ("adam", 1e-3, 1e-2),
])
def test_training_with_winograd_follows_im2col_to_round_off(pool, optimizer, loss_tol,
                                                             weight_tol):
    """20 steps of a CNN whose conv2 runs Winograd (auto, 16 input channels) and of its twin
    forced to im2col, from the same weights on the same batches: the same losses and weights to
    float32 round-off, as grown over 20 steps of the optimizer."""
    from dlproj.optim.optimizers import SGD, Adam

    nets = {alg: build_cnn([16, 16], rng=np.random.default_rng(0), pooling=pool,
                           conv_algorithm=alg) for alg in ("im2col", "auto")}
    assert [name for name, layer in nets["auto"].layers
            if getattr(layer, "uses_winograd", False)] == ["conv2"]
    rng = np.random.default_rng(1)
    batches = [(rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 16))
               for _ in range(4)] * 5  # 4 batches, 5 times: something to learn
    losses = {}
    for alg, net in nets.items():
        opt = SGD(lr=0.05, momentum=0.9) if optimizer == "sgd" else Adam(lr=1e-3)
        loss = SoftmaxCrossEntropy()
        losses[alg] = []
        for x, y in batches:
            losses[alg].append(loss.forward(net.forward(x), y))
            net.backward(loss.backward())
            opt.step(net.params, net.grads)
    assert losses["auto"] != losses["im2col"]  # not the same arithmetic, ...
    np.testing.assert_allclose(losses["auto"], losses["im2col"], rtol=0, atol=loss_tol)
    assert min(losses["auto"][-5:]) < losses["auto"][0] - 0.1  # ... and it learns
    for name, w in nets["im2col"].params.items():
        np.testing.assert_allclose(nets["auto"].params[name], w, rtol=0, atol=weight_tol,
                                   err_msg=name)
