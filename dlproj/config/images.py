"""The `pooling=`, `augmentation=` and `dataset=` groups: their schemas, with their range rules.

pooling=max|avg builds Section 3's pool layers (dlproj.nn.pooling); augmentation=none|standard and
dataset=mnist|pets Section 4's image batches (dlproj.data.images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from omegaconf import MISSING, DictConfig

from dlproj.config.checks import Built, integer, is_int, plain, ruled
from dlproj.errors import check


@dataclass
class NamedConfig(Built):
    name: str = MISSING


@dataclass
class MNISTImagesConfig(Built):
    """MNIST digits for Section 4, in memory: 1 channel (3 for ResNet18), `image_size` px."""

    name: str = "mnist"
    image_size: int = ruled(28, integer(8))
    # Keep only these labels, renumbered 0..k-1 in the given order (transfer: digits 5-9).
    classes: list[int] | None = None
    # At most this many training images per class (few-label transfer).
    per_class: int | None = ruled(None, integer(null="all"))
    num_classes: ClassVar[int] = 10

    @classmethod
    def cross_check(cls, node: DictConfig, cfg: DictConfig) -> None:
        if node.classes is not None:
            classes = plain(node.classes)
            check(len(classes) >= 2 and len(set(classes)) == len(classes)
                  and all(is_int(c) and 0 <= c < cls.num_classes for c in classes),
                  "dataset.classes", classes,
                  f"null (all) or at least two distinct labels in 0..{cls.num_classes - 1}")


@dataclass
class PetsImagesConfig(MNISTImagesConfig):
    """Oxford-IIIT Pet, cat vs dog, decoded from disk by `num_workers` DataLoader processes; the
    other keys and their rules are MNIST's."""

    name: str = "pets"
    image_size: int = ruled(128, integer(8))
    num_workers: int = ruled(0, integer(0))
    num_classes: ClassVar[int] = 2
