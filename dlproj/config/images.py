"""The `pooling=`, `augmentation=` and `dataset=` groups: their schemas, with their range rules.

pooling=max|avg builds Section 3's pool layers (dlproj.nn.pooling); augmentation=none|standard and
dataset=mnist|pets Section 4's image batches (dlproj.data.images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from omegaconf import DictConfig

from dlproj.config.checks import Built, check, is_int, plain


@dataclass
class PoolingConfig(Built):
    name: str = "max"

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        """Nothing but the choice itself."""


@dataclass
class AugmentationConfig(Built):
    name: str = "none"

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        """Nothing but the choice itself."""


def _images(node: DictConfig, classes_available: int) -> None:
    check(is_int(node.image_size) and node.image_size >= 8, "dataset.image_size",
          node.image_size, "an integer >= 8")
    if node.classes is not None:
        classes = plain(node.classes)
        check(len(classes) >= 2 and len(set(classes)) == len(classes)
              and all(is_int(c) and 0 <= c < classes_available for c in classes),
              "dataset.classes", classes,
              f"null (all) or at least two distinct labels in 0..{classes_available - 1}")
    check(node.per_class is None or (is_int(node.per_class) and node.per_class >= 1),
          "dataset.per_class", node.per_class, "null (all) or an integer >= 1")


@dataclass
class MNISTImagesConfig(Built):
    """MNIST digits for Section 4, in memory: 1 channel (3 for ResNet18), `image_size` px."""

    name: str = "mnist"
    image_size: int = 28
    # Keep only these labels, renumbered 0..k-1 in the given order (transfer: digits 5-9).
    classes: list[int] | None = None
    # At most this many training images per class (few-label transfer).
    per_class: int | None = None
    num_classes: ClassVar[int] = 10

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _images(node, MNISTImagesConfig.num_classes)


@dataclass
class PetsImagesConfig(Built):
    """Oxford-IIIT Pet, cat vs dog, decoded from disk by `num_workers` DataLoader processes."""

    name: str = "pets"
    image_size: int = 128
    classes: list[int] | None = None
    per_class: int | None = None
    num_workers: int = 0
    num_classes: ClassVar[int] = 2

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        _images(node, PetsImagesConfig.num_classes)
        check(is_int(node.num_workers) and node.num_workers >= 0, "dataset.num_workers",
              node.num_workers, "an integer >= 0")
