"""Section 4's explicit update step against torch.optim: same gradients, same parameters."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("torch_one_thread")

import inspect  # noqa: E402

from hydra.utils import get_class  # noqa: E402

from dlproj.build import build  # noqa: E402
from dlproj.config.compose import compose_config  # noqa: E402
from dlproj.runtime.validate import choices  # noqa: E402
from dlproj.torchnets.optim import torch_twin  # noqa: E402


def explicit(params, keys: dict):
    """The `optimizer=` choice `keys["name"]` with the other keys overridden, built as Section 4
    builds it: the NumPy class's twin on tensors."""
    keys = dict(keys)
    overrides = [f"optimizer={keys.pop('name')}", *(f"optimizer.{k}={v}" for k, v in keys.items())]
    node = compose_config(overrides).optimizer
    return build(node, _target_=torch_twin(node._target_))(params)

CASES = [
    ({"name": "sgd", "lr": 0.1}, lambda ps: torch.optim.SGD(ps, lr=0.1)),
    ({"name": "momentum", "lr": 0.05, "momentum": 0.9},
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    ({"name": "momentum", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ({"name": "rmsprop", "lr": 0.01, "alpha": 0.9, "eps": 1e-6},
     lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6)),
    ({"name": "rmsprop", "lr": 0.01, "momentum": 0.5},
     lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5, eps=1e-8)),
    ({"name": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 1e-3},
     lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-3)),
    ({"name": "adamw", "lr": 0.01, "weight_decay": 0.1},
     lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize(("cfg", "reference"), CASES,
                         ids=[f"{cfg['name']}-{i}" for i, (cfg, _) in enumerate(CASES)])
def test_explicit_update_matches_torch_optim(cfg, reference):
    torch.manual_seed(0)
    ours = [torch.randn(5, 3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)]
    theirs = [p.clone().requires_grad_(True) for p in ours]
    start = [p.clone() for p in ours]
    ours = [p.requires_grad_(True) for p in ours]
    opt = explicit(ours, cfg)
    ref = reference(theirs)
    x = torch.randn(7, 5, dtype=torch.float64)
    for _ in range(6):  # a loss whose gradients change from step to step
        for params, o in ((ours, opt), (theirs, ref)):
            o.zero_grad()
            (torch.tanh(x @ params[0] + params[1]) ** 2).sum().backward()
            o.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(ours[0], start[0])  # the comparison is not of unmoved tensors


def test_explicit_update_skips_frozen_parameters():
    w = torch.ones(3, requires_grad=True)
    frozen = torch.ones(3, requires_grad=False)
    opt = explicit([w, frozen], {"name": "sgd", "lr": 1.0})
    (w * frozen).sum().backward()
    opt.step()
    assert torch.equal(w.detach(), torch.zeros(3)) and torch.equal(frozen, torch.ones(3))
    assert opt.params == [w]


def test_every_numpy_optimizer_has_a_twin_with_the_same_arguments():
    """Each `optimizer=` file names a NumPy class; its twin of the same name takes the same
    keyword arguments, after the parameters."""
    for name, target in choices("optimizer").items():
        numpy_cls, torch_cls = get_class(target), get_class(torch_twin(target))
        assert torch_cls.__name__ == numpy_cls.__name__, name
        ours = list(inspect.signature(numpy_cls).parameters)
        twin = list(inspect.signature(torch_cls).parameters)
        assert twin == ["params", *ours], name
