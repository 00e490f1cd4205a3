"""What a run holds in memory, for the memory guard (dlproj.runtime.memory): its data, declared by
each experiment at `@register(..., data=...)`, its model, by what its `model=` node builds
(`model_size`), and their sum with the optimizer's state and a batch's (or a pass's) activations
(`estimate`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from omegaconf import DictConfig

from dlproj.data.mnist import PIXELS, SIDE, TEST_IMAGES, TRAIN_IMAGES
from dlproj.training.parallel import PASS_BYTES


@dataclass(frozen=True)
class DataSize:
    """`samples` examples of `features` floats, plus `raw_bytes`."""

    samples: int
    features: int
    classes: int
    item_bytes: int = 4
    raw_bytes: int = 0
    keys: str = "data.train_limit, data.test_limit"  # what to lower when the data dominates


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


@dataclass(frozen=True)
class ModelSize:
    params: int
    activations: int  # floats kept per example for the backward pass
    keys: str  # what to lower when parameters dominate
    act_keys: str = ""  # what to lower when activations dominate (besides train.batch_size)
    passes: bool = False  # a NumPy model of layers: its step holds one pass of rows at a time


# -- models: parameters, and the floats one example keeps for backward ---------------------

def mlp_size(node: DictConfig, cfg: DictConfig, n_in: int, n_out: int) -> ModelSize:
    widths = [n_in, *node.hidden, n_out]
    params = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
    return ModelSize(params, 2 * sum(widths), "model.hidden", passes=True)


def two_layer_size(node: DictConfig, cfg: DictConfig, n_in: int, n_out: int) -> ModelSize:
    """An MLP of one hidden layer whose step takes the whole batch (no layers to cut by)."""
    return replace(mlp_size(node, cfg, n_in, n_out), passes=False)


def cnn_size(node: DictConfig, cfg: DictConfig, n_in: int, n_out: int) -> ModelSize:
    size, c_in, params, acts = SIDE, 1, 0, n_in
    k = node.kernel_size
    for c in node.channels:
        params += k * k * c_in * c + c
        out = size + 2 * node.padding - k + 1
        acts += k * k * c_in * out * out + 3 * c * out * out  # im2col, conv, ReLU, pool
        size, c_in = out // 2, c
    features = c_in * size * size
    for a, b in ((features, node.fc_hidden), (node.fc_hidden or features, n_out)):
        if b:
            params += a * b + b
            acts += 2 * b
    return ModelSize(params, acts, "model.channels, model.fc_hidden", passes=True)


def small_net_size(node: DictConfig, cfg: DictConfig, n_in: int, n_out: int) -> ModelSize:
    s = cfg.dataset.image_size
    w = node.width
    acts = 3 * w * s * s  # the stem at full resolution
    if s > 32:
        s //= s // 32
    params, c_in = 9 * w, w
    depth = node.depth
    for i in range(3):
        blocks = depth // 3 + (1 if i < depth % 3 else 0)
        c = w * 2 ** i
        for j in range(blocks):
            if i > 0 and j == 0:
                s = (s + 1) // 2
            params += 9 * c_in * c + 9 * c * c + 4 * c + (c_in * c if c_in != c else 0)
            acts += 8 * c * s * s  # two conv + BN + ReLU outputs, the sum
            c_in = c
    params += c_in * n_out + n_out
    return ModelSize(params, acts, "model.depth, model.width",
                     "dataset.image_size, model.width, model.depth")


def resnet18_size(node: DictConfig, cfg: DictConfig, n_in: int, n_out: int) -> ModelSize:
    # ~11.2M backbone parameters; ~10M floats of saved activations per 224x224 image, scaling
    # with the pixel count.
    acts = int(10e6 * (cfg.dataset.image_size / 224) ** 2)
    return ModelSize(11_176_512 + 512 * n_out + n_out, acts, "model=resnet18",
                     "dataset.image_size")


# What each model `_target_` (conf/model/*.yaml) holds.
SIZES = {"dlproj.nn.mlp.build_mlp": mlp_size, "dlproj.nn.two_layer.two_layer_net": two_layer_size,
         "dlproj.nn.cnn.build_cnn": cnn_size,
         "dlproj.torchnets.models.PlainNet": small_net_size,
         "dlproj.torchnets.models.SmallResNet": small_net_size,
         "dlproj.torchnets.models.resnet18": resnet18_size}


def model_size(node: DictConfig, cfg: DictConfig, n_in: int, n_out: int) -> ModelSize:
    """Parameters and the floats one example keeps for backward, of the model `node` builds."""
    return SIZES[node._target_](node, cfg, n_in, n_out)


# Optimizer state per parameter, in parameter-sized arrays.
OPTIMIZER_SLOTS = {"sgd": 1, "momentum": 1, "rmsprop": 2, "adam": 2, "adamw": 2}


@dataclass(frozen=True)
class Estimate:
    parts: dict[str, tuple[int, str]]  # what -> (bytes, the keys that shrink it)

    @property
    def total(self) -> int:
        return sum(size for size, _ in self.parts.values())


def estimate(cfg: DictConfig, data: DataSize, model: ModelSize) -> Estimate:
    item = data.item_bytes
    slots = OPTIMIZER_SLOTS.get(cfg.optimizer.name, 2)
    batch = min(cfg.train.batch_size, data.samples or cfg.train.batch_size)
    held, what = batch, "a batch's activations, forward and backward"
    if model.passes and model.activations:
        # The step holds a pass of rows_per_pass rows per worker (dlproj.training.parallel),
        # counted here for one worker from these floats per row, more than the layer outputs
        # the step counts by: fewer rows than a pass holds, so a refusal stays certain.
        held = min(batch, max(1, PASS_BYTES // (model.activations * item)))
        what = "a pass's activations, forward and backward"
    return Estimate({
        "the dataset in memory": (data.samples * data.features * item + data.raw_bytes,
                                  data.keys),
        "parameters, gradients and optimizer state": (model.params * item * (2 + slots),
                                                      model.keys),
        # Forward outputs kept for backward, and their gradients.
        what: (model.activations * item * 3 * held,
               "train.batch_size, " + (model.act_keys or model.keys)),
    })
