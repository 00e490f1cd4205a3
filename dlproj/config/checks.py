"""What every group's schema shares: `Built`, the keys hydra.utils.instantiate reads, and the
check helpers, each of which raises a ConfigError naming the key, the value and what is allowed,
in one paragraph."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from dlproj.errors import check


@dataclass
class Built:
    """A group node that names what it builds (`_target_`: a class or function), bound to its
    keys and called with the run-time arguments (`_partial_`; dlproj/build.py)."""

    _target_: str = MISSING
    _partial_: bool = True

    @staticmethod
    def check(node: DictConfig, cfg: DictConfig) -> None:
        """The group's rules beyond its schema's types (here: none but the choice itself)."""


# False while a plan is checked whose input files an earlier step of it will write
# (`make reproduce`: the transfer runs read the pretraining run's model.pt).
_files_checked: ContextVar[bool] = ContextVar("files_checked", default=True)


@contextmanager
def files_written_later() -> Iterator[None]:
    """Within the block, `file_exists` accepts any path: everything else is still checked."""
    token = _files_checked.set(False)
    try:
        yield
    finally:
        _files_checked.reset(token)


def file_exists(path: str | Path) -> bool:
    """Whether `path` names a file ('' never does, even while a plan's files are written later)."""
    return bool(str(path).strip()) and (not _files_checked.get() or Path(path).is_file())


def plain(value: Any) -> Any:
    """Config nodes as plain lists/dicts, so messages show `[8, 16]`, not a node's repr."""
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = sorted(choices)
    check(value in choices, key, value, "one of " + ", ".join(choices))


def text(key: str, value: Any, allowed: str) -> None:
    """A string with something in it: '' (or blanks) names no folder, column, store or name;
    read as "not given" it would fall back on a default the user never chose (MLflow's:
    ./mlflow.db in the current directory)."""
    check(isinstance(value, str) and bool(value.strip()), key, value, allowed)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value \
        and abs(value) != float("inf")


def integer(key: str, value: Any, low: int = 1, high: int | None = None, *,
            null: str | None = None) -> None:
    """An integer >= `low` (and <= `high`); with `null`, null too (what null means)."""
    ok = is_int(value) and value >= low and (high is None or value <= high)
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    check(ok or (null is not None and value is None), key, value,
          allowed if null is None else f"null ({null}) or {allowed}")


def in_unit(key: str, value: Any) -> None:
    check(is_number(value) and 0.0 <= value < 1.0, key, value, "a number in [0, 1)")


def positive(key: str, value: Any) -> None:
    check(is_number(value) and value > 0, key, value, "a number > 0")


def int_list(key: str, value: Any, *, allow_empty: bool, example: str) -> list[int]:
    items = plain(value)
    ok = isinstance(items, list) and (allow_empty or items) and all(
        is_int(v) and v >= 1 for v in items)
    check(bool(ok), key, items,
          f"a {'' if allow_empty else 'non-empty '}list of integers >= 1, e.g. {example}")
    return items
