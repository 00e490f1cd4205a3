"""The NumPy optimizers follow torch.optim step for step (float64, the same gradient sequence)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlproj.build import build
from dlproj.config.compose import compose_config
from dlproj.errors import ConfigError
from dlproj.optim.optimizers import SGD, Adam, AdamW, RMSprop
from dlproj.runtime.validate import check_group

SHAPES = {"W": (5, 3), "b": (3,)}
STEPS = 50

# (our optimizer, torch's, keyword arguments both accept)
CASES = {
    "sgd": (SGD, torch.optim.SGD, {"lr": 0.1}),
    "sgd_wd": (SGD, torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.01}),
    "momentum": (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "nesterov": (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                        "weight_decay": 1e-3}),
    "rmsprop": (RMSprop, torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}),
    "rmsprop_momentum": (RMSprop, torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6,
                                                        "momentum": 0.5, "weight_decay": 0.01}),
    "adam": (Adam, torch.optim.Adam, {"lr": 0.01}),
    "adam_wd": (Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6,
                                         "weight_decay": 0.1}),
    "adamw": (AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
}


def _ours(cls, kw):
    kw = dict(kw)
    if "betas" in kw:
        kw["beta1"], kw["beta2"] = kw.pop("betas")
    return cls(**kw)


def _torch_kw(cls, kw):
    # torch's AdamW decays by 0.01 unless told; ours by what the config says.
    return {"weight_decay": 0.0, **kw} if cls is torch.optim.AdamW else kw


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("lr_change", [False, True], ids=["fixed_lr", "lr_changed_mid_run"])
def test_trajectory_matches_torch(case, lr_change):
    ours_cls, torch_cls, kw = CASES[case]
    rng = np.random.default_rng(0)
    start = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    # Gradients of a varied magnitude, drawn once and fed to both.
    grads = [{k: rng.normal(scale=10.0 ** rng.uniform(-3, 1), size=s) for k, s in SHAPES.items()}
             for _ in range(STEPS)]

    params = {k: v.copy() for k, v in start.items()}
    opt = _ours(ours_cls, kw)
    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
               for k, v in start.items()}
    topt = torch_cls(list(tparams.values()), **_torch_kw(torch_cls, kw))
    for t, g in enumerate(grads):
        if lr_change and t == STEPS // 2:
            opt.lr = kw["lr"] * 0.3
            for group in topt.param_groups:
                group["lr"] = kw["lr"] * 0.3
        opt.step(params, g)
        for k, p in tparams.items():
            p.grad = torch.tensor(g[k], dtype=torch.float64)
        topt.step()
        for k in SHAPES:
            np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=0,
                                       atol=1e-12, err_msg=f"{case}: {k} at step {t + 1}")
    # The trajectory moved: equality is not the trivial one of two frozen parameter sets.
    assert np.abs(params["W"] - start["W"]).max() > 1e-3


def test_state_is_kept_per_parameter_name():
    opt = Adam(lr=0.1)
    params = {"W1": np.ones(3), "b1": np.zeros(2)}
    opt.step(params, {"W1": np.ones(3), "b1": np.ones(2)})
    assert set(opt.state) == {"W1", "b1"}
    assert opt.state["W1"]["m"].shape == (3,) and opt.state["b1"]["v"].shape == (2,)


# Every file of conf/optimizer/ and the class it builds.
CHOICES = [("sgd", SGD), ("momentum", SGD), ("rmsprop", RMSprop), ("adam", Adam),
           ("adamw", AdamW)]


def _cfg(choice: str, *overrides: str):
    return compose_config([f"optimizer={choice}", *overrides])


def test_every_optimizer_file_is_tested():
    from dlproj.runtime.validate import choices

    assert sorted(choices("optimizer")) == sorted(name for name, _ in CHOICES)


def test_float32_parameters_stay_float32_and_in_place():
    W = np.ones((4, 2), dtype=np.float32)
    params = {"W": W}
    for name, _ in CHOICES:
        opt = build(_cfg(name, "optimizer.lr=0.01").optimizer)()
        opt.step(params, {"W": np.full((4, 2), 0.5)})
        assert params["W"] is W and W.dtype == np.float32
    assert np.all(W < 1)


@pytest.mark.parametrize("name,cls", CHOICES)
def test_each_choice_builds_its_class_from_every_key_of_its_file(name, cls):
    node = _cfg(name, "optimizer.lr=0.02", "optimizer.weight_decay=0.1").optimizer
    opt = build(node)()
    assert type(opt) is cls and opt.lr == 0.02 and opt.weight_decay == 0.1
    # Every key but the choice's name is an argument the optimizer keeps: none is ignored.
    for key, value in node.items():
        if key not in ("_target_", "_partial_", "name"):
            assert getattr(opt, key) == value, key


def test_nesterov_without_momentum_is_a_config_error():
    with pytest.raises(ConfigError, match="optimizer.nesterov"):
        check_group("optimizer", _cfg("sgd", "optimizer.nesterov=true"))


def test_momentum_optimizer_needs_momentum():
    with pytest.raises(ConfigError, match="optimizer.momentum"):
        check_group("optimizer", _cfg("momentum", "optimizer.momentum=0"))


@pytest.mark.parametrize("choice,key", [("adam", "momentum"), ("adamw", "alpha"),
                                        ("sgd", "beta1"), ("rmsprop", "nesterov")])
def test_a_key_the_choice_does_not_read_is_refused_while_composing(choice, key):
    with pytest.raises(Exception, match=key):
        _cfg(choice, f"optimizer.{key}=0.5")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("block,threads", [(4, 1), (4, 2), (7, 3), (1, 2), (1, 4), (2, 7)])
def test_blocks_and_threads_change_no_bit(monkeypatch, case, block, threads):
    """The update applied block by block, on several threads, equals the whole-array update bit
    for bit, state included, in float32 as the runs train."""
    import dlproj.optim.optimizers as optimizers

    ours_cls, _, kw = CASES[case]
    rng = np.random.default_rng(1)
    shapes = {"W": (6, 5), "b": (5,), "c": (3, 1, 2)}
    start = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    grads = [{k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
             for _ in range(4)]

    def train(block_size, n_threads):
        monkeypatch.setattr(optimizers, "BLOCK", block_size)
        params, opt = {k: v.copy() for k, v in start.items()}, _ours(ours_cls, kw)
        for g in grads:
            opt.step(params, g, threads=n_threads)
        return params, opt.state

    (whole, whole_state), (split, split_state) = train(10**9, 1), train(block, threads)
    for k in shapes:
        assert whole[k].dtype == np.float32 and np.array_equal(whole[k], split[k]), k
        for slot, value in whole_state[k].items():
            assert np.array_equal(value, split_state[k][slot]), (k, slot)
    assert not np.array_equal(whole["W"], start["W"])


def test_a_parameter_that_is_not_contiguous_is_updated_in_place(monkeypatch):
    import dlproj.optim.optimizers as optimizers

    monkeypatch.setattr(optimizers, "BLOCK", 2)
    base = np.ones((4, 6), dtype=np.float32)
    params = {"W": base[:, ::2]}  # a strided view: no flat view of it exists
    Adam(lr=0.1).step(params, {"W": np.ones((4, 3), dtype=np.float32)}, threads=2)
    assert np.all(base[:, ::2] < 1) and np.all(base[:, 1::2] == 1)
