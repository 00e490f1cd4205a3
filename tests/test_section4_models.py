"""Section 4 models, weights and the training loop, in process with tiny tensors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("torch_one_thread")

from dlproj.build import build  # noqa: E402
from dlproj.config.compose import compose_config  # noqa: E402
from dlproj.data.images import TensorBatches, random_affine, select  # noqa: E402
from dlproj.errors import DataError  # noqa: E402
from dlproj.experiments.section4 import TRANSFER_KEYS  # noqa: E402
from dlproj.torchnets import checkpoint as ckpt  # noqa: E402
from dlproj.torchnets.gradflow import grad_norms, main_path_weights  # noqa: E402
from dlproj.torchnets.models import Block, freeze, stage_sizes  # noqa: E402
from dlproj.torchnets.optim import torch_twin  # noqa: E402
from dlproj.training.context import RunContext  # noqa: E402
from dlproj.training.loop import Evaluation  # noqa: E402
from dlproj.training.torch_stack import evaluate, fit  # noqa: E402


def make_cfg(*overrides: str):
    """Section 4's config with `overrides`, composed as on the command line."""
    return compose_config(["section=4", *overrides])


def model_of(cfg, num_classes: int = 3, channels: int = 1):
    """The network `cfg.model` names, built as Section 4 builds it."""
    return build(cfg.model, skip=TRANSFER_KEYS)(num_classes=num_classes, in_channels=channels,
                                                image_size=16)


def optimizer_of(cfg, params):
    """The explicit update on tensors for `cfg.optimizer`, as Section 4 builds it."""
    return build(cfg.optimizer, _target_=torch_twin(cfg.optimizer._target_))(params)


def tiny(name: str, depth: int = 3):
    sizes = [] if name == "resnet18" else [f"model.depth={depth}", "model.width=4"]
    channels = 3 if name == "resnet18" else 1
    return model_of(make_cfg(f"model={name}", *sizes), channels=channels), channels


@pytest.mark.parametrize("name", ["plain", "resnet", "resnet18"])
def test_shapes_and_a_few_steps_lower_the_loss(name):
    torch.manual_seed(0)
    model, c = tiny(name)
    x, y = torch.randn(12, c, 16, 16), torch.arange(12) % 3
    assert model(x).shape == (12, 3)
    opt = optimizer_of(make_cfg("optimizer.lr=0.01"), model.parameters())
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_plain_and_resnet_differ_only_in_shortcuts():
    plain, _ = tiny("plain", depth=4)
    res, _ = tiny("resnet", depth=4)
    assert stage_sizes(4) == [2, 1, 1] and stage_sizes(8) == [3, 3, 2]
    plain_names = [n for n, _ in main_path_weights(plain)]
    assert plain_names == [n for n, _ in main_path_weights(res)]
    assert len(plain_names) == 2 * 4 + 2  # stem, two convs per block, head
    extra = set(res.state_dict()) - set(plain.state_dict())
    assert extra and all(".shortcut." in k for k in extra)
    # An identity block adds its input: with the convs zeroed the block is relu(x).
    block = Block(4, 4, 1, residual=True)
    torch.nn.init.zeros_(block.conv2.weight)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block.eval()(x), torch.relu(x))


def test_gradient_norms_per_layer():
    model, c = tiny("resnet")
    layers = main_path_weights(model)
    model(torch.randn(4, c, 16, 16)).sum().backward()
    norms = grad_norms(layers)
    assert list(norms) == [n for n, _ in layers]
    assert norms["head"] == pytest.approx(model.head.weight.grad.norm().item())


