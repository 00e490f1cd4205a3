"""The course report's numbers (`shared/seed`, sections 4.1-4.4 and its Table 1), matched to runs.

Each reference says which runs it describes by a predicate on the run's flattened config, and which
final metric it reports. The report shows the matching number beside ours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Config = dict[str, Any]


@dataclass(frozen=True)
class StudyRef:
    section: int
    experiment: str
    label: str
    metric: str
    value: float
    shown: str
    match: Callable[[Config], bool]
    table1: bool = False
    note: str = ""

    def applies(self, section: int | None, experiment: str, config: Config) -> bool:
        return section == self.section and experiment == self.experiment and self.match(config)


def _is(key: str, *values: Any) -> Callable[[Config], bool]:
    return lambda c: c.get(key) in values


def _all(*preds: Callable[[Config], bool]) -> Callable[[Config], bool]:
    return lambda c: all(p(c) for p in preds)


def _pretrained(c: Config) -> bool:
    return c.get("model.weights") not in (None, "none")


def _transfer(pred: Callable[[Config], bool]) -> Callable[[Config], bool]:
    """A transfer setting, not the offline pretraining run (`+params.role=pretrain`)."""
    return lambda c: c.get("params.role") != "pretrain" and pred(c)


_PETS = "study on Oxford-IIIT Pet (cat/dog)"

# First match wins when a group of runs is labelled with one study number.
STUDY: tuple[StudyRef, ...] = (
    StudyRef(1, "sin", "sin(x) approximation, small MLP", "test_mse", 0.0666, "0.0666",
             _is("model.name", "mlp_small")),
    StudyRef(1, "sin", "sin(x) approximation, medium MLP", "test_mse", 0.0533, "0.0533",
             _is("model.name", "mlp_medium")),
    StudyRef(1, "sin", "sin(x) approximation, big MLP", "test_mse", 0.0101, "0.0101",
             _is("model.name", "mlp_big"), table1=True),
    StudyRef(2, "gradcheck", "gradient check, max relative error", "max_rel_error", 9.9e-9,
             "~1e-9 (max 9.9e-9)", lambda c: True, table1=True),
    StudyRef(2, "train", "Adam, constant schedule (12 epochs)", "test_acc", 0.97, "≈0.97",
             _all(_is("optimizer.name", "adam"), _is("schedule.name", "constant"))),
    StudyRef(2, "train", "RMSprop, constant schedule (12 epochs)", "test_acc", 0.97, "≈0.97",
             _all(_is("optimizer.name", "rmsprop"), _is("schedule.name", "constant"))),
    StudyRef(3, "cnn", "CNN, max pooling (5 epochs)", "test_acc", 0.9400, "0.9400",
             _is("pooling.name", "max"), table1=True),
    StudyRef(3, "cnn", "CNN, average pooling (5 epochs)", "test_acc", 0.9117, "0.9117",
             _is("pooling.name", "avg"), table1=True),
    StudyRef(3, "receptive_field", "receptive field after the second pool (10x10, stride 4)",
             "rf", 10, "10", lambda c: True),
    StudyRef(4, "compare", "PlainNet (3 epochs)", "val_acc", 0.684, "0.684",
             _all(_is("model.name", "plain"), _is("augmentation.name", "none")), note=_PETS),
    StudyRef(4, "compare", "SmallResNet (3 epochs)", "val_acc", 0.692, "0.692",
             _all(_is("model.name", "resnet"), _is("augmentation.name", "none")), note=_PETS),
    StudyRef(4, "compare", "with augmentation (3 epochs)", "val_acc", 0.668, "0.668",
             _is("augmentation.name", "standard"), note=_PETS),
    StudyRef(4, "compare", "no augmentation (3 epochs)", "val_acc", 0.690, "0.690",
             _all(_is("model.name", "resnet"), _is("augmentation.name", "none")), note=_PETS),
    StudyRef(4, "transfer", "transfer: from scratch", "val_acc", 0.692, "0.692",
             _transfer(_is("model.weights", "none")), note=_PETS),
    StudyRef(4, "transfer", "transfer: pretrained, frozen backbone", "val_acc", 0.810, "0.810",
             _transfer(_all(_pretrained, _is("model.finetune", "frozen"))), note=_PETS),
    StudyRef(4, "transfer", "transfer: pretrained, fine-tune layer4 + fc", "val_acc", 0.902,
             "0.902", _transfer(_all(_pretrained, _is("model.finetune", "layer4"))), table1=True,
             note=_PETS),
)


def first_match(section: int | None, experiment: str, config: Config) -> StudyRef | None:
    for ref in STUDY:
        if ref.applies(section, experiment, config):
            return ref
    return None
