"""Structured configs: Hydra rejects `train.epochs=abc` with a message naming the key.

The root config and the keys every run shares are here, each with its range rule (`ruled`); each
config group's schemas live in the module of their group. Every group file under conf/ starts
from one of them (`/schema/<group>/<kind>@_here_`), so a wrong type in any group is caught while
composing; `SCHEMAS` is what goes into Hydra's ConfigStore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig

from dlproj import paths
from dlproj.config import images, models, optim, trackers
from dlproj.config.checks import Rule, check_rules, integer, number, one_of, ruled, text
from dlproj.data.mnist import TRAIN_IMAGES, VAL_IMAGES
from dlproj.errors import check
from dlproj.training.divergence import FACTOR

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding and torch.cuda both stop here
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")  # the keys of dlproj.training.precision.AUTOCAST
SEED = integer(0, SEED_MAX)
DIVERGENCE_FACTOR = number(
    "a number > 1 (a loss above this many times the run's first loss counts as diverged; "
    f"default {FACTOR:g}), or null (only a NaN/inf loss counts)", lambda v: v > 1, null=True)


@dataclass
class EarlyStoppingConfig:
    monitor: str | None = ruled(None, text("a metrics.csv column such as val_acc or val_loss, "
                                           "or null (early stopping off)", nullable=True))
    # Epochs without improvement before the run stops.
    patience: int = ruled(5, integer())
    # min or max; null: from the name (max for *_acc, min for *_loss / *_mse).
    mode: str | None = ruled(None, Rule(lambda v: v in (None, "min", "max"),
                                        "min, max, or null (inferred from the metric's name)"))
    # An improvement smaller than this does not count.
    min_delta: float = ruled(0.0, Rule(lambda v: v >= 0, "a number >= 0"))


@dataclass
class TrainConfig:
    epochs: int = ruled(10, integer())
    batch_size: int = ruled(128, integer())
    # Stop a run whose loss diverges (recorded as `diverged`): dlproj/training/divergence.py.
    stop_on_divergence: bool = True
    divergence_factor: float | None = ruled(FACTOR, DIVERGENCE_FACTOR)
    # Write last.npz / last.pt every N epochs, but not more often than every
    # `checkpoint_min_seconds` (tiny epochs: XOR's take a millisecond). The last epoch, an early
    # stop and an interrupt always write one, so Ctrl-C and SIGTERM never lose a finished epoch.
    checkpoint_every: int = ruled(1, integer())
    checkpoint_min_seconds: float = ruled(
        2.0, Rule(lambda v: v >= 0, "a number of seconds >= 0 (0: no floor)"))
    # One log line every N epochs (and for the first and last); null: about 50 lines per run.
    log_every: int | None = ruled(None, integer(null="about 50 lines per run"))
    # Section 4's arithmetic, as Lightning names it: 32, bf16-mixed (CPU or CUDA) or 16-mixed
    # (CUDA; loss scaling). dlproj/training/precision.py; Sections 1-3 compute in float32.
    precision: str = ruled("32", one_of(PRECISIONS))
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class DataConfig:
    """Where MNIST is and how much of it a run reads (the keyword arguments of
    dlproj.data.mnist.load_mnist)."""

    root: str = ruled("${dlproj.data_root:}",
                      text("a folder (relative ones are taken from the project root)"))
    download: bool = True
    train_limit: int | None = ruled(None, integer(null="all"))
    test_limit: int | None = ruled(None, integer(null="all"))
    # Held out from the 60k training images with a fixed seed (the same for every run seed).
    val_size: int = ruled(VAL_IMAGES, integer(0, TRAIN_IMAGES - 1, allowed=(
        f"an integer in [0, {TRAIN_IMAGES}) (MNIST has {TRAIN_IMAGES} training images)")))
    split_seed: int = ruled(0, SEED)


@dataclass
class ThreadsConfig:
    """Threads of one run: `auto` or an integer >= 1 (the rule: dlproj/runtime/threads.py)."""

    workers: Any = "auto"
    blas: Any = "auto"


@dataclass
class Config:
    section: int = 1
    experiment: str = MISSING
    seed: int = ruled(0, SEED)
    device: str = ruled("auto", one_of(DEVICES, " (cuda: Section 4's only; NumPy runs on the "
                                                "CPU)"))
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
        for node in (cfg, cfg.train, cfg.train.early_stopping, cfg.data):
            check_rules(node)
        check(not (cfg.data.download and paths.new_data_root(cfg.data.root)), "data.root",
              cfg.data.root, paths.NEW_DATA_ROOT)
        check(cfg.section == 4 or cfg.train.precision == "32", "train.precision",
              cfg.train.precision, f"32 for section={cfg.section} (NumPy computes in float32; "
              "bf16-mixed and 16-mixed are Section 4's)")


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
