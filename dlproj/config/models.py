"""The `model=` group: one schema per kind of network, its range rules beside it. A choice's
file (conf/model/mlp_small.yaml) starts from its schema and names what it builds (`_target_`), by
which dlproj.experiments.footprint counts its memory for the guard (dlproj.runtime.memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from dlproj.config.checks import Built, Rule, config_file, int_list, integer, one_of, ruled, text
from dlproj.config.images import DATASET_LABELS
from dlproj.data.mnist import SIDE
from dlproj.errors import check
from dlproj.nn.activations import ACTIVATIONS
from dlproj.nn.conv import ALGORITHMS as CONV_ALGORITHMS
from dlproj.nn.init import INITS
from dlproj.nn.two_layer import ACTIVATIONS as TWO_LAYER_ACTIVATIONS

FINETUNE = ("frozen", "layer4", "all")  # what trains: the head, the last stage + head, all
WEIGHTS_SUFFIXES = (".pt", ".pth")  # model.weights=PATH: torch's state dicts
WEIGHTS_ALLOWED = ("none, imagenet (resnet18), or the path of an existing model.pt written by a "
                   "Section 4 run (a relative one is taken from the project root, as data.root "
                   "is)")
WEIGHTS = text(WEIGHTS_ALLOWED)  # '' names no file; the file itself: _transfer
NUM_CLASSES = integer(2, null="the dataset's")


@dataclass
class MLPConfig(Built):
    """NumPy multilayer perceptron (Section 1): Linear -> activation, repeated, then the head."""

    name: str = "mlp"
    hidden: list[int] = ruled([512, 256], int_list(allow_empty=True,
                                                   example="[256] or [512,256]"))
    activation: str = ruled("relu", one_of(ACTIVATIONS))
    init: str = ruled("auto", one_of(INITS))


@dataclass
class TwoLayerConfig(MLPConfig):
    """Section 2's 2-layer net, backward derived by hand: one hidden width, three activations
    (otherwise an MLP's keys)."""

    name: str = "two_layer"
    hidden: list[int] = ruled([512], Rule(lambda v: len(v) == 1 and v[0] >= 1,
                                          "exactly one hidden width (an integer >= 1) for "
                                          "Section 2's 2-layer net, e.g. `model.hidden=[256]`"))
    activation: str = ruled("relu", one_of(TWO_LAYER_ACTIVATIONS))


@dataclass
class CNNConfig(Built):
    """NumPy CNN (Section 3): conv3x3 -> ReLU -> pool per entry of `channels`, then fc."""

    name: str = "cnn_small"
    channels: list[int] = ruled([8, 16], int_list(allow_empty=False, example="[8,16]"))
    kernel_size: int = ruled(3, integer())
    padding: int = 1
    fc_hidden: int = ruled(0, integer(0, allowed="0 (no hidden layer) or an integer >= 1"))
    # How each convolution computes (dlproj.nn.conv): the same numbers to float round-off.
    conv_algorithm: str = ruled("auto", one_of(CONV_ALGORITHMS))

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        check(node.conv_algorithm != "winograd" or node.kernel_size == 3, "model.conv_algorithm",
              node.conv_algorithm, f"auto or im2col for kernel_size={node.kernel_size} "
              "(winograd computes 3x3 kernels only)")
        half = node.kernel_size // 2
        integer(0, half, allowed=f"an integer in [0, kernel_size // 2 = {half}]")(
            "model.padding", node.padding)
        # the first block's convolution must leave its pool 2x2 of the padded image at least
        room = SIDE + 2 * node.padding - 1
        check(node.kernel_size <= room, "model.kernel_size", node.kernel_size,
              f"an integer in [1, {room}] (the first block's convolution leaves its pool at "
              f"least 2x2 of the {SIDE}x{SIDE} image with padding {node.padding})")
        size, blocks = SIDE, 0
        while blocks < len(node.channels) and (
                size := (size + 2 * node.padding - node.kernel_size + 1) // 2) >= 1:
            blocks += 1
        check(blocks == len(node.channels), "model.channels", node.channels,
              f"at most {blocks} block(s), as many as a {SIDE}x{SIDE} image survives with "
              f"model.kernel_size={node.kernel_size} and model.padding={node.padding} (each "
              f"block halves it), or a smaller kernel")


def _transfer(node: DictConfig, cfg: DictConfig) -> None:
    """The rules between the keys every Section 4 network has: what trains, the starting
    weights."""
    check(node.finetune == "all" or node.weights != "none", "model.finetune", node.finetune,
          "all when model.weights=none (a frozen random backbone learns nothing); frozen and "
          "layer4 with model.weights=imagenet or PATH")
    if node.weights not in ("none", "imagenet"):
        # A run resumed from its last.pt has every weight there: the file it started from may
        # be gone since (section4 reads it only for a fresh start). A NumPy model.npz is refused
        # here, as `checkpoint=` refuses it, rather than after the data is loaded.
        resumed = cfg.get("resume") and any(p.is_file() for p in Path(cfg.resume).glob("last.*"))
        config_file("model.weights", node.weights, WEIGHTS_ALLOWED, WEIGHTS_SUFFIXES,
                    f"{WEIGHTS_ALLOWED}: a torch file ({' or '.join(WEIGHTS_SUFFIXES)}); a NumPy "
                    f"model.npz of Sections 1-3 holds no torch network",
                    gone_ok=bool(resumed))
    dataset = cfg.get("dataset")
    if node.num_classes is not None and dataset is not None:
        # A model.pt written before 2026-12-07, when a larger head was allowed, is evaluated
        # with its own head (`checkpoint=`: more is allowed, never fewer).
        chosen = dataset.get("classes")
        labels = len(chosen) if chosen else DATASET_LABELS.get(dataset.name)
        given = f" with dataset.classes={list(chosen)}" if chosen else ""
        evaluating = cfg.get("checkpoint") is not None
        check(labels is None or node.num_classes == labels
              or (evaluating and node.num_classes > labels), "model.num_classes",
              node.num_classes, f"null (the dataset's) or {labels}, the number of classes "
              f"dataset={dataset.name}{given} has: the head has one output per class, as fewer "
              f"could not name every label and more would predict classes no image has"
              + (f"; evaluating a model.pt (checkpoint=), also more than {labels}: the "
                 f"outputs of the head it was written with" if evaluating else ""))


@dataclass
class SmallNetConfig(Built):
    """PlainNet (model=plain) or SmallResNet (model=resnet) of `depth` blocks and `width`."""

    name: str = "resnet"
    depth: int = ruled(8, integer())
    width: int = ruled(16, integer())
    weights: str = ruled("none", WEIGHTS)
    finetune: str = ruled("all", one_of(FINETUNE))
    num_classes: int | None = ruled(None, NUM_CLASSES)
    # Weights and batches in channels-last (NHWC) memory: faster convolutions on the CPU (`make
    # bench`), the same training to float round-off, though a coarser one than torch's default
    # layout (tests/test_section4_fast_path.py); false: torch's default layout.
    channels_last: bool = True

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        check(node.weights != "imagenet", "model.weights", node.weights,
              f"imagenet only with model=resnet18; none or the path of a model.pt for "
              f"model={node.name}")
        _transfer(node, cfg)


@dataclass
class ResNet18Config(Built):
    """torchvision's ResNet18 with a new head; weights none, imagenet or a model.pt."""

    name: str = "resnet18"
    weights: str = ruled("imagenet", WEIGHTS)
    finetune: str = ruled("layer4", one_of(FINETUNE))
    num_classes: int | None = ruled(None, NUM_CLASSES)
    channels_last: bool = True  # as SmallNetConfig's

    cross_check = staticmethod(_transfer)
