"""One registry per config group: each choice's name, its builders and the checks on its keys.

`optimizer.name=adam` is looked up in OPTIMIZER, `schedule.name` in SCHEDULE, `pooling.name` in
POOLING, `dataset.name` in DATASET, the model config in MODEL (by its kind: `mlp`, `cnn`, or the
torch architecture `plain`, `resnet`, `resnet18`). Adding an optimizer, schedule or model is one
entry here plus its code. Builders are named as "module:function" and imported when first used,
so that validating a config (and sections 1-3) never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from dlproj.config import memory
from dlproj.config.checks import (
    check,
    check_choice,
    fail,
    file_exists,
    in_unit,
    int_list,
    is_int,
    is_number,
    plain,
    positive,
    positive_int,
)
from dlproj.errors import ConfigError

Check = Callable[[DictConfig, DictConfig], None]  # (the group's node, the whole config)


@dataclass(frozen=True)
class Choice:
    name: str
    builders: dict[str, str] = field(default_factory=dict)  # framework -> "module:function"
    check: Check | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Group:
    """The choices of one config group under `key` (e.g. `optimizer.name`)."""

    def __init__(self, key: str):
        self.key = key
        self.choices: dict[str, Choice] = {}

    def add(self, name: str, *, check: Check | None = None, info: dict[str, Any] | None = None,
            **builders: str) -> None:
        self.choices[name] = Choice(name, builders, check, info or {})

    def names(self) -> list[str]:
        return sorted(self.choices)

    def get(self, name: str) -> Choice:
        check_choice(self.key, name, self.choices)
        return self.choices[name]

    def validate(self, node: DictConfig, cfg: DictConfig, name: str | None = None) -> None:
        choice = self.get(node.name if name is None else name)
        if choice.check is not None:
            choice.check(node, cfg)

    def builder(self, name: str, framework: str = "numpy") -> Callable[..., Any]:
        target = self.get(name).builders.get(framework)
        if target is None:
            raise ConfigError(f"Invalid value for '{self.key}': {name!r} has no {framework} "
                              f"implementation. Allowed with {framework}: " + ", ".join(
                                  n for n, c in sorted(self.choices.items())
                                  if framework in c.builders) + ".")
        module, fn = target.split(":")
        return getattr(importlib.import_module(module), fn)


# -- optimizer ---------------------------------------------------------------------------------

def _optimizer(node: DictConfig, cfg: DictConfig) -> None:
    positive("optimizer.lr", node.lr)
    in_unit("optimizer.momentum", node.momentum)
    in_unit("optimizer.alpha", node.alpha)
    in_unit("optimizer.beta1", node.beta1)
    in_unit("optimizer.beta2", node.beta2)
    positive("optimizer.eps", node.eps)
    check(is_number(node.weight_decay) and node.weight_decay >= 0, "optimizer.weight_decay",
          node.weight_decay, "a number >= 0")
    if node.nesterov and not (node.name in ("sgd", "momentum") and node.momentum > 0):
        raise ConfigError(
            f"Invalid value for 'optimizer.nesterov': True with optimizer.name={node.name!r} and "
            f"optimizer.momentum={node.momentum}. Allowed: Nesterov needs SGD with momentum > 0, "
            f"e.g. `python -m dlproj optimizer=momentum optimizer.nesterov=true`.")


def _momentum(node: DictConfig, cfg: DictConfig) -> None:
    _optimizer(node, cfg)
    if not node.momentum > 0:
        raise ConfigError(
            f"Invalid value for 'optimizer.momentum': {node.momentum} with optimizer=momentum. "
            f"Allowed: a number in (0, 1), e.g. `optimizer.momentum=0.9`; plain SGD is "
            f"`optimizer=sgd`.")


OPTIMIZER = Group("optimizer.name")
_OPT = "dlproj.optim.optimizers"
_TOPT = "dlproj.torchnets.optim"
OPTIMIZER.add("sgd", check=_optimizer, numpy=f"{_OPT}:sgd", torch=f"{_TOPT}:sgd")
OPTIMIZER.add("momentum", check=_momentum, numpy=f"{_OPT}:sgd", torch=f"{_TOPT}:sgd")
OPTIMIZER.add("rmsprop", check=_optimizer, numpy=f"{_OPT}:rmsprop", torch=f"{_TOPT}:rmsprop")
OPTIMIZER.add("adam", check=_optimizer, numpy=f"{_OPT}:adam", torch=f"{_TOPT}:adam")
OPTIMIZER.add("adamw", check=_optimizer, numpy=f"{_OPT}:adamw", torch=f"{_TOPT}:adamw")


# -- schedule ----------------------------------------------------------------------------------

def _schedule(node: DictConfig, cfg: DictConfig) -> None:
    positive_int("schedule.step_size", node.step_size)
    check(is_number(node.gamma) and 0 < node.gamma <= 1, "schedule.gamma", node.gamma,
          "a number in (0, 1]")
    check(is_int(node.warmup_epochs) and node.warmup_epochs >= 0, "schedule.warmup_epochs",
          node.warmup_epochs, "an integer >= 0")
    check(node.warmup_epochs < cfg.train.epochs or node.warmup_epochs == 0,
          "schedule.warmup_epochs", node.warmup_epochs,
          f"fewer than train.epochs={cfg.train.epochs} (the run would end inside the warm-up)")
    check(is_number(node.min_lr) and node.min_lr >= 0, "schedule.min_lr", node.min_lr,
          "a number >= 0")


def _cosine(node: DictConfig, cfg: DictConfig) -> None:
    _schedule(node, cfg)
    check(node.min_lr < cfg.optimizer.lr, "schedule.min_lr", node.min_lr,
          f"a number in [0, optimizer.lr={cfg.optimizer.lr}): the cosine falls from "
          f"optimizer.lr to min_lr, a higher min_lr would make the rate climb")


SCHEDULE = Group("schedule.name")
_SCH = "dlproj.optim.schedules"
SCHEDULE.add("constant", check=_schedule, numpy=f"{_SCH}:constant")
SCHEDULE.add("step", check=_schedule, numpy=f"{_SCH}:step")
SCHEDULE.add("exponential", check=_schedule, numpy=f"{_SCH}:exponential")
SCHEDULE.add("cosine", check=_cosine, numpy=f"{_SCH}:cosine")


# -- pooling, augmentation ---------------------------------------------------------------------

POOLING = Group("pooling.name")
POOLING.add("max", numpy="dlproj.nn.pooling:MaxPool2d")
POOLING.add("avg", numpy="dlproj.nn.pooling:AvgPool2d")

AUGMENTATION = Group("augmentation.name")
AUGMENTATION.add("none")
AUGMENTATION.add("standard")


# -- dataset (Section 4) -----------------------------------------------------------------------

NUM_CLASSES = {"mnist": 10, "pets": 2}


def _dataset(node: DictConfig, cfg: DictConfig) -> None:
    check(is_int(node.image_size) and node.image_size >= 8, "dataset.image_size",
          node.image_size, "an integer >= 8")
    if node.classes is not None:
        classes = plain(node.classes)
        n = NUM_CLASSES[node.name]
        check(len(classes) >= 2 and len(set(classes)) == len(classes)
              and all(is_int(c) and 0 <= c < n for c in classes), "dataset.classes", classes,
              f"null (all) or at least two distinct labels in 0..{n - 1}")
    check(node.per_class is None or (is_int(node.per_class) and node.per_class >= 1),
          "dataset.per_class", node.per_class, "null (all) or an integer >= 1")
    check(is_int(node.num_workers) and node.num_workers >= 0, "dataset.num_workers",
          node.num_workers, "an integer >= 0")


DATASET = Group("dataset.name")
DATASET.add("mnist", check=_dataset, torch="dlproj.torchnets.data:mnist_images")
DATASET.add("pets", check=_dataset, torch="dlproj.torchnets.data:pets_images")


# -- model -------------------------------------------------------------------------------------

FINETUNE = ("frozen", "layer4", "all")
INITS = ("auto", "he", "xavier")  # as dlproj.nn.init.INITS
ACTIVATIONS = ("leaky_relu", "relu", "sigmoid", "tanh")  # as dlproj.nn.activations.ACTIVATIONS
CNN_IMAGE_SIZE = 28


def model_kind(node: DictConfig) -> str:
    """`mlp` or `cnn` for the NumPy schemas (their `name` is only a label), else the torch
    architecture that `model.name` names."""
    if "hidden" in node:
        return "mlp"
    if "channels" in node:
        return "cnn"
    return str(node.get("name"))


def _mlp(node: DictConfig, cfg: DictConfig) -> None:
    int_list("model.hidden", node.hidden, allow_empty=True, example="[256] or [512,256]")
    check_choice("model.activation", node.activation, ACTIVATIONS)
    check_choice("model.init", node.init, INITS)


def _cnn(node: DictConfig, cfg: DictConfig) -> None:
    channels = int_list("model.channels", node.channels, allow_empty=False, example="[8,16]")
    positive_int("model.kernel_size", node.kernel_size)
    check(is_int(node.padding) and 0 <= node.padding <= node.kernel_size // 2, "model.padding",
          node.padding, f"an integer in [0, kernel_size // 2 = {node.kernel_size // 2}]")
    check(is_int(node.fc_hidden) and node.fc_hidden >= 0, "model.fc_hidden", node.fc_hidden,
          "0 (no hidden layer) or an integer >= 1")
    size = CNN_IMAGE_SIZE
    for _ in channels:
        size = (size + 2 * node.padding - node.kernel_size + 1) // 2
    check(size >= 1, "model.channels", channels,
          f"at most as many blocks as a {CNN_IMAGE_SIZE}x{CNN_IMAGE_SIZE} image survives (each "
          f"block halves it)")


def _torch_model(node: DictConfig, cfg: DictConfig) -> None:
    positive_int("model.depth", node.depth)
    positive_int("model.width", node.width)
    check_choice("model.finetune", node.finetune, FINETUNE)
    check(node.num_classes is None or (is_int(node.num_classes) and node.num_classes >= 2),
          "model.num_classes", node.num_classes, "null (the dataset's) or an integer >= 2")
    check(node.weights != "imagenet" or node.name == "resnet18", "model.weights", node.weights,
          "imagenet only with model=resnet18; none or the path of a model.pt for "
          f"model={node.name}")
    check(node.finetune == "all" or node.weights != "none", "model.finetune", node.finetune,
          "all when model.weights=none (a frozen random backbone learns nothing); frozen and "
          "layer4 with model.weights=imagenet or PATH")
    if node.weights not in ("none", "imagenet"):
        check(file_exists(node.weights), "model.weights", node.weights,
              "none, imagenet (resnet18), or the path of an existing model.pt written by a "
              "Section 4 run")


# `size` counts parameters and activations for the memory guard (dlproj.config.memory).
MODEL = Group("model")
MODEL.add("mlp", check=_mlp, info={"size": memory.mlp_size},
          numpy="dlproj.nn.mlp:mlp_from_config")
MODEL.add("cnn", check=_cnn, info={"size": memory.cnn_size},
          numpy="dlproj.nn.cnn:build_cnn_from_config")
MODEL.add("plain", check=_torch_model, info={"size": memory.small_net_size},
          torch="dlproj.torchnets.models:small_net")
MODEL.add("resnet", check=_torch_model, info={"size": memory.small_net_size},
          torch="dlproj.torchnets.models:small_net")
MODEL.add("resnet18", check=_torch_model, info={"size": memory.resnet18_size},
          torch="dlproj.torchnets.models:resnet18_from_config")


def validate_model(node: DictConfig, cfg: DictConfig, allowed: tuple[str, ...],
                   experiment: str) -> str:
    """The model's kind, after checking it is one `experiment` takes and its keys are valid."""
    kind = model_kind(node)
    if kind not in allowed:
        fail("model", node.get("name"),
             f"a model experiment={experiment} takes ({' or '.join(allowed)}): "
             + _model_files(allowed))
    MODEL.validate(node, cfg, kind)
    return kind


def _model_files(kinds: tuple[str, ...]) -> str:
    from dlproj import paths

    schemas = {"mlp": "/schema/model/mlp", "cnn": "/schema/model/cnn"}
    files = []
    for f in sorted((paths.CONF_DIR / "model").glob("*.yaml")):
        text = f.read_text()
        for kind in kinds:
            marker = schemas.get(kind, "/schema/model/torch")
            if marker in text and (kind in schemas or f"name: {kind}\n" in text):
                files.append(f"model={f.stem}")
    return ", ".join(dict.fromkeys(files)) or "none under conf/model/"
