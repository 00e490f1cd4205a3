"""MNIST as uint8 arrays, with a deterministic validation split carved from the training set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlproj.data.fetch import RAW_FILES, fetch_mnist
from dlproj.data.idx import read_idx
from dlproj.errors import DataError
from dlproj.paths import raw_dir, refetch, resolve_path


TRAIN_IMAGES, TEST_IMAGES, SIDE = 60_000, 10_000, 28  # the official MNIST files: 28x28 images
VAL_IMAGES = 5000  # of the training images held out for validation by default (data.val_size)
PIXELS = SIDE * SIDE


@dataclass
class Split:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, limit: int | None) -> Split:
        return self if limit is None else Split(self.images[:limit], self.labels[:limit])


@dataclass
class MNIST:
    train: Split
    val: Split
    test: Split


def _find(root: Path, name: str) -> Path | None:
    for candidate in (raw_dir(root) / name, raw_dir(root) / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def load_raw(root: str | Path, download: bool = True) -> dict[str, np.ndarray]:
    """The four arrays of torchvision's raw layout, fetching the missing ones first (only those;
    nothing when `download` is false). A relative `root` is taken from the project root."""
    root = resolve_path(root)
    paths = {k: _find(root, name) for k, name in RAW_FILES.items()}
    if any(p is None for p in paths.values()):
        fetch_mnist(root, download=download,
                    only=[RAW_FILES[k] for k, p in paths.items() if p is None])
        paths = {k: _find(root, name) for k, name in RAW_FILES.items()}
    missing = [RAW_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DataError(f"MNIST files {', '.join(missing)} are missing from {raw_dir(root)}. "
                        f"Run {refetch(root)} to fetch them.")
    arrays = {k: check_mnist_array(k, p, read_idx(p)) for k, p in paths.items()}
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise DataError(
                f"MNIST {split} split in {raw_dir(root)} has {n_img} images "
                f"({paths[f'{split}_images'].name}) but {n_lab} labels "
                f"({paths[f'{split}_labels'].name}): the files do not belong together. Delete "
                f"both and run {refetch(root)} to fetch them again.")
    return arrays


def check_mnist_array(key: str, path: Path, array: np.ndarray) -> np.ndarray:
    """DataError naming `path` unless `array` is what MNIST's `key` file holds: images
    (N, 28, 28), labels (N,) in 0..9, N >= 1."""
    images = key.endswith("images")
    fix = f"Delete {path} and run {refetch(path)} to fetch it again."
    if images and (array.ndim != 3 or array.shape[1:] != (28, 28)):
        raise DataError(f"MNIST image file {path} holds an array of shape {array.shape}; MNIST "
                        f"images are (N, 28, 28) (IDX magic 0x00000803). {fix}")
    if not images and array.ndim != 1:
        raise DataError(f"MNIST label file {path} holds an array of shape {array.shape}; MNIST "
                        f"labels are (N,) (IDX magic 0x00000801). {fix}")
    if len(array) == 0:
        raise DataError(f"MNIST file {path} holds no {'images' if images else 'labels'}. {fix}")
    if not images and int(array.max()) > 9:
        bad = int(np.count_nonzero(array > 9))
        raise DataError(f"MNIST label file {path} has {bad} label(s) outside 0..9 (largest "
                        f"{int(array.max())}): it is corrupt or not MNIST. {fix}")
    return array


def load_mnist(root: str | Path, *, download: bool = True, val_size: int = VAL_IMAGES,
               split_seed: int = 0, train_limit: int | None = None,
               test_limit: int | None = None) -> MNIST:
    """Train/val/test splits. Validation: `val_size` training images chosen by `split_seed`
    (fixed across run seeds). `train_limit` caps train; `test_limit` caps val and test."""
    raw = load_raw(root, download)
    n = len(raw["train_labels"])
    if val_size >= n:
        raise DataError(f"data.val_size={val_size} leaves no training images: "
                        f"train-images-idx3-ubyte in {raw_dir(root)} holds {n} "
                        f"(MNIST's holds "
                        f"{TRAIN_IMAGES}; {refetch(root)} fetches it). "
                        f"Allowed: data.val_size below {n}, or the whole training file.")
    order = np.random.default_rng(split_seed).permutation(n)
    val_idx, train_idx = np.sort(order[:val_size]), np.sort(order[val_size:])
    images, labels = raw["train_images"], raw["train_labels"].astype(np.int64)
    return MNIST(
        train=Split(images[train_idx], labels[train_idx]).head(train_limit),
        val=Split(images[val_idx], labels[val_idx]).head(test_limit),
        test=Split(raw["test_images"], raw["test_labels"].astype(np.int64)).head(test_limit),
    )


MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels in [0, 1]


def to_float(images: np.ndarray, *, flatten: bool, dtype: type = np.float32) -> np.ndarray:
    """uint8 (N, 28, 28) -> standardised floats, (N, 784) or (N, 1, 28, 28)."""
    x = (images.astype(dtype) / 255.0 - MEAN) / STD
    return x.reshape(len(x), int(np.prod(x.shape[1:]))) if flatten else x[:, None, :, :]
