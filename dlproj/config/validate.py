"""Everything checked about a composed config before a run allocates or trains anything.

Types are Hydra's (the schemas in schema.py). On top of that, in this order:
1. the keys every run shares (seed, device, train.*, data.*);
2. each group against its registry (dlproj.config.groups): optimizer, schedule, pooling,
   augmentation, and, for the experiments that read it, dataset;
3. the experiment against what it declared in `@register` (dlproj.experiments.registry): the
   section asked
   for on the command line, the model kind and the model's keys, `params.*` (no unknown key,
   each of its type and range), `checkpoint=`, `device=`, and its own extra check;
4. the memory guard (dlproj.config.memory).
Each failure is one ConfigError naming the key, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from dlproj.config import groups, memory
from dlproj.config.checks import (  # noqa: F401  (check/check_choice: experiments use them)
    check,
    check_choice,
    fail,
    file_exists,
    is_int,
    optional_limit,
    plain,
    positive_int,
)
from dlproj.errors import ConfigError

if TYPE_CHECKING:
    from dlproj.experiments.registry import Experiment

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding and torch.cuda both stop here
DEVICES = ("auto", "cpu", "cuda")


def validate_shared(cfg: DictConfig) -> None:
    """The keys every run shares."""
    check(is_int(cfg.seed) and 0 <= cfg.seed <= SEED_MAX, "seed", cfg.seed,
          f"an integer in [0, {SEED_MAX}]")
    check_choice("device", cfg.device, DEVICES)
    positive_int("train.epochs", cfg.train.epochs)
    positive_int("train.batch_size", cfg.train.batch_size)
    positive_int("train.checkpoint_every", cfg.train.checkpoint_every)
    check(cfg.train.get("log_every") is None or cfg.train.log_every >= 1, "train.log_every",
          cfg.train.get("log_every"), "null (about 50 lines per run) or an integer >= 1")
    check(cfg.train.checkpoint_min_seconds >= 0, "train.checkpoint_min_seconds",
          cfg.train.checkpoint_min_seconds, "a number of seconds >= 0 (0: no floor)")
    es = cfg.train.early_stopping
    positive_int("train.early_stopping.patience", es.patience)
    check(es.mode in (None, "min", "max"), "train.early_stopping.mode", es.mode,
          "min, max, or null (inferred from the metric's name)")
    check(es.min_delta >= 0, "train.early_stopping.min_delta", es.min_delta, "a number >= 0")
    optional_limit("data.train_limit", cfg.data.train_limit)
    optional_limit("data.test_limit", cfg.data.test_limit)
    check(is_int(cfg.data.val_size) and 0 <= cfg.data.val_size < memory.MNIST_TRAIN,
          "data.val_size", cfg.data.val_size,
          f"an integer in [0, {memory.MNIST_TRAIN}) (MNIST has {memory.MNIST_TRAIN} training "
          f"images)")
    check(is_int(cfg.data.split_seed) and 0 <= cfg.data.split_seed <= SEED_MAX,
          "data.split_seed", cfg.data.split_seed, f"an integer in [0, {SEED_MAX}]")
    check(bool(str(cfg.data.root).strip()), "data.root", cfg.data.root,
          "a folder (relative ones are taken from the project root)")


def validate_groups(cfg: DictConfig, uses_dataset: bool) -> None:
    groups.OPTIMIZER.validate(cfg.optimizer, cfg)
    groups.SCHEDULE.validate(cfg.schedule, cfg)
    groups.POOLING.validate(cfg.pooling, cfg)
    groups.AUGMENTATION.validate(cfg.augmentation, cfg)
    if uses_dataset:
        groups.DATASET.validate(cfg.dataset, cfg)


def requested_section(overrides: list[str] | None) -> int | None:
    """The `section=N` given on the command line (quoted or not), if any."""
    for arg in overrides or []:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") == "section":
            value = value.strip("'\"")
            return int(value) if value.isdigit() else None
    return None


def validate_experiment(cfg: DictConfig, exp: Experiment,
                        overrides: list[str] | None = None) -> None:
    """The config against what `exp` declared in `@register`."""
    from dlproj.experiments import registry

    wanted = requested_section(overrides)
    if wanted is not None and wanted != exp.section:
        own = ", ".join(sorted(n for (s, n) in registry.load_all() if s == wanted))
        raise ConfigError(
            f"Invalid value for 'section': {wanted}, but experiment={exp.name} is Section "
            f"{exp.section}'s. Allowed: section={exp.section} with experiment={exp.name}, or one "
            f"of Section {wanted}'s experiments ({own or 'none'}).")
    if exp.models:
        groups.validate_model(cfg.model, cfg, exp.models, exp.name)
    given = plain(cfg.get("params")) or {}
    known = {**registry.SHARED_PARAMS, **exp.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        fail(f"params.{unknown[0]}", given[unknown[0]],
             f"only the params experiment={exp.name} reads: "
             + ", ".join(f"params.{k}" for k in sorted(known)))
    shared = {k: v for k, v in given.items() if k in registry.SHARED_PARAMS}
    for name, value in {**exp.param_values(cfg), **shared}.items():
        spec = known[name]
        ok = False
        try:
            ok = bool(spec.ok(value))
        except (TypeError, ValueError):
            pass
        check(ok, f"params.{name}", value, spec.allowed)
    check(cfg.device in exp.devices, "device", cfg.device,
          f"{', '.join(exp.devices)} for experiment={exp.name}"
          + ("" if "cuda" in exp.devices else " (NumPy runs on the CPU; device=cuda is "
             "Section 4's)"))
    _checkpoint(cfg, exp)
    if exp.check is not None:
        exp.check(cfg)


def _checkpoint(cfg: DictConfig, exp: Experiment) -> None:
    path = cfg.checkpoint
    if path is None:
        return
    if exp.checkpoint is None:
        from dlproj.experiments import registry

        takers = sorted(f"section={e.section} experiment={e.name}"
                        for e in registry.load_all().values() if e.checkpoint)
        fail("checkpoint", path, f"null: experiment={exp.name} does not evaluate checkpoints "
             f"(it would train from scratch); experiments that do: {'; '.join(takers)}")
    p = Path(path)
    check(file_exists(p), "checkpoint", path,
          f"the path of an existing {exp.checkpoint} file written by a run of "
          f"experiment={exp.name} (model{exp.checkpoint} in its run directory)")
    check(p.suffix == exp.checkpoint, "checkpoint", path,
          f"a {exp.checkpoint} file (model{exp.checkpoint} in a run directory of "
          f"experiment={exp.name})")


def guard_memory(cfg: DictConfig, exp: Experiment,
                 available: tuple[int | None, str] | None = None) -> memory.Estimate | None:
    """The memory guard for `exp`'s data and model; None when it declared no data."""
    if exp.data is None:
        return None
    data = exp.data(cfg)
    kind = groups.model_kind(cfg.model) if exp.models else None
    if kind is None or "size" not in groups.MODEL.choices[kind].info:
        model = memory.ModelSize(0, 0, "model")
    else:
        model = groups.MODEL.choices[kind].info["size"](cfg.model, cfg, data.features,
                                                        data.classes)
    return memory.guard(cfg, data, model, available)


def validate(cfg: DictConfig, overrides: list[str] | None = None, *,
             memory_guard: bool = True) -> Experiment:
    """Check `cfg` (and the command line's `overrides`) completely; returns the experiment."""
    from dlproj.experiments import registry

    validate_shared(cfg)
    exp = registry.get(cfg.section, cfg.experiment)
    validate_groups(cfg, exp.uses_dataset)
    validate_experiment(cfg, exp, overrides)
    if memory_guard:
        guard_memory(cfg, exp)
    return exp


def param_range(kind: type | tuple[type, ...], *, lo: float | None = None,
                hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                none_ok: bool = False) -> Any:
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
