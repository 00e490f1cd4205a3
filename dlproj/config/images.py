"""The `pooling=`, `augmentation=` and `dataset=` groups: their schemas, with their range rules.

pooling=max|avg builds Section 3's pool layers (dlproj.nn.pooling); augmentation=none|standard and
dataset=mnist|pets Section 4's image batches (dlproj.data.images).
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from dlproj.config.checks import Built, Rule, integer, is_int, ruled


@dataclass
class NamedConfig(Built):
    name: str = MISSING


def labels(count: int) -> Rule:
    """Which of a dataset's `count` labels to keep: null (all), or two or more, each once."""
    return Rule(lambda v: v is None or (len(v) >= 2 and len(set(v)) == len(v)
                                        and all(is_int(c) and 0 <= c < count for c in v)),
                f"null (all) or at least two distinct labels in 0..{count - 1}")


# How many labels each dataset has (Oxford-IIIT Pet: cat vs dog).
DATASET_LABELS = {"mnist": 10, "pets": 2}


@dataclass
class MNISTImagesConfig(Built):
    """MNIST digits for Section 4, in memory: 1 channel (3 for ResNet18), `image_size` px."""

    name: str = "mnist"
    image_size: int = ruled(28, integer(8))
    # Keep only these labels, renumbered 0..k-1 in the given order (transfer: digits 5-9).
    classes: list[int] | None = ruled(None, labels(DATASET_LABELS["mnist"]))
    # At most this many training images per class (few-label transfer).
    per_class: int | None = ruled(None, integer(null="all"))


@dataclass
class PetsImagesConfig(MNISTImagesConfig):
    """Oxford-IIIT Pet, cat vs dog, decoded from disk by `num_workers` DataLoader processes; the
    other keys are MNIST's."""

    name: str = "pets"
    image_size: int = ruled(128, integer(8))
    classes: list[int] | None = ruled(None, labels(DATASET_LABELS["pets"]))
    num_workers: int = ruled(0, integer(0))
