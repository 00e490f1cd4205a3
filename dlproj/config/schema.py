"""Structured configs: Hydra rejects `train.epochs=abc` with a message naming the key.

Each group file under conf/ starts from one of these schemas (`/schema/<group>/<kind>@_here_`),
so a wrong type in any group is caught while composing, before a run starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class EarlyStoppingConfig:
    # A metrics.csv column (val_acc, val_loss, ...); null: early stopping off.
    monitor: str | None = None
    # Epochs without improvement before the run stops.
    patience: int = 5
    # min or max; null: from the name (max for *_acc, min for *_loss / *_mse).
    mode: str | None = None
    # An improvement smaller than this does not count.
    min_delta: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    # Stop a run whose loss turns NaN/inf (recorded as `diverged`).
    stop_on_divergence: bool = True
    # Write last.npz / last.pt every N epochs, but not more often than every
    # `checkpoint_min_seconds` (tiny epochs: XOR's take a millisecond). The last epoch, an early
    # stop and an interrupt always write one, so Ctrl-C and SIGTERM never lose a finished epoch.
    checkpoint_every: int = 1
    checkpoint_min_seconds: float = 2.0
    # One log line every N epochs (and for the first and last); null: about 50 lines per run.
    log_every: int | None = None
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class DataConfig:
    root: str = "${dlproj.data_root:}"
    download: bool = True
    train_limit: int | None = None
    test_limit: int | None = None
    # Held out from the 60k training images with a fixed seed (the same for every run seed).
    val_size: int = 5000
    split_seed: int = 0


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    alpha: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class ScheduleConfig:
    name: str = "constant"
    step_size: int = 5
    gamma: float = 0.5
    warmup_epochs: int = 0
    min_lr: float = 0.0


@dataclass
class MLPModelConfig:
    """NumPy multilayer perceptron (sections 1 and 2)."""

    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    activation: str = "relu"
    init: str = "auto"


@dataclass
class CNNModelConfig:
    """NumPy CNN (section 3): conv3x3 -> ReLU -> pool -> conv3x3 -> ReLU -> pool -> fc."""

    name: str = "cnn_small"
    channels: list[int] = field(default_factory=lambda: [8, 16])
    kernel_size: int = 3
    padding: int = 1
    fc_hidden: int = 0


@dataclass
class TorchModelConfig:
    """PyTorch networks (section 4): plain/resnet of `depth`, or torchvision's ResNet18."""

    name: str = "resnet"
    depth: int = 8
    width: int = 16
    weights: str = "none"
    finetune: str = "all"
    num_classes: int | None = None


@dataclass
class DatasetConfig:
    """Section 4's images: `mnist` (offline) or `pets` (Oxford-IIIT Pet, cat vs dog)."""

    name: str = "mnist"
    image_size: int = 28
    # Keep only these labels, renumbered 0..k-1 in the given order (transfer: digits 5-9).
    classes: list[int] | None = None
    # At most this many training images per class (few-label transfer).
    per_class: int | None = None
    num_workers: int = 0


@dataclass
class PoolingConfig:
    name: str = "max"


@dataclass
class AugmentationConfig:
    name: str = "none"


@dataclass
class ThreadsConfig:
    """Threads of one run: `auto` or an integer >= 1 (the rule: dlproj/runtime/threads.py)."""

    workers: Any = "auto"
    blas: Any = "auto"


@dataclass
class CSVLoggerConfig:
    """metrics.csv, results.json and the other run files: always written; listed for clarity."""


@dataclass
class TensorBoardLoggerConfig:
    """Event files in the run directory: `tensorboard --logdir outputs`."""

    steps: bool = True      # step/train_loss at every training step
    figures: bool = True    # the run's *.png as images
    hparams: bool = True    # the resolved config in the HParams tab
    flush_secs: int = 30


@dataclass
class MLflowLoggerConfig:
    """One MLflow run per dlproj run in a local store: `mlflow ui --backend-store-uri ...`."""

    tracking_uri: str = "sqlite:///${dlproj.outputs:}/mlflow/mlflow.db"
    artifact_location: str = "${dlproj.outputs:}/mlflow/artifacts"
    experiment_name: str = "dlproj"
    steps: bool = True      # step/train_loss at every training step (sent in batches)
    artifacts: bool = True  # figures, model file, results.json, metrics.csv


@dataclass
class Config:
    section: int = 1
    experiment: str = MISSING
    seed: int = 0
    device: str = "auto"
    checkpoint: str | None = None
    # Continue the run in this directory from its last checkpoint: `python -m dlproj resume=DIR`.
    resume: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = MISSING
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    pooling: PoolingConfig = field(default_factory=PoolingConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    threads: ThreadsConfig = field(default_factory=ThreadsConfig)
    # Tracker loggers by name (conf/logger/: csv, tensorboard, mlflow): `logger=[csv,mlflow]`.
    logger: dict[str, Any] = field(default_factory=dict)
    # Free-form settings of one experiment (sin's sample counts, transfer's label budget, ...).
    params: dict[str, Any] = field(default_factory=dict)


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"mlp": MLPModelConfig, "cnn": CNNModelConfig, "torch": TorchModelConfig},
    "optimizer": {"optimizer": OptimizerConfig},
    "schedule": {"schedule": ScheduleConfig},
    "pooling": {"pooling": PoolingConfig},
    "augmentation": {"augmentation": AugmentationConfig},
    "dataset": {"dataset": DatasetConfig},
    "logger": {"csv": CSVLoggerConfig, "tensorboard": TensorBoardLoggerConfig,
               "mlflow": MLflowLoggerConfig},
}
