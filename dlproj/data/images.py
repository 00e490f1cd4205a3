"""Section 4's image data as mini-batches of (N, C, H, W) float tensors and int64 labels.

dataset=mnist  MNIST from dlproj.data.mnist (train / val carved from train / test), standardised,
               resized to `image_size` if it is not 28, and copied into 3 channels for ResNet18.
               Held in memory.
dataset=pets   Oxford-IIIT Pet through torchvision's OxfordIIITPet(target_types="binary-category"):
               cat 0, dog 1; trainval trains, the official test split validates. Decoded by a
               DataLoader.

`classes` keeps some labels (renumbered in the order given), `per_class` caps the training images
per class (chosen with `split_seed`); `train_limit` / `test_limit` cap the splits as in the other
sections. The `dataset=` config group names the two builders (`mnist_images`, `pets_images`),
`augmentation=` the policy (`NoAugmentation`, `StandardAugmentation`): in memory a small random
affine per image (rotation +-10 deg, shift +-10 %, scale 0.9-1.1), from disk a random resized
crop + horizontal flip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dlproj.data import DATASET_NAMES
from dlproj.data.mnist import SIDE, load_mnist, to_float
from dlproj.errors import DataError
from dlproj.paths import resolve_path

PETS_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class ImageData:
    train: Any  # iterable of (x, y) batches with len(); reshuffled on every pass
    val: Any | None
    test: Any | None
    num_classes: int
    in_channels: int
    class_names: list[str]
    n_train: int


def select(labels: np.ndarray, classes: Sequence[int] | None, per_class: int | None,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices to keep and their new labels: `classes` (renumbered 0..k-1 in the given order),
    at most `per_class` of each chosen at random by `seed`; indices stay in their original order."""
    labels = np.asarray(labels)
    classes = list(classes) if classes is not None else sorted(np.unique(labels).tolist())
    keep = []
    rng = np.random.default_rng(seed)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if per_class is not None and len(idx) > per_class:
            idx = np.sort(rng.choice(idx, per_class, replace=False))
        keep.append(idx)
    idx = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
    remap = {c: i for i, c in enumerate(classes)}
    return idx, np.array([remap[int(v)] for v in labels[idx]], dtype=np.int64)


# -- MNIST, in memory ------------------------------------------------------------------------

def random_affine(x: torch.Tensor, generator: torch.Generator, *, degrees: float = 10.0,
                  translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """A different small affine warp of every image in (N, C, H, W) `x` (zero padding)."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    angle = uniform(-degrees, degrees) * math.pi / 180
    s = uniform(*scale)
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # Pixels are standardised, so "black" is the value the background had, not 0.
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(x - background, grid, align_corners=False) + background


class NoAugmentation:
    """augmentation=none: images as they are (from disk: resized and centre-cropped)."""

    def batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x

    def train_transforms(self, image_size: int) -> list[Any]:
        from torchvision import transforms as T

        return [T.Resize(image_size), T.CenterCrop(image_size)]


class StandardAugmentation(NoAugmentation):
    """augmentation=standard: a small random affine per image (in memory), a random resized crop
    and a horizontal flip (decoded from disk)."""

    def batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return random_affine(x, generator)

    def train_transforms(self, image_size: int) -> list[Any]:
        from torchvision import transforms as T

        return [T.RandomResizedCrop(image_size, scale=(0.5, 1.0)), T.RandomHorizontalFlip()]


class TensorBatches:
    """Mini-batches of in-memory tensors; shuffled (and augmented) anew on every pass."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool,
                 seed: int = 0, augment: NoAugmentation | None = None):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.augment = shuffle, augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self.x[idx]
            if self.augment is not None:
                x = self.augment.batch(x, self.generator)
            yield x, self.y[idx]


def mnist_images(*, image_size: int, classes: Sequence[int] | None, per_class: int | None,
                 root: str | Path, download: bool, val_size: int, split_seed: int,
                 train_limit: int | None, test_limit: int | None, batch_size: int,
                 channels: int, augment: NoAugmentation, seed: int) -> ImageData:
    """dataset=mnist: in-memory batches of `channels` copies of the standardised digits."""
    mnist = load_mnist(root, download=download, val_size=val_size, split_seed=split_seed,
                       train_limit=train_limit, test_limit=test_limit)
    names = [str(c) for c in (classes if classes is not None else range(10))]

    def tensors(split, per_class) -> tuple[torch.Tensor, torch.Tensor]:
        idx, labels = select(split.labels, classes, per_class, split_seed)
        x = torch.from_numpy(to_float(split.images[idx], flatten=False))
        if image_size != SIDE:
            x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                              align_corners=False)
        return x.expand(-1, channels, -1, -1).contiguous(), torch.from_numpy(labels)

    train = tensors(mnist.train, per_class)
    if len(train[1]) == 0:
        raise DataError(f"No MNIST training images left with dataset.classes={classes} and "
                        f"data.train_limit={train_limit}.")
    val = tensors(mnist.val, None)
    test = tensors(mnist.test, None)
    batches = TensorBatches(*train, batch_size, shuffle=True, seed=seed, augment=augment)
    return ImageData(
        train=batches,
        val=TensorBatches(*val, 1000, shuffle=False) if len(val[1]) else None,
        test=TensorBatches(*test, 1000, shuffle=False) if len(test[1]) else None,
        num_classes=len(names), in_channels=channels, class_names=names,
        n_train=len(train[1]))


# -- Oxford-IIIT Pet, from disk ----------------------------------------------------------------

