"""The `model=` group: one schema per kind of network, its range rules beside it. A choice's
file (conf/model/mlp_small.yaml) starts from its schema and names what it builds (`_target_`), by
which dlproj.experiments.footprint counts its memory for the guard (dlproj.runtime.memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig

from dlproj.config.checks import Built, check, check_choice, file_exists, int_list, integer, is_int
from dlproj.data.mnist import SIDE
from dlproj.nn.activations import ACTIVATIONS
from dlproj.nn.init import INITS
from dlproj.nn.two_layer import ACTIVATIONS as TWO_LAYER_ACTIVATIONS

FINETUNE = ("frozen", "layer4", "all")  # what trains: the head, the last stage + head, all


@dataclass
class MLPConfig(Built):
    """NumPy multilayer perceptron (Section 1): Linear -> activation, repeated, then the head."""

    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    activation: str = "relu"
    init: str = "auto"

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        int_list("model.hidden", node.hidden, allow_empty=True, example="[256] or [512,256]")
        check_choice("model.activation", node.activation, ACTIVATIONS)
        check_choice("model.init", node.init, INITS)


@dataclass
class TwoLayerConfig(MLPConfig):
    """Section 2's 2-layer net, backward derived by hand: one hidden width, three activations
    (otherwise an MLP's keys)."""

    name: str = "two_layer"
    hidden: list[int] = field(default_factory=lambda: [512])

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        hidden = int_list("model.hidden", node.hidden, allow_empty=False, example="[256]")
        check(len(hidden) == 1, "model.hidden", hidden,
              "exactly one hidden width for Section 2's 2-layer net, e.g. `model.hidden=[256]`")
        check_choice("model.activation", node.activation, TWO_LAYER_ACTIVATIONS)
        check_choice("model.init", node.init, INITS)


@dataclass
class CNNConfig(Built):
    """NumPy CNN (Section 3): conv3x3 -> ReLU -> pool per entry of `channels`, then fc."""

    name: str = "cnn_small"
    channels: list[int] = field(default_factory=lambda: [8, 16])
    kernel_size: int = 3
    padding: int = 1
    fc_hidden: int = 0

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        channels = int_list("model.channels", node.channels, allow_empty=False,
                            example="[8,16]")
        integer("model.kernel_size", node.kernel_size)
        check(is_int(node.padding) and 0 <= node.padding <= node.kernel_size // 2,
              "model.padding", node.padding,
              f"an integer in [0, kernel_size // 2 = {node.kernel_size // 2}]")
        check(is_int(node.fc_hidden) and node.fc_hidden >= 0, "model.fc_hidden", node.fc_hidden,
              "0 (no hidden layer) or an integer >= 1")
        size = SIDE
        for _ in channels:
            size = (size + 2 * node.padding - node.kernel_size + 1) // 2
        check(size >= 1, "model.channels", channels,
              f"at most as many blocks as a {SIDE}x{SIDE} image survives "
              f"(each block halves it)")


def _transfer(node: DictConfig, cfg: DictConfig) -> None:
    """The keys every Section 4 network has: what trains, the head, the starting weights."""
    check_choice("model.finetune", node.finetune, FINETUNE)
    integer("model.num_classes", node.num_classes, 2, null="the dataset's")
    check(node.finetune == "all" or node.weights != "none", "model.finetune", node.finetune,
          "all when model.weights=none (a frozen random backbone learns nothing); frozen and "
          "layer4 with model.weights=imagenet or PATH")
    if node.weights not in ("none", "imagenet"):
        check(file_exists(node.weights), "model.weights", node.weights,
              "none, imagenet (resnet18), or the path of an existing model.pt written by a "
              "Section 4 run")


@dataclass
class SmallNetConfig(Built):
    """PlainNet (model=plain) or SmallResNet (model=resnet) of `depth` blocks and `width`."""

    name: str = "resnet"
    depth: int = 8
    width: int = 16
    weights: str = "none"
    finetune: str = "all"
    num_classes: int | None = None
    # Weights and batches in channels-last (NHWC) memory: faster convolutions on the CPU (`make
    # bench`), the same training to float round-off, though a coarser one than torch's default
    # layout (tests/test_section4_fast_path.py); false: torch's default layout.
    channels_last: bool = True

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        integer("model.depth", node.depth)
        integer("model.width", node.width)
        check(node.weights != "imagenet", "model.weights", node.weights,
              f"imagenet only with model=resnet18; none or the path of a model.pt for "
              f"model={node.name}")
        _transfer(node, cfg)


@dataclass
class ResNet18Config(Built):
    """torchvision's ResNet18 with a new head; weights none, imagenet or a model.pt."""

    name: str = "resnet18"
    weights: str = "imagenet"
    finetune: str = "layer4"
    num_classes: int | None = None
    channels_last: bool = True  # as SmallNetConfig's

    check = staticmethod(_transfer)
