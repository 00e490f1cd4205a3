"""A run's *setting*: what it computed, as a short hash and a readable label.

Two runs are the same setting when their resolved configs agree on every key that can change a
result: the seed (seeds of one setting are averaged), where things are read or written, threads,
workers and other knobs that give the same numbers to round-off, tracker keys, Hydra's
instantiation keys (the choice's `name` says which object) and `device` (a GPU is only another
machine) are left out (`is_excluded`). A file a run reads (FILE_KEYS) counts by its file name as
recorded, however the path is typed and without reading the disk, so a pretraining run redone
elsewhere leaves its followers, and a setting recomputed later, the same. Keys that runs
recorded before each group had its own schema carry but never read (RETIRED), and keys added
since at the value those runs computed with (ADDED), are left out: old runs keep their settings.

The label lists every key that differs from the experiment's own defaults (`conf/experiment/`)
and every key given on the command line even at its default (`-m optimizer=sgd,adam` labels the
Adam runs `optimizer=adam` too); a group by its choice (`model=mlp_small`), its sub-keys only
where they differ from that choice's file. `setting_of` is the one place this is computed: the
runner records it in `results.json`, the report and `dlproj.reproduce` recompute it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from dlproj import paths
from dlproj.config.cache import ComposeCache
from dlproj.config.compose import compose
from dlproj.training.resume_rules import ADDED

EXCLUDED_KEYS = frozenset({"seed", "resume", "device", "figures", "data.root", "data.download"})
EXCLUDED_PREFIXES = ("hydra.", "logger.", "loggers.", "tracker.", "metadata.", "threads.")
EXCLUDED_SUFFIXES = ("threads", "workers", "channels_last", "conv_algorithm", "checkpoint_every",
                     "checkpoint_min_seconds", "progress", "log_every")
INSTANTIATION = frozenset({"_target_", "_partial_", "_convert_", "_recursive_", "_args_"})
# group -> choice -> the keys the group's single schema gave every choice until 2026-12-05 and
# this choice never read.
RETIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "optimizer": {"sgd": ("alpha", "beta1", "beta2", "eps"),
                  "momentum": ("alpha", "beta1", "beta2", "eps"),
                  "rmsprop": ("nesterov", "beta1", "beta2"),
                  "adam": ("momentum", "nesterov", "alpha"),
                  "adamw": ("momentum", "nesterov", "alpha")},
    "schedule": {"constant": ("step_size", "gamma", "min_lr"), "step": ("min_lr",),
                 "exponential": ("step_size", "min_lr"), "cosine": ("step_size", "gamma")},
    "model": {"resnet18": ("depth", "width")},
}
# Config groups shown by their choice (`model=mlp_small`) rather than key by key.
GROUPS = ("model", "optimizer", "schedule", "pooling", "augmentation", "dataset")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".npz")
# The keys that name a file the run reads: `checkpoint=` (every section) and Section 4's
# `model.weights=PATH` (besides none / imagenet).
FILE_KEYS = ("checkpoint", "model.weights")


@dataclass(frozen=True)
class Setting:
    id: str
    label: str


def is_excluded(key: str) -> bool:
    """Whether a flattened config key is left out of the setting (see the module doc)."""
    last = key.rsplit(".", 1)[-1]
    return (key in EXCLUDED_KEYS or key.startswith(EXCLUDED_PREFIXES)
            or last.endswith(EXCLUDED_SUFFIXES) or last in INSTANTIATION)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become tuples; an empty mapping adds no key."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items()
                for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: canonical(obj, prefix[:-1])}


def canonical(value: Any, key: str = "") -> Any:
    """A value as the setting sees it: lists as tuples, a file a run reads by its file name (the
    value of a FILE_KEYS `key` however typed; elsewhere a path to a checkpoint)."""
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, str):
        path = key in FILE_KEYS or ("/" in value and value.endswith(_CHECKPOINT_SUFFIXES))
        name = PurePath(value).name
        if path and name.endswith(_CHECKPOINT_SUFFIXES):
            return f".../{name}"
    return value


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened config keys that make the setting (see the module's docstring)."""
    flat = flatten(config)
    gone = {f"{group}.{key}" for group, by_choice in RETIRED.items()
            for key in by_choice.get(flat.get(f"{group}.name"), ())}
    gone |= {key for key, value in ADDED.items() if flat.get(key, value) == value}
    return {k: v for k, v in flat.items() if not is_excluded(k) and k not in gone}


def setting_of(config: dict[str, Any], given: list[str] | None = None) -> Setting:
    """The setting of a resolved config (a plain nested dict, as in results.json); `given`, the
    command line's overrides, names keys the label shows even at their default value."""
    ident = identity(config)
    named = {o.partition("=")[0].lstrip("+~") for o in given or []}  # `optimizer=adam`: optimizer
    shown = {k for k in named if k in GROUPS or (k in ident and k not in ("section", "experiment"))}
    return Setting(_digest(ident), label(ident, shown))


def setting_id(config: dict[str, Any]) -> str:
    """`setting_of(config).id` without the label (which composes the experiment's defaults)."""
    return _digest(identity(config))


def _digest(ident: dict[str, Any]) -> str:
    """The setting's id: a hash of its identity (setting_of has it already, setting_id makes it)."""
    blob = json.dumps(sorted(ident.items()), default=str, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def label(ident: dict[str, Any], shown: set[str] = frozenset()) -> str:
    """Every key of `ident` that differs from its experiment's defaults or is `shown` (given on
    the command line), `group=choice` first."""
    section, experiment = ident.get("section"), ident.get("experiment")
    try:
        defaults = experiment_defaults(section, experiment)
        choices = tuple((g, ident[f"{g}.name"]) for g in GROUPS
                        if (ident.get(f"{g}.name") != defaults.get(f"{g}.name") or g in shown)
                        and (paths.CONF_DIR / g / f"{ident.get(f'{g}.name')}.yaml").is_file())
        if choices:
            defaults = experiment_defaults(section, experiment, choices)
    except Exception:  # an experiment or choice that no longer exists: nothing to compare with
        return "?"
    parts = [f"{g}={n}" for g, n in choices]
    parts += [f"~{key}" if key not in ident else f"{key}={fmt_value(ident[key])}"
              for key in sorted(set(ident) | set(defaults))
              if key not in ident or key not in defaults or ident[key] != defaults[key]
              or key in shown]
    return " ".join(parts) or "defaults"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ",".join(fmt_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):  # as a command line writes it
        return str(value).lower()
    return str(value)


@lru_cache(maxsize=256)
def experiment_defaults(section: Any, experiment: Any,
                        choices: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """The setting keys of an experiment run with nothing on the command line but `choices`
    ((group, choice) pairs); composed once per conf/ (dlproj.config.cache)."""
    overrides = (f"section={section}", f"experiment={experiment}",
                 *(f"{g}={n}" for g, n in choices))
    cache = _compose_cache(paths.outputs_root())
    found = cache.get("defaults", overrides)
    if found is None:
        found = cache.put("defaults", overrides, identity(compose(list(overrides))))
        cache.save()
    return {key: canonical(value, key) for key, value in found.items()}  # JSON's lists: tuples


@lru_cache(maxsize=4)
def _compose_cache(outputs: Path) -> ComposeCache:
    return ComposeCache(outputs)