def test_frozen_backbone_stays_bit_identical(tmp_path):
    torch.manual_seed(0)
    cfg = make_cfg("experiment=transfer", "model.finetune=frozen", "train.epochs=2",
                   "optimizer.lr=0.05")
    model, _ = tiny("resnet18")
    frozen = freeze(model, "frozen")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = TensorBatches(torch.randn(16, 3, 16, 16), torch.arange(16) % 3, 8, shuffle=True)
    ctx = RunContext(cfg, tmp_path)
    fit(ctx, model, data, optimizer_of(cfg, model.parameters()),
        Evaluation(lambda: evaluate(model, data, torch.device("cpu"), "val"),
                   ("val_loss", "val_acc")), device=torch.device("cpu"),
        frozen=frozen)
    after = model.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["fc.bias", "fc.weight"]  # BN running statistics included
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith(
        "epoch,lr,train_loss,train_acc,val_loss,val_acc,epoch_seconds")


def test_layer4_trains_layer4_and_head_only():
    model, _ = tiny("resnet18")
    freeze(model, "layer4")
    trainable = {k.split(".")[0] for k, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}


def test_weights_from_a_checkpoint_path(tmp_path):
    torch.manual_seed(1)
    source, _ = tiny("resnet")
    path = ckpt.save_state_dict(tmp_path / "model.pt", source)
    state = torch.load(path, weights_only=True)
    assert set(state) == set(source.state_dict())
    torch.manual_seed(2)
    target = model_of(make_cfg("model=resnet", "model.depth=3", "model.width=4"), num_classes=5)
    ckpt.initial_weights(target, str(path), download=False)
    for k, v in target.state_dict().items():
        if k.startswith("head."):
            assert v.shape[0] == 5  # a new head for the new classes
        else:
            assert torch.equal(v, source.state_dict()[k]), k


def test_weights_errors(tmp_path, monkeypatch):
    model, _ = tiny("resnet")
    with pytest.raises(DataError, match="does not exist"):
        ckpt.initial_weights(model, str(tmp_path / "nope.pt"), download=False)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="Cannot read weights"):
        ckpt.initial_weights(model, str(tmp_path / "junk.pt"), download=False)
    other, _ = tiny("resnet", depth=5)
    ckpt.save_state_dict(tmp_path / "other.pt", other)
    with pytest.raises(DataError, match="do not fit"):
        ckpt.initial_weights(model, str(tmp_path / "other.pt"), download=False)
    # ImageNet weights: neither in the hub cache nor downloadable.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    r18, _ = tiny("resnet18")
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(DataError, match="model.weights=PATH") as err:
        ckpt.initial_weights(r18, "imagenet", download=False)
    assert str(expected) in str(err.value)

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(DataError, match="Could not download") as err:
        ckpt.initial_weights(r18, "imagenet", download=True)
    assert str(expected) in str(err.value)


