"""The course report's numbers (`shared/seed`, sections 4.1-4.4 and its Table 1), matched to runs.

Each reference says which runs it describes (a predicate on the run's flattened config), which
final metric it reports, and its *protocol*: the dataset, epochs and data it was measured with.
A run sits beside a number only when its protocol matches (`mismatch` is empty); otherwise the
report says why not, e.g. "1 of 5 epochs, 500 train images".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Config = dict[str, Any]
DEFAULT = object()  # the experiment's own default (the course report does not give the value)
FULL = None  # all the data: no limit

_NAMES = {"mnist": "MNIST", "pets": "Oxford-IIIT Pet"}


@dataclass(frozen=True)
class CourseRef:
    section: int
    experiment: str
    label: str
    metric: str
    value: float
    shown: str
    match: Callable[[Config], bool]
    protocol: dict[str, Any] = field(default_factory=dict)
    table1: bool = False

    def applies(self, section: int | None, experiment: str, config: Config) -> bool:
        return section == self.section and experiment == self.experiment and self.match(config)

    def mismatch(self, config: Config) -> list[str]:
        """Why a run of this experiment is not measured like the course report's number."""
        from dlproj.config.setting import experiment_defaults

        reasons = []
        for key, want in self.protocol.items():
            if want is DEFAULT:
                want = experiment_defaults(self.section, self.experiment).get(key)
            have = config.get(key)
            if have != want:
                reasons.append(_reason(key, have, want))
        return reasons


def _reason(key: str, have: Any, want: Any) -> str:
    if key == "train.epochs":
        return f"{have} of {want} epochs"
    if key in ("data.train_limit", "data.test_limit"):
        split = key.split(".")[1].split("_")[0]
        if want is None:
            return f"{have} {split} images"
        return f"{'all' if have is None else have} of {want} {split} images"
    if key == "dataset.name":
        return f"{_NAMES.get(have, have)}, not {_NAMES.get(want, want)}"
    return f"{key}={have} (course: {'all' if want is None else want})"


def _is(key: str, *values: Any) -> Callable[[Config], bool]:
    return lambda c: c.get(key) in values


def _all(*preds: Callable[[Config], bool]) -> Callable[[Config], bool]:
    return lambda c: all(p(c) for p in preds)


def _pretrained(c: Config) -> bool:
    return c.get("model.weights") not in (None, "none")


def _transfer(pred: Callable[[Config], bool]) -> Callable[[Config], bool]:
    """A transfer setting, not the offline pretraining run (`+params.role=pretrain`)."""
    return lambda c: c.get("params.role") != "pretrain" and pred(c)


# The budgets the course report states (its text gives epochs; data: all of it). sin(x) and
# the gradient check give none: our experiment's defaults stand for them.
_SIN = {"train.epochs": DEFAULT, "params.n_train": DEFAULT, "params.n_test": DEFAULT}
_S2 = {"train.epochs": 12, "data.train_limit": FULL, "data.test_limit": FULL}
_S3 = {"train.epochs": 5, "data.train_limit": FULL, "data.test_limit": FULL}
_S4 = {"dataset.name": "pets", "train.epochs": 3, "data.train_limit": DEFAULT,
       "data.test_limit": FULL}

COURSE: tuple[CourseRef, ...] = (
    CourseRef(1, "sin", "sin(x) approximation, small MLP", "test_mse", 0.0666, "0.0666",
              _is("model.name", "mlp_small"), _SIN),
    CourseRef(1, "sin", "sin(x) approximation, medium MLP", "test_mse", 0.0533, "0.0533",
              _is("model.name", "mlp_medium"), _SIN),
    CourseRef(1, "sin", "sin(x) approximation, big MLP", "test_mse", 0.0101, "0.0101",
              _is("model.name", "mlp_big"), _SIN, table1=True),
    CourseRef(2, "gradcheck", "gradient check, max relative error", "max_rel_error", 9.9e-9,
              "~1e-9 (max 9.9e-9)", lambda c: True, {"params.max_entries": FULL}, table1=True),
    CourseRef(2, "train", "Adam, constant schedule (12 epochs)", "test_acc", 0.97, "≈0.97",
              _all(_is("optimizer.name", "adam"), _is("schedule.name", "constant")), _S2),
    CourseRef(2, "train", "RMSprop, constant schedule (12 epochs)", "test_acc", 0.97, "≈0.97",
              _all(_is("optimizer.name", "rmsprop"), _is("schedule.name", "constant")), _S2),
    CourseRef(3, "cnn", "CNN, max pooling (5 epochs)", "test_acc", 0.9400, "0.9400",
              _all(_is("pooling.name", "max"), _is("model.name", "cnn_small")), _S3,
              table1=True),
    CourseRef(3, "cnn", "CNN, average pooling (5 epochs)", "test_acc", 0.9117, "0.9117",
              _all(_is("pooling.name", "avg"), _is("model.name", "cnn_small")), _S3,
              table1=True),
    CourseRef(3, "receptive_field", "receptive field after the second pool (10x10, stride 4)",
              "rf", 10, "10", lambda c: True),
    CourseRef(4, "compare", "PlainNet (3 epochs)", "val_acc", 0.684, "0.684",
              _all(_is("model.name", "plain"), _is("augmentation.name", "none")), _S4),
    CourseRef(4, "compare", "SmallResNet (3 epochs)", "val_acc", 0.692, "0.692",
              _all(_is("model.name", "resnet"), _is("augmentation.name", "none")), _S4),
    CourseRef(4, "compare", "with augmentation (3 epochs)", "val_acc", 0.668, "0.668",
              _is("augmentation.name", "standard"), _S4),
    CourseRef(4, "compare", "no augmentation (3 epochs)", "val_acc", 0.690, "0.690",
              _all(_is("model.name", "resnet"), _is("augmentation.name", "none")), _S4),
    # Its Table 1 "Training from scratch (SmallResNet)": the compare runs' SmallResNet (ResNet18
    # from scratch is an extra row of ours, beside no course number).
    CourseRef(4, "transfer", "transfer: from scratch (SmallResNet)", "val_acc", 0.692, "0.692",
              _transfer(_all(_is("model.weights", "none"), _is("model.name", "resnet"))), _S4),
    CourseRef(4, "transfer", "transfer: pretrained, frozen backbone", "val_acc", 0.810, "0.810",
              _transfer(_all(_pretrained, _is("model.finetune", "frozen"))), _S4),
    CourseRef(4, "transfer", "transfer: pretrained, fine-tune layer4 + fc", "val_acc", 0.902,
              "0.902", _transfer(_all(_pretrained, _is("model.finetune", "layer4"))), _S4,
              table1=True),
)


def refs_for(section: int | None, experiment: str, config: Config) -> list[CourseRef]:
    return [ref for ref in COURSE if ref.applies(section, experiment, config)]
