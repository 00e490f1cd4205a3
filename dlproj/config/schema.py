"""Structured configs: Hydra rejects `train.epochs=abc` with a message naming the key.

The root config and the keys every run shares are here with their range rules (`Config.check`);
each config group's schemas, each with its own `check`, live in the module of their group. Every
group file under conf/ starts from one of them (`/schema/<group>/<kind>@_here_`), so a wrong type
in any group is caught while composing; `SCHEMAS` is what goes into Hydra's ConfigStore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig

from dlproj.config import images, models, optim, trackers
from dlproj.config.checks import check, check_choice, integer, is_int, text
from dlproj.data.mnist import TRAIN_IMAGES

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding and torch.cuda both stop here
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")  # the keys of dlproj.training.precision.AUTOCAST


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
    # Section 4's arithmetic, as Lightning names it: 32, bf16-mixed (CPU or CUDA) or 16-mixed
    # (CUDA; loss scaling). dlproj/training/precision.py; Sections 1-3 compute in float32.
    precision: str = "32"
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class DataConfig:
    """Where MNIST is and how much of it a run reads (the keyword arguments of
    dlproj.data.mnist.load_mnist)."""

    root: str = "${dlproj.data_root:}"
    download: bool = True
    train_limit: int | None = None
    test_limit: int | None = None
    # Held out from the 60k training images with a fixed seed (the same for every run seed).
    val_size: int = 5000
    split_seed: int = 0


@dataclass
class ThreadsConfig:
    """Threads of one run: `auto` or an integer >= 1 (the rule: dlproj/runtime/threads.py)."""

    workers: Any = "auto"
    blas: Any = "auto"


@dataclass
class Config:
    section: int = 1
    experiment: str = MISSING
    seed: int = 0
    device: str = "auto"
    checkpoint: str | None = None
    # Continue the run in this directory from its last checkpoint: `python -m dlproj resume=DIR`.
    resume: str | None = None
    # Draw the run's figures (PNG) once it has trained; the debug presets turn them off.
    figures: bool = True
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    # The config groups: each node is a choice's file, typed by its own schema (SCHEMAS).
    model: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    pooling: Any = MISSING
    augmentation: Any = MISSING
    dataset: Any = MISSING
    threads: ThreadsConfig = field(default_factory=ThreadsConfig)
    # Tracker loggers by name (conf/logger/: csv, tensorboard, mlflow): `logger=[csv,mlflow]`.
    logger: dict[str, Any] = field(default_factory=dict)
    # Free-form settings of one experiment (sin's sample counts, transfer's label budget, ...).
    params: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def check(cfg: DictConfig) -> None:
        """The keys every run shares."""
        integer("seed", cfg.seed, 0, SEED_MAX)
        check_choice("device", cfg.device, DEVICES)
        train = cfg.train
        for key in ("epochs", "batch_size", "checkpoint_every"):
            integer(f"train.{key}", train[key])
        integer("train.log_every", train.get("log_every"), null="about 50 lines per run")
        check_choice("train.precision", train.precision, PRECISIONS)
        check(cfg.section == 4 or train.precision == "32", "train.precision", train.precision,
              f"32 for section={cfg.section} (NumPy computes in float32; bf16-mixed and "
              "16-mixed are Section 4's)")
        check(train.checkpoint_min_seconds >= 0, "train.checkpoint_min_seconds",
              train.checkpoint_min_seconds, "a number of seconds >= 0 (0: no floor)")
        es = train.early_stopping
        if es.monitor is not None:  # '' would turn early stopping off as null does, unsaid
            text("train.early_stopping.monitor", es.monitor,
                 "a metrics.csv column such as val_acc or val_loss, or null (early stopping off)")
        integer("train.early_stopping.patience", es.patience)
        check(es.mode in (None, "min", "max"), "train.early_stopping.mode", es.mode,
              "min, max, or null (inferred from the metric's name)")
        check(es.min_delta >= 0, "train.early_stopping.min_delta", es.min_delta,
              "a number >= 0")
        data = cfg.data
        integer("data.train_limit", data.train_limit, null="all")
        integer("data.test_limit", data.test_limit, null="all")
        check(is_int(data.val_size) and 0 <= data.val_size < TRAIN_IMAGES, "data.val_size",
              data.val_size, f"an integer in [0, {TRAIN_IMAGES}) (MNIST has {TRAIN_IMAGES} "
              f"training images)")
        integer("data.split_seed", data.split_seed, 0, SEED_MAX)
        text("data.root", data.root, "a folder (relative ones are taken from the project root)")


# group -> {schema name -> schema}: `/schema/<group>/<name>` in Hydra's ConfigStore.
SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"mlp": models.MLPConfig, "two_layer": models.TwoLayerConfig,
              "cnn": models.CNNConfig, "small_net": models.SmallNetConfig,
              "resnet18": models.ResNet18Config},
    "optimizer": {"sgd": optim.SGDConfig, "rmsprop": optim.RMSpropConfig,
                  "adam": optim.AdamConfig},
    "schedule": {"constant": optim.ConstantConfig, "step": optim.StepConfig,
                 "exponential": optim.ExponentialConfig, "cosine": optim.CosineConfig},
    "pooling": {"pooling": images.NamedConfig},
    "augmentation": {"augmentation": images.NamedConfig},
    "dataset": {"mnist": images.MNISTImagesConfig, "pets": images.PetsImagesConfig},
    "logger": {"csv": trackers.CSVLoggerConfig, "tensorboard": trackers.TensorBoardLoggerConfig,
               "mlflow": trackers.MLflowLoggerConfig},
}
