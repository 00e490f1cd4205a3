"""Experiments register under (section, name); `section=N experiment=NAME` looks them up here.

Each registration also declares what the experiment accepts: the model builders it takes (the
`_target_`s of `model=` files), its `params.*` (type, default, range), whether it takes
`checkpoint=` (and which file), the devices, the optional config groups it reads (`reads`), and
the data it holds (for the memory guard).
dlproj.runtime.validate checks a composed config against that before anything is allocated.

Experiment modules (dlproj/experiments/section*.py) import only NumPy-side code at module level,
so listing every experiment never imports torch; Section 4 imports torch inside its functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlproj.errors import ConfigError

ExperimentFn = Callable[[Any], dict[str, Any]]  # RunContext -> final metrics


NUMPY_DEVICES = ("auto", "cpu")
TORCH_DEVICES = ("auto", "cpu", "cuda")

# The config groups conf/config.yaml composes for every run that an experiment may leave unread,
# and `train` (the keys only `fit` reads): each experiment declares in `reads` those it does
# read, and a choice or key of another one given on the command line is refused
# (dlproj.runtime.validate) rather than run, recorded as a setting of its own and shown as a
# separate row of the report with results identical to the default's.
GROUPS = ("optimizer", "schedule", "pooling", "augmentation", "dataset", "train", "data")
TRAINING = ("optimizer", "schedule", "train")  # what a run of `fit` reads: the update, its lr
#                                                by epoch and train.* (epochs, batch_size, ...)


@dataclass(frozen=True)
class Param:
    """One `params.<name>` an experiment reads: its default and what it may be."""

    default: Any
    ok: Callable[[Any], bool]
    allowed: str


def param_range(kind: type | tuple[type, ...], *, lo: float | None = None,
                hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                none_ok: bool = False) -> Callable[[Any], bool]:
    """A `Param.ok` test: of `kind` (bool never counts as a number), within [lo, hi]."""

    def ok(v: Any) -> bool:
        if v is None:
            return none_ok
        if isinstance(v, bool) or not isinstance(v, kind) or v != v:
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return not (hi is not None and (v >= hi if hi_open else v > hi))

    return ok


# `params.*` that every experiment accepts because a tool around the run reads them.
SHARED_PARAMS: dict[str, Param] = {
    # The final metric each job returns to the sweeper (Optuna: hydra/sweeper=optuna).
    "objective": Param("val_acc", lambda v: isinstance(v, str) and bool(v.strip()),
                       "the name of a final metric (what the job returns), e.g. val_acc"),
}


def objective_name(cfg: DictConfig) -> str:
    """What a run returns to the sweeper: `params.objective`, else its default (val_acc)."""
    given = OmegaConf.select(cfg, "params.objective", throw_on_resolution_failure=False)
    return str(given or SHARED_PARAMS["objective"].default)


@dataclass(frozen=True)
class Experiment:
    section: int
    name: str
    fn: ExperimentFn
    summary: str
    # The model builders it takes: callables, or their `_target_` strings where importing the
    # builder would import torch (Section 4).
    models: tuple[Callable[..., Any] | str, ...] = ()
    params: dict[str, Param] = field(default_factory=dict)
    checkpoint: str | None = None  # the file suffix of `checkpoint=` (.npz / .pt), None: refused
    devices: tuple[str, ...] = NUMPY_DEVICES
    reads: tuple[str, ...] = ()  # the GROUPS it reads (built or looked at), e.g. TRAINING
    # What it reads when `checkpoint=` makes it evaluate a saved model instead of training: GROUPS
    # or `train.KEY`s (Section 4: train.precision, the forward pass's arithmetic). Every other
    # group of `reads` is refused with `checkpoint=` (dlproj.runtime.validate.check_reads).
    evaluates: tuple[str, ...] = ()
    # Keys outside GROUPS that only its training reads (Section 4: model.weights, where the
    # training starts from, and model.finetune, what trains): `checkpoint=` loads a whole model
    # and trains nothing, so these are refused with it as the groups above are.
    trains_with: tuple[str, ...] = ()
    # What it holds (a footprint.DataSize), for the memory guard.
    data: Callable[[DictConfig], Any] | None = None
    check: Callable[[DictConfig], None] | None = None  # anything the above cannot say

    @property
    def on_torch(self) -> bool:
        """Whether it runs on torch (Section 4: it may take the GPU), on torch's threads."""
        return "cuda" in self.devices

    @property
    def model_targets(self) -> tuple[str, ...]:
        """The `_target_` strings of the models it takes."""
        return tuple(m if isinstance(m, str) else f"{m.__module__}.{m.__qualname__}"
                     for m in self.models)

    def param_values(self, cfg: DictConfig) -> dict[str, Any]:
        return param_values(cfg, self.params)


def param_values(cfg: DictConfig, params: dict[str, Param]) -> dict[str, Any]:
    """`params.*` of `cfg` with the declared defaults filled in."""
    given = cfg.get("params") or {}
    return {k: given.get(k, p.default) for k, p in params.items()}


_REGISTRY: dict[tuple[int, str], Experiment] = {}


def register(section: int, name: str, **spec: Any) -> Callable[[ExperimentFn], ExperimentFn]:
    """Decorator: `@register(1, "xor", models=(build_mlp,))` makes `python -m dlproj
    experiment=xor` run the function; `spec` holds the Experiment fields that say what it
    accepts.

    The function takes a RunContext and returns its final metrics as a dict.
    """

    def deco(fn: ExperimentFn) -> ExperimentFn:
        key = (section, name)
        unknown = set(spec.get("reads", ())) - set(GROUPS)
        if unknown:
            raise RuntimeError(f"experiment {key} reads {sorted(unknown)}: not in GROUPS")
        reads = spec.get("reads", ())
        unread = [g for g in spec.get("evaluates", ()) if g.split(".")[0] not in reads]
        if unread:
            raise RuntimeError(f"experiment {key} evaluates with {unread}: not in its reads")
        if key in _REGISTRY and _REGISTRY[key].fn is not fn:
            raise RuntimeError(f"experiment {key} registered twice")
        summary = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())  # its 1st paragraph
        _REGISTRY[key] = Experiment(section, name, fn, summary, **spec)
        return fn

    return deco


def load_all() -> dict[tuple[int, str], Experiment]:
    """Import every module of this package (dlproj.experiments) so that their decorators run."""
    import dlproj.experiments as package

    for mod in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{mod.name}")
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
