"""What every group's schema shares: `Built`, the keys hydra.utils.instantiate reads, and the
rules of its fields (`ruled`), each failure a ConfigError naming the key, the value and what is
allowed, in one paragraph."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from dlproj.errors import check
from dlproj.paths import as_given, resolve_path


@dataclass(frozen=True)
class Rule:
    """rule(key, value): ConfigError unless `ok(value)`, saying what is `allowed` (read for the
    message of a value the schema's type refuses first, a null, too) and `hint(value)`."""

    ok: Callable[[Any], bool]
    allowed: str
    hint: Callable[[Any], str] = lambda value: ""

    def __call__(self, key: str, value: Any) -> None:
        if not self.ok(value):
            check(False, key, value, self.allowed + self.hint(value))


def allowed_for(schema: Any, name: str) -> str:
    """What field `name` of the dataclass `schema` allows, in words: its rule's text, else its
    type's (an integer, a number, ...); '' when neither says."""
    fields = dataclasses.fields(schema) if dataclasses.is_dataclass(schema) else ()
    f = next((f for f in fields if f.name == name), None)
    if f is None:
        return ""
    if "rule" in f.metadata:
        return f.metadata["rule"].allowed
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    return {"int": "an integer", "float": "a number", "str": "a string",
            "bool": "true or false"}.get(kind.split("|")[0].strip(), "")


def ruled(default: Any, rule: Rule) -> Any:
    """A schema field whose value `rule` checks (check_rules); a list default is copied."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


def check_rules(node: DictConfig) -> None:
    """The rule of each field of `node`'s schema that has one, named by its full key."""
    prefix = node._get_full_key(None)  # OmegaConf's own name for the node: `optimizer`
    for f in dataclasses.fields(OmegaConf.get_type(node)):
        if "rule" in f.metadata:
            f.metadata["rule"](f"{prefix}.{f.name}".lstrip("."), node[f.name])


@dataclass
class Built:
    """A group node that names what it builds (`_target_`: a class or function), bound to its
    keys and called with the run-time arguments (`_partial_`; dlproj/build.py)."""

    _target_: str = MISSING
    _partial_: bool = True

    @classmethod
    def check(cls, node: DictConfig, cfg: DictConfig) -> None:
        """The group's rules beyond its schema's types: each field's, then `cross_check`."""
        check_rules(node)
        cls.cross_check(node, cfg)

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        """The rules between keys, or against the rest of the config (here: none)."""


# False while a plan is checked whose input files an earlier step of it will write
# (`make reproduce`: the transfer runs read the pretraining run's model.pt).
_files_checked: ContextVar[bool] = ContextVar("files_checked", default=True)


@contextmanager
def files_written_later() -> Iterator[None]:
    """Within the block, `config_file` takes any path but '' for a file that exists: everything
    else is still checked."""
    token = _files_checked.set(False)
    try:
        yield
    finally:
        _files_checked.reset(token)


def config_file(key: str, given: str, allowed: str, suffixes: tuple[str, ...],
                wrong_kind: str, *, gone_ok: bool = False) -> None:
    """A file that config key `key` names (`checkpoint=`, `model.weights`): ConfigError unless it
    exists (`gone_ok`: it need not; within files_written_later, any path does but '') and its
    name ends in one of `suffixes` (else `wrong_kind` is what is allowed), as resolve_path takes
    it; the messages show it as_given."""
    exists = bool(given.strip()) and (not _files_checked.get() or resolve_path(given).is_file())
    check(gone_ok or exists, key, given, allowed, shown=f"{as_given(given)}, which is not a file")
    check(resolve_path(given).suffix in suffixes, key, given, wrong_kind, shown=as_given(given))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(allowed: str, ok: Callable[[float], bool], *, null: bool = False) -> Rule:
    """A finite number for which `ok` holds (with `null`, null too)."""
    return Rule(lambda v: (null and v is None) or (isinstance(v, int | float) and not isinstance(
        v, bool) and math.isfinite(v) and ok(v)), allowed)


POSITIVE = number("a number > 0", lambda v: v > 0)
AT_LEAST_ZERO = number("a number >= 0", lambda v: v >= 0)
IN_UNIT = number("a number in [0, 1)", lambda v: 0 <= v < 1)


def integer(low: int = 1, high: int | None = None, *, null: str | None = None,
            allowed: str = "") -> Rule:
    """An integer >= `low` (and <= `high`); with `null`, null too (what null means)."""
    allowed = allowed or (f"an integer >= {low}" if high is None
                          else f"an integer in [{low}, {high}]")
    return Rule(lambda v: (null is not None and v is None)
                or (is_int(v) and v >= low and (high is None or v <= high)),
                allowed if null is None else f"null ({null}) or {allowed}")


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option closest to a mistyped `word`, if any is close: letter case aside first
    (`BF16-mixed` is bf16-mixed, not the nearer 16-mixed)."""
    options = list(options)
    by_case = {o.lower(): o for o in options}
    if word.lower() in by_case:
        return by_case[word.lower()]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return close[0] if close else None


def nearest(word: str, options: Iterable[str]) -> str:
    """' (did you mean X?)' for the option closest to a mistyped `word`, else ''."""
    close = closest(word, options)
    return f" (did you mean {close}?)" if close else ""


def one_of(choices: Iterable[str], note: str = "") -> Rule:
    """A value among `choices` (`note`: where one of them is not for every run); a near miss is
    told the nearest (`model.activation=rleu`: did you mean relu?)."""
    choices = sorted(choices)
    return Rule(lambda v: v in choices, "one of " + ", ".join(choices) + note,
                lambda v: nearest(v, choices) if isinstance(v, str) else "")


def text(allowed: str, *, nullable: bool = False) -> Rule:
    """A string with something in it: '' (or blanks) names no folder, column, store or name;
    read as "not given" it would fall back on a default the user never chose (MLflow's:
    ./mlflow.db in the current directory)."""
    return Rule(lambda v: (nullable and v is None) or (isinstance(v, str) and bool(v.strip())),
                allowed)


def int_list(*, allow_empty: bool, example: str) -> Rule:
    """Widths or channels (the schema types the field a list: Hydra refuses `hidden=256`)."""
    return Rule(lambda v: (allow_empty or len(v) > 0) and all(is_int(i) and i >= 1 for i in v),
                f"a {'' if allow_empty else 'non-empty '}list of integers >= 1, e.g. {example}")
