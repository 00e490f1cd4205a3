"""`.pt` state dicts: written atomically, read with `torch.load(..., weights_only=True)`, and the
starting weights of a transfer (`model.weights=none|imagenet|PATH`)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dlproj.errors import DataError, shape_mismatch
from dlproj.files.atomic import atomic_write
from dlproj.paths import missing, resolve_path
from dlproj.torchnets.models import head_prefix

RESNET18_FILE = "resnet18-f37072fd.pth"  # ResNet18_Weights.IMAGENET1K_V1
# torch.hub's convention: the file name carries the first hex digits of the file's SHA-256.
RESNET18_HASH_PREFIX = RESNET18_FILE.rsplit("-", 1)[1].split(".")[0]


def save_state_dict(path: str | Path, model: nn.Module) -> Path:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda fh: torch.save(state, fh))


def load_state_dict(path: str | Path, *, weights: str | None = None,
                    checkpoint: str | None = None) -> dict[str, torch.Tensor]:
    """A state dict from `path` (tensors only: nothing in the file is executed); `weights` /
    `checkpoint`: the `model.weights` / `checkpoint=` that `path` was resolved from, which a
    missing file's message shows too."""
    path = Path(path)
    if not path.is_file() and checkpoint is not None:
        raise DataError(f"Checkpoint {missing(path, checkpoint, 'checkpoint=')}. Pass "
                        f"`checkpoint=` the model.pt that a Section 4 run wrote in its run "
                        f"directory.")
    if not path.is_file():
        raise DataError(f"Weights file {missing(path, weights, 'model.weights')}. Pass "
                        f"`model.weights=` (or `checkpoint=`) the model.pt that a Section 4 run "
                        f"wrote in its run directory.")
    expected = "Expected the model.pt (a state dict of tensors) that a Section 4 run wrote."
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of many kinds: all mean "not a state dict"
        # torch's own message is not passed on: it advises loading with full unpickling.
        raise DataError(f"Cannot read weights from {path}: it is empty, truncated, not a torch "
                        f"file, or holds Python objects beyond tensors, which dlproj never "
                        f"unpickles ({type(exc).__name__}). {expected}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict) and "meta" in state:
        # last.pt (dlproj.training.torch_stack.TorchStack.write): weights, moments, RNG states
        raise DataError(f"{path} is a run's resume checkpoint (last.pt), not its weights. Pass "
                        f"the model.pt beside it (written when the run completed), or continue "
                        f"that run with `python -m dlproj resume={path.parent}`.")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise DataError(f"{path} holds no state dict (a mapping of names to tensors). "
                        f"{expected}")
    return state


def load_model(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path,
               data_classes: int | None = None) -> None:
    """Load a whole state dict (`checkpoint=`); a DataError naming what differs if it does not
    fit, instead of load_state_dict's RuntimeError: for a head of another number of outputs,
    the model.num_classes (more) or dataset.classes (fewer) that evaluates it; a head this
    config made larger than its data's `data_classes` (model.num_classes) is named as such."""
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    detail = shape_mismatch(own, given)
    if not detail:
        model.load_state_dict(state)
        return
    name = model.__class__.__name__
    head = head_prefix(model)
    outputs, classes = head_outputs(own, given, head), head_outputs(own, own, head)
    if outputs is not None and outputs > classes:
        raise DataError(
            f"Checkpoint {source} has a head of {outputs} outputs, the {name} of this config "
            f"{classes}, one per class of its data: a model.pt written with a larger head "
            f"(model.num_classes={outputs}, allowed for training until 2026-12-07). Evaluate it "
            f"with its own head: `model.num_classes={outputs}` beside checkpoint= (its "
            f"outputs beyond the data's {classes} classes are classes no image has).")
    if outputs is not None and data_classes is not None and data_classes <= outputs < classes:
        raise DataError(  # the data has no more classes than the file's head: the key is at fault
            f"Checkpoint {source} has a head of {outputs} outputs, and this config's {name} "
            f"{classes} (model.num_classes={classes}) for data of {data_classes} classes. "
            f"Allowed: model.num_classes={outputs}"
            + (" or null (one output per class of the data)" if outputs == data_classes else "")
            + " beside checkpoint=.")
    if outputs is not None:
        raise DataError(
            f"Checkpoint {source} has a head of {outputs} outputs, fewer than the {classes} "
            f"classes of this config's data: it was trained on {outputs} classes. Evaluate it on "
            f"those: dataset.classes=[...] with the {outputs} labels its run kept (its "
            f"results.json's config), in the same order.")
    raise DataError(f"Checkpoint {source} does not fit the {name} of this config ({detail}). "
                    f"Use the same model, model.depth, model.width and dataset (classes) as the "
                    f"run that wrote it.")


def head_outputs(own: dict[str, tuple[int, ...]], shapes: dict[str, tuple[int, ...]],
                 head: str) -> int | None:
    """How many outputs the classifier (the names starting with `head`) of `shapes` (a state
    dict's names and shapes) has, where that is all that differs from the model's `own`; else
    None."""
    if own.keys() != shapes.keys() or any(own[k] != shapes[k] for k in own
                                          if not k.startswith(head)):
        return None
    sizes = {shapes[k][0] for k in own if k.startswith(head)}
    return sizes.pop() if len(sizes) == 1 else None


def imagenet_resnet18_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE


def imagenet_resnet18_state(download: bool) -> dict[str, torch.Tensor]:
    """ResNet18_Weights.IMAGENET1K_V1: from torch's hub cache, else downloaded when allowed."""
    from torchvision.models import ResNet18_Weights

    cached = imagenet_resnet18_file()
    if cached.is_file():
        verify_hash_prefix(cached, RESNET18_HASH_PREFIX)
        return load_state_dict(cached)
    how = (f"Put {RESNET18_FILE} (from {ResNet18_Weights.IMAGENET1K_V1.url}) at {cached} "
           f"(the folder follows $TORCH_HOME), or train without ImageNet: model.weights=none, "
           f"or model.weights=PATH with a model.pt of your own run (docs/section4.md: pretrain "
           f"on MNIST digits 0-4, transfer to 5-9).")
    if not download:
        raise DataError(f"ImageNet ResNet18 weights are not in {cached} and data.download is "
                        f"false. {how}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Into a temporary file, SHA-256 checked against the name's prefix, then moved into
        # place: a replaced or truncated download is refused before anything reads it.
        torch.hub.download_url_to_file(resnet18_url(), str(cached),
                                       hash_prefix=RESNET18_HASH_PREFIX, progress=False)
    except Exception as exc:  # URLError, socket timeouts, a hash mismatch
        raise DataError(f"Could not download the ImageNet ResNet18 weights "
                        f"({type(exc).__name__}: {str(exc)[:200]}). {how}") from None
    return load_state_dict(cached)


def resnet18_url() -> str:
    from torchvision.models import ResNet18_Weights

    return ResNet18_Weights.IMAGENET1K_V1.url


def verify_hash_prefix(path: Path, prefix: str) -> None:
    """DataError unless the SHA-256 of `path` starts with `prefix` (torch.hub's check)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if not h.hexdigest().startswith(prefix):
        raise DataError(f"{path} has SHA-256 {h.hexdigest()[:16]}..., not the {prefix}... its "
                        f"name promises: it is corrupt or was replaced. Delete it and run again "
                        f"with data.download=true, or use model.weights=none or PATH.")


SAME_NETWORK = "Use weights that a run of this same network wrote (its model.pt)."


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], source: str, *,
                  network: str = "network", fix: str = SAME_NETWORK) -> list[str]:
    """Copy every tensor of `state` but the classifier into `model`; returns the copied names.

    The head is always new (its classes differ); any other name or shape that does not match the
    model is a DataError naming the `network` and how to `fix` it (the caller's words: which
    keys size it), so a checkpoint of another architecture is never half-loaded."""
    head = head_prefix(model)
    own = model.state_dict()
    wanted = {k for k in own if not k.startswith(head)}
    given = {k: v for k, v in state.items() if not k.startswith(head) and not k.startswith("fc.")
             and not k.startswith("head.")}
    detail = shape_mismatch({k: tuple(own[k].shape) for k in wanted},
                            {k: tuple(v.shape) for k, v in given.items()})
    if detail:
        raise DataError(f"Weights from {source} do not fit the {network} of this config "
                        f"({detail}). {fix}")
    with torch.no_grad():
        for k in wanted:
            own[k].copy_(given[k])
    return sorted(wanted)


def weights_source(weights: str) -> str:
    """What `model.weights` (none | imagenet | PATH) starts a network from, in words; a PATH as
    the absolute path of the file (resolve_path: a relative one from the project root)."""
    named = {"none": "random init", "imagenet": "ImageNet IMAGENET1K_V1"}
    return named[weights] if weights in named else str(resolve_path(weights))


def initial_weights(model: nn.Module, weights: str, *, download: bool, network: str = "network",
                    fix: str = SAME_NETWORK) -> str:
    """Load `model.weights` (none | imagenet | PATH) into `model`'s backbone; says what it did.
    `network` and `fix`: load_backbone's words for weights that do not fit."""
    if weights == "imagenet":
        load_backbone(model, imagenet_resnet18_state(download), "ImageNet (IMAGENET1K_V1)",
                      network=network, fix=fix)
    elif weights != "none":
        path = weights_source(weights)
        load_backbone(model, load_state_dict(path, weights=weights), path, network=network,
                      fix=fix)
    return weights_source(weights)
