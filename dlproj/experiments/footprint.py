"""What the experiments hold in memory, declared at `@register(..., data=...)` for the memory guard
(dlproj.config.memory)."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from dlproj.data.mnist import PIXELS, TEST_IMAGES, TRAIN_IMAGES
from dlproj.registry import DataSize


def _mnist_counts(cfg: DictConfig) -> tuple[int, int, int]:
    data = cfg.data
    n_train = max(TRAIN_IMAGES - data.val_size, 0)
    if data.train_limit is not None:
        n_train = min(n_train, data.train_limit)
    n_val, n_test = min(data.val_size, TRAIN_IMAGES), TEST_IMAGES
    if data.test_limit is not None:
        n_val, n_test = min(n_val, data.test_limit), min(n_test, data.test_limit)
    return n_train, n_val, n_test


RAW_MNIST = (TRAIN_IMAGES + TEST_IMAGES) * PIXELS * 2  # the uint8 files and their split copies


def mnist(cfg: DictConfig) -> DataSize:
    """Sections 1-3: the uint8 files, the split copies and their float32 versions."""
    return DataSize(sum(_mnist_counts(cfg)), PIXELS, 10, raw_bytes=RAW_MNIST)


def mnist_raw_only(cfg: DictConfig) -> DataSize:
    """Experiments that read MNIST but convert only a few images."""
    return DataSize(0, PIXELS, 10, raw_bytes=RAW_MNIST)


def images(cfg: DictConfig) -> DataSize:
    """Section 4: MNIST resized to dataset.image_size in memory, or Pets decoded per batch."""
    ds = cfg.dataset
    channels = 3 if cfg.model.get("name") == "resnet18" else 1
    features = channels * ds.image_size ** 2
    keys = "dataset.image_size, data.train_limit, data.test_limit"
    if ds.name != "mnist":
        return DataSize(0, features, 2, keys=keys)
    n_train, n_val, n_test = _mnist_counts(cfg)
    share = len(ds.classes) / 10 if ds.classes is not None else 1.0
    n_train = math.ceil(n_train * share)
    if ds.per_class is not None:
        n_train = min(n_train, ds.per_class * (len(ds.classes) if ds.classes else 10))
    n = n_train + math.ceil((n_val + n_test) * share)
    # Resizing holds the 28x28 floats and the resized copy before the channel copy.
    return DataSize(n, features + PIXELS, 10, raw_bytes=RAW_MNIST, keys=keys)