def test_imagenet_weights_read_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(3)
    donor, _ = tiny("resnet18")
    path = ckpt.save_state_dict(ckpt.imagenet_resnet18_file(), donor)  # stands in for the file
    model, _ = tiny("resnet18")
    with pytest.raises(DataError, match="corrupt or was replaced"):  # its hash is not f37072fd
        ckpt.initial_weights(model, "imagenet", download=False)
    monkeypatch.setattr(ckpt, "RESNET18_HASH_PREFIX", _sha256(path)[:8])
    assert ckpt.initial_weights(model, "imagenet", download=False).startswith("ImageNet")
    torch.testing.assert_close(model.conv1.weight, donor.conv1.weight, rtol=0, atol=0)


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imagenet_download_is_hash_checked_before_use(tmp_path, monkeypatch):
    """torch.hub's download with the file name's hash prefix: a replaced file is refused and
    not left in the cache; the right one is loaded with weights_only=True."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    torch.manual_seed(4)
    donor, _ = tiny("resnet18")
    served = ckpt.save_state_dict(tmp_path / "served.pth", donor)
    monkeypatch.setattr(ckpt, "resnet18_url", lambda: served.as_uri())
    model, _ = tiny("resnet18")
    with pytest.raises(DataError, match="Could not download"):
        ckpt.initial_weights(model, "imagenet", download=True)
    assert not ckpt.imagenet_resnet18_file().exists()
    monkeypatch.setattr(ckpt, "RESNET18_HASH_PREFIX", _sha256(served)[:8])
    assert ckpt.initial_weights(model, "imagenet", download=True).startswith("ImageNet")
    torch.testing.assert_close(model.conv1.weight, donor.conv1.weight, rtol=0, atol=0)
    assert ckpt.imagenet_resnet18_file().is_file()


def test_select_classes_and_labels_per_class():
    labels = [5, 0, 6, 5, 9, 6, 5, 0]
    idx, new = select(labels, [5, 6], 2, seed=0)
    assert list(new).count(0) == 2 and list(new).count(1) == 2
    assert all(labels[i] == [5, 6][n] for i, n in zip(idx, new, strict=True))
    assert list(idx) == sorted(idx)


def test_random_affine_is_seeded_and_differs_per_image():
    x = torch.randn(4, 1, 12, 12).repeat(2, 1, 1, 1)
    a = random_affine(x, torch.Generator().manual_seed(0))
    b = random_affine(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.allclose(a[:4], a[4:])  # same images, different warps


def test_device_choice():
    from dlproj.errors import ConfigError
    from dlproj.training.torch_stack import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'device'"):
            resolve_device("cuda")


# model.weights=PATH, relative: taken from the project root, as data.root is, whatever the
# working directory (which here holds a decoy of the same relative path, pretrained on other
# data). Each: PATH as typed, relative to the project root.
RELATIVE = ["run/model.pt", "./run/model.pt", "other/../run/model.pt", "run//model.pt"]


@pytest.mark.parametrize("typed", RELATIVE)
def test_relative_weights_are_taken_from_the_project_root(typed, tmp_path, monkeypatch):
    import json

    from dlproj import paths
    from dlproj.config.models import _transfer
    from dlproj.experiments.section4 import origin, pretrained_on

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    saved = {}
    for where, seed, classes in ((project, 1, [0, 1, 2, 3, 4]), (elsewhere, 2, [5, 6, 7, 8, 9])):
        torch.manual_seed(seed)
        source, _ = tiny("resnet")
        saved[where] = source.state_dict()
        ckpt.save_state_dict(where / "run" / "model.pt", source)
        (where / "run" / "results.json").write_text(json.dumps({"config": {"dataset": {
            "name": "mnist", "classes": classes, "per_class": None}}}))
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    monkeypatch.chdir(elsewhere)
    cfg = make_cfg("model=resnet", "model.depth=3", "model.width=4", f"model.weights={typed}",
                   "model.finetune=layer4")
    _transfer(cfg.model, cfg)  # the config check finds it
    target = model_of(cfg)
    resolved = str((project / "run" / "model.pt").resolve())
    assert ckpt.initial_weights(target, typed, download=False) == resolved
    for k, v in target.state_dict().items():
        if not k.startswith("head."):
            assert torch.equal(v, saved[project][k]), k  # not the decoy's
    assert pretrained_on(typed) == "MNIST digits 0-4"
    assert origin(typed) == {"weights": resolved, "pretrained_on": "MNIST digits 0-4"}


# A weights file gone between the config check and the load: the message shows the path as it
# was typed and where it was looked for.
@pytest.mark.parametrize("typed,where", [
    ("gone/model.pt", lambda home, root: root / "gone" / "model.pt"),
    ("./gone.pt", lambda home, root: root / "gone.pt"),
    ("~/gone/model.pt", lambda home, root: home / "gone" / "model.pt"),
])
def test_missing_weights_name_the_path_typed_and_resolved(typed, where, tmp_path, monkeypatch):
    from dlproj import paths

    home, root = tmp_path / "home", tmp_path / "project"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    monkeypatch.chdir(tmp_path)
    model, _ = tiny("resnet")
    with pytest.raises(DataError) as err:
        ckpt.initial_weights(model, typed, download=False)
    message = str(err.value)
    assert f"Weights file {typed!r} (resolved: {where(home, root)})" in message, message
    assert "from the project root" in message and "\n" not in message, message
