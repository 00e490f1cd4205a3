"""Experiments register under (section, name); `section=N experiment=NAME` looks them up here.

Experiment modules (dlproj/experiments/section*.py) import only NumPy-side code at module level,
so listing every experiment never imports torch; Section 4 imports torch inside its functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlproj.errors import ConfigError

if TYPE_CHECKING:
    from dlproj.runtime.context import RunContext

ExperimentFn = Callable[["RunContext"], dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    section: int
    name: str
    fn: ExperimentFn
    summary: str


_REGISTRY: dict[tuple[int, str], Experiment] = {}


def register(section: int, name: str) -> Callable[[ExperimentFn], ExperimentFn]:
    """Decorator: `@register(1, "xor")` makes `python -m dlproj experiment=xor` run the function.

    The function takes a RunContext and returns its final metrics as a dict.
    """

    def deco(fn: ExperimentFn) -> ExperimentFn:
        key = (section, name)
        if key in _REGISTRY and _REGISTRY[key].fn is not fn:
            raise RuntimeError(f"experiment {key} registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTRY[key] = Experiment(section, name, fn, summary)
        return fn

    return deco


def load_all() -> dict[tuple[int, str], Experiment]:
    """Import every module of dlproj.experiments so that their decorators run."""
    import dlproj.experiments as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return dict(_REGISTRY)


def get(section: int, name: str) -> Experiment:
    """The experiment, or a ConfigError that lists what is registered."""
    registry = load_all()
    if (section, name) in registry:
        return registry[(section, name)]
    elsewhere = sorted(s for (s, n) in registry if n == name)
    if elsewhere:
        raise ConfigError(
            f"Invalid value for 'experiment': {name!r} belongs to section {elsewhere[0]}, "
            f"not section {section}. "
            f"Run `python -m dlproj section={elsewhere[0]} experiment={name}`."
        )
    listing = "; ".join(
        f"section {s}: " + ", ".join(sorted(n for (s2, n) in registry if s2 == s))
        for s in sorted({s for s, _ in registry})
    )
    raise ConfigError(
        f"Invalid value for 'experiment': {name!r} is not a registered experiment. "
        f"Registered: {listing}."
    )