class _Relabelled(torch.utils.data.Dataset):
    """Some items of a dataset, with new labels."""

    def __init__(self, base: Any, indices: np.ndarray, labels: np.ndarray):
        self.base, self.indices, self.labels = base, indices, labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        try:
            image, _ = self.base[int(self.indices[i])]
        except OSError as exc:  # PIL: not an image, truncated; the file gone or unreadable
            path = Path(self.base._images[int(self.indices[i])])
            raise DataError(f"Cannot read Oxford-IIIT Pet image {path} ({exc}): the dataset is "
                            f"damaged. Extract images.tar.gz from {PETS_URL} into "
                            f"{path.parent.parent} again, or delete that folder and run with "
                            f"data.download=true.") from None
        return image, int(self.labels[i])


def pets_folder(root: str | Path) -> Path:
    return resolve_path(root) / "oxford-iiit-pet"


def open_pets(root: str | Path, split: str, *, download: bool, transform: Any = None) -> Any:
    """torchvision's OxfordIIITPet (binary cat/dog) or a DataError saying where to put it."""
    from torchvision.datasets import OxfordIIITPet

    folder = pets_folder(root)
    how = (f"Download images.tar.gz and annotations.tar.gz from {PETS_URL} and extract both into "
           f"{folder} (giving {folder}/images/*.jpg and {folder}/annotations/list.txt, "
           f"trainval.txt, test.txt), set data.root= to the folder that holds oxford-iiit-pet/, "
           f"or run offline on MNIST with dataset=mnist.")
    existed = folder.exists()
    try:
        return OxfordIIITPet(root=str(folder.parent), split=split, target_types="binary-category",
                             transform=transform, download=download)
    except RuntimeError as exc:
        if "not found" not in str(exc):
            raise
        raise DataError(f"Oxford-IIIT Pet is not in {folder} and data.download is false. "
                        f"{how}") from exc
    except OSError as exc:  # no network (URLError), a missing annotations file, a bad archive
        if not download or folder.joinpath("images").is_dir():
            raise DataError(f"Oxford-IIIT Pet in {folder} is incomplete ({exc}). {how}") from exc
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # the failed download's empty folder would look like a dataset
        raise DataError(f"Oxford-IIIT Pet is not in {folder} and could not be downloaded "
                        f"({exc}). {how}") from exc


def pets_transforms(image_size: int, augment: NoAugmentation) -> tuple[Any, Any]:
    """(training, evaluation) transforms: resized, centre-cropped, ImageNet-normalised tensors;
    the training ones as `augment` draws them."""
    from torchvision import transforms as T

    to_tensor = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    evaluate = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), *to_tensor])
    return T.Compose([*augment.train_transforms(image_size), *to_tensor]), evaluate


def _limit(n: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def pets_images(*, image_size: int, classes: Sequence[int] | None, per_class: int | None,
                num_workers: int, root: str | Path, download: bool, val_size: int,
                split_seed: int, train_limit: int | None, test_limit: int | None,
                batch_size: int, channels: int, augment: NoAugmentation,
                seed: int) -> ImageData:
    """dataset=pets: cat vs dog, decoded per batch by `num_workers` DataLoader processes. It
    validates on the official test split, so `val_size` does not apply; always 3 channels."""
    train_tf, eval_tf = pets_transforms(image_size, augment)
    train_set = open_pets(root, "trainval", download=download, transform=train_tf)
    test_set = open_pets(root, "test", download=False, transform=eval_tf)
    names = ["cat", "dog"] if classes is None else [["cat", "dog"][c] for c in classes]

    def part(base: Any, limit: int | None, per_class: int | None) -> _Relabelled:
        # The binary labels, read from the annotation file without decoding any image.
        labels = np.asarray(base._bin_labels)
        rows = _limit(len(labels), limit, split_seed)
        idx, new = select(labels[rows], classes, per_class, split_seed)
        return _Relabelled(base, rows[idx], new)

    train = part(train_set, train_limit, per_class)
    val = part(test_set, test_limit, None)
    if len(train) == 0:
        raise DataError(f"No Oxford-IIIT Pet training images left with dataset.classes="
                        f"{classes} and data.train_limit={train_limit}.")
    loader = torch.utils.data.DataLoader
    common = {"batch_size": batch_size, "num_workers": num_workers}
    return ImageData(
        train=loader(train, shuffle=True, generator=torch.Generator().manual_seed(seed),
                     **common),
        val=loader(val, shuffle=False, **common) if len(val) else None,
        test=None, num_classes=len(names), in_channels=3, class_names=names,
        n_train=len(train))


CLASS_NAMES = {"pets": ("cat", "dog")}


def describe(dataset: Any) -> str:
    """What a `dataset` config (a DictConfig or the plain dict of a results.json) trains on, in
    words: "MNIST digits 5-9, 100 per class", "Oxford-IIIT Pet (cat/dog)"."""
    name = str(dataset.get("name"))
    text = DATASET_NAMES.get(name, name)
    classes = dataset.get("classes")
    names = CLASS_NAMES.get(name)
    if classes is not None:
        classes = [int(c) for c in classes]
    if names is not None:
        text += " (" + "/".join(names[c] for c in (classes or range(len(names)))) + ")"
    elif classes is not None:
        run = classes == list(range(classes[0], classes[0] + len(classes)))
        text += (f" digits {classes[0]}-{classes[-1]}" if run and len(classes) > 2
                 else " digits " + ",".join(map(str, classes)))
    if dataset.get("per_class") is not None:
        text += f", {dataset.get('per_class')} per class"
    return text
