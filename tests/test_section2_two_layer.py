"""The hand-derived 2-layer net: gradients against torch autograd and against centred differences,
and a gradient check that fails when a gradient is planted wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.nn.two_layer import ACTIVATIONS, PARAM_NAMES, TwoLayerNet, check_gradients


def _net_and_batch(activation: str, seed: int = 0, n: int = 12, d: int = 7, hidden: int = 6):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, hidden, 4, rng=rng, activation=activation, dtype=np.float64)
    for name in ("b1", "b2"):
        net.params[name] += rng.normal(0, 0.1, size=net.params[name].shape)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, 4, size=n)
    return net, x, y


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_gradients_match_torch_autograd(activation):
    net, x, y = _net_and_batch(activation)
    loss = net.loss(x, y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    phi = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    logits = phi(torch.tensor(x) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    tloss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(net.grads[name], t[name].grad.numpy(), rtol=1e-10,
                                   atol=1e-14, err_msg=name)


def test_fit_path_gives_the_same_gradients_as_loss():
    """Training goes through forward + SoftmaxCrossEntropy + backward; gradcheck through loss()."""
    net, x, y = _net_and_batch("relu")
    net.loss(x, y)
    by_loss = {k: v.copy() for k, v in net.grads.items()}
    ce = SoftmaxCrossEntropy()
    ce.forward(net.forward(x), y)
    net.backward(ce.backward())
    for name in PARAM_NAMES:
        np.testing.assert_allclose(net.grads[name], by_loss[name], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_check_passes_below_1e8(activation):
    net, x, y = _net_and_batch(activation, seed=1)
    results = check_gradients(net, x, y)
    assert set(results) == set(PARAM_NAMES)
    for name, r in results.items():
        assert r["checked"] == r["total"] == net.params[name].size
        assert r["rel_error"] < 1e-8, (name, r)


def test_gradient_check_on_a_subset_covers_every_tensor():
    net, x, y = _net_and_batch("tanh", seed=2, d=30, hidden=20)
    results = check_gradients(net, x, y, max_entries=25, rng=np.random.default_rng(0))
    assert {n: r["checked"] for n, r in results.items()} == {"W1": 25, "b1": 20, "W2": 25,
                                                             "b2": 4}
    assert max(r["rel_error"] for r in results.values()) < 1e-8


class _ForgotReluMask(TwoLayerNet):
    """A planted bug: dz1 = dh, as if phi'(z1) were 1 everywhere."""

    def _phi_prime(self):
        return np.ones_like(self._z1)


class _BiasGradNotSummed(TwoLayerNet):
    """A planted bug: db2 is the mean over the batch instead of the sum (off by a factor N)."""

    def backward(self, dz2):
        super().backward(dz2)
        self.grads["b2"] = dz2.mean(axis=0)


@pytest.mark.parametrize("cls,wrong", [(_ForgotReluMask, {"W1", "b1"}),
                                       (_BiasGradNotSummed, {"b2"})])
def test_gradient_check_catches_a_planted_wrong_gradient(cls, wrong):
    rng = np.random.default_rng(0)
    net = cls(7, 6, 4, rng=rng, activation="relu", dtype=np.float64)
    net.params["b1"] += rng.normal(0, 0.1, size=6)
    x, y = rng.normal(size=(12, 7)), rng.integers(0, 4, size=12)
    results = check_gradients(net, x, y)
    for name in PARAM_NAMES:
        if name in wrong:
            assert results[name]["rel_error"] > 1e-2, (name, results[name])
        else:
            assert results[name]["rel_error"] < 1e-8, (name, results[name])


def test_set_params_checks_names_and_shapes():
    net, _, _ = _net_and_batch("relu")
    good = {k: v + 1 for k, v in net.params.items()}
    net.set_params(good)
    np.testing.assert_array_equal(net.params["W1"], good["W1"])
    with pytest.raises(ValueError, match="W2"):
        net.set_params({**good, "W2": np.zeros((3, 3))})
    with pytest.raises(KeyError, match="b1"):
        net.set_params({k: v for k, v in good.items() if k != "b1"})
