"""Everything checked about a composed config before a run allocates or trains anything (README's
"What is checked"), each failure one ConfigError naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from itertools import groupby
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dlproj import paths
from dlproj.config.checks import Built, check, config_file
from dlproj.config.overrides import check_section, explain
from dlproj.config.schema import Config
from dlproj.config.setting import EXCLUDED_KEYS as MACHINE_LOCAL
from dlproj.errors import ConfigError, check_knobs
from dlproj.experiments import registry
from dlproj.runtime import memory

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def choices(group: str) -> dict[str, str]:
    """The files of conf/<group>/ and the `_target_` each builds: {"adam": "dlproj.optim...."}.
    Read with libyaml: OmegaConf.load of a group's files took a tenth of a second of every run."""
    return {f.stem: str((yaml.load(f.read_text(), Loader=_LOADER) or {}).get("_target_", ""))
            for f in sorted((paths.CONF_DIR / group).glob("*.yaml"))}


def check_group(group: str, cfg: DictConfig) -> None:
    """A group's node: its name is a choice that builds its `_target_`, then its schema's rules."""
    node = cfg[group]
    named = sorted(n for n, t in choices(group).items() if t == node.get("_target_"))
    check(node.name in named, f"{group}.name", node.name,
          f"{' or '.join(named) or 'none'} (the name of the choice this node was made from; "
          f"choose another with `{group}=NAME`: {', '.join(choices(group))})")
    OmegaConf.get_type(node).check(node, cfg)


def _experiments(where: Callable[[registry.Experiment], Any]) -> list[str]:
    """The experiments `where` holds for, as "section=S experiment=E", sorted."""
    return sorted(f"section={e.section} experiment={e.name}"
                  for e in registry.load_all().values() if where(e))


def param_readers(name: str) -> list[str]:
    """The experiments that read `params.NAME`."""
    return _experiments(lambda e: name in e.params)


def check_experiment(cfg: DictConfig, exp: registry.Experiment,
                     overrides: list[str] | None = None) -> None:
    """The config against what `exp` declared in `@register`."""
    if exp.models:
        takes = [f"model={n}" for n, t in choices("model").items() if t in exp.model_targets]
        check(cfg.model.get("_target_") in exp.model_targets, "model", cfg.model.get("name"),
              f"a model experiment={exp.name} takes: {', '.join(takes)}")
        check_group("model", cfg)
    given = OmegaConf.to_container(cfg.params)
    known = {**registry.SHARED_PARAMS, **exp.params}
    unknown = sorted(set(given) - set(known))
    if unknown:  # another experiment's, or none's: not a value to fix
        readers = param_readers(unknown[0])
        raise ConfigError(
            f"Invalid key 'params.{unknown[0]}' ({given[unknown[0]]!r}): experiment={exp.name} "
            f"does not read it. Allowed: the params it reads, "
            f"{', '.join(f'params.{k}' for k in sorted(known))}"
            + (f"; params.{unknown[0]} is read by {'; '.join(readers)}" if readers else "")
            + ".")
    shared = {k: v for k, v in given.items() if k in registry.SHARED_PARAMS}
    for name, value in {**exp.param_values(cfg), **shared}.items():
        spec = known[name]
        ok = False
        with suppress(TypeError, ValueError):
            ok = bool(spec.ok(value))
        check(ok, f"params.{name}", value, spec.allowed)
    check(cfg.device in exp.devices, "device", cfg.device,
          f"{', '.join(exp.devices)} for experiment={exp.name}"
          + ("" if "cuda" in exp.devices else " (NumPy runs on the CPU; device=cuda is "
             "Section 4's)"))
    path = cfg.checkpoint
    if path is not None:
        if exp.checkpoint is None:
            takers = _experiments(lambda e: e.checkpoint)
            does = "train from scratch" if "train" in exp.reads else "not read it"
            check(False, "checkpoint", path, f"null: experiment={exp.name} does not evaluate "
                  f"checkpoints (it would {does}); experiments that do: {'; '.join(takers)}")
        # The file evaluate_checkpoint loads: a relative PATH from the project root, as
        # data.root and model.weights are, whatever the working directory.
        config_file("checkpoint", path,
                    f"the path of an existing {exp.checkpoint} file written by a run of "
                    f"experiment={exp.name} (model{exp.checkpoint} in its run directory; a "
                    f"relative one is taken from the project root, as data.root is)",
                    (exp.checkpoint,), f"a {exp.checkpoint} file (model{exp.checkpoint} in a run "
                    f"directory of experiment={exp.name})")
    if exp.check is not None:
        exp.check(cfg)


def check_reads(exp: registry.Experiment, overrides: list[str] | None,
                evaluating: bool = False) -> None:
    """A group of registry.GROUPS that `exp` does not read, chosen or set on the command line
    (`pooling=avg`, `pooling.name=avg`, `+dataset.classes=[1]`, `train.epochs=3` for an experiment
    that trains nothing), is refused: the run would ignore it yet record it as a setting of its
    own, a report row whose results are the default's. `evaluating` (a `checkpoint=` that `exp`
    evaluates instead of training): only what it reads then (`exp.evaluates`, groups or
    `train.KEY`s) is allowed; `optimizer=`, `train.epochs=7`, ... are refused likewise. What
    conf/ composes (the defaults, a `debug=` preset's train.* for every section) is not the
    command line's."""
    def named(group: str) -> str:  # a config group by its choice, `train` by its keys
        return f"{group}=" if (paths.CONF_DIR / group).is_dir() else f"{group}.*"

    def reads(key: str, group: str) -> bool:
        if not evaluating:
            return group in exp.reads
        return any(key == r or key.startswith(f"{r}.") or r.startswith(f"{key}.")
                   for r in exp.evaluates)

    for arg in overrides or []:
        key, _, value = arg.partition("=")
        key = key.lstrip("+~")
        group = key.split(".")[0].split("@")[0]
        if key in MACHINE_LOCAL:  # where the data is, whether it may be fetched: no setting
            continue
        training_only = evaluating and any(key == k or key.startswith(f"{k}.")
                                           for k in exp.trains_with)
        if not training_only and (group not in registry.GROUPS
                                  or reads(key.split("@")[0], group)):
            continue
        if evaluating:
            reading = ", ".join(r if "." in r else named(r) for r in exp.evaluates) or "none"
            raise ConfigError(
                f"Invalid value for '{key}': {value}, but checkpoint= evaluates only: section "
                f"{exp.section}'s experiment {exp.name} given checkpoint=PATH loads that model "
                f"and trains nothing, so {key}={value} would change nothing; of "
                f"{', '.join([*map(named, registry.GROUPS), *exp.trains_with])} it then reads "
                f"{reading}. Allowed: "
                f"leave it out when evaluating, or leave checkpoint= out to train.")
        readers = sorted((e.section, e.name) for e in registry.load_all().values()
                         if group in e.reads)
        where = "; ".join(f"section={s} experiment={'|'.join(n for _, n in names)}"
                          for s, names in groupby(readers, key=lambda r: r[0]))
        raise ConfigError(
            f"Invalid value for '{key}': {value}, but section {exp.section}'s experiment "
            f"{exp.name} does not read {named(group)}"
            f"{' (nor its keys)' if named(group).endswith('=') else ''}, so it would change "
            f"nothing; of {', '.join(map(named, registry.GROUPS))} it reads "
            f"{', '.join(map(named, exp.reads)) or 'none'}. Allowed: leave it out, or an "
            f"experiment that reads it ({where or 'none'}).")


def undeclared(node: DictConfig, prefix: str = "") -> None:
    """Refuse a key no schema declares (`+foo=bar`, `+model.dropout=0.5`: `+` adds a key past
    Hydra's own check), like a typo; dict-typed nodes (`params`, `logger`) have their own rules."""
    kind = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(kind):
        return
    fields = [f.name for f in dataclasses.fields(kind)]
    for key in node:
        if key not in fields:
            raise ConfigError(
                f"Unknown key '{prefix}{key}': no schema declares it, so nothing would read it "
                f"(a `+` override adds any key). Allowed under {prefix.rstrip('.') or 'the top'}: "
                f"{', '.join(f for f in fields if not f.startswith('_'))}.")
        value = node._get_node(key)
        if isinstance(value, DictConfig) and not value._is_none():
            undeclared(value, f"{prefix}{key}.")


def switches_given_as_switches(cfg: DictConfig, overrides: list[str] | None) -> None:
    """Refuse a true/false key given anything but true or false: OmegaConf reads `figures=2` or
    `data.download=0` as a bool (and "yes", "off", ...), so a typo would pass as a choice."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf.nodes import BooleanNode

    parser = OverridesParser.create()
    for arg in overrides or []:
        try:
            override = parser.parse_override(arg)
        except Exception:  # noqa: BLE001 - Hydra has read it already; not one to check here
            continue
        key = override.key_or_group
        if override.is_delete() or override.is_sweep_override() or key.startswith("hydra"):
            continue
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
        if not isinstance(node, DictConfig) or name not in node:  # a group's choice (debug=)
            continue
        if isinstance(node._get_node(name), BooleanNode) and not isinstance(override.value(),
                                                                             bool):
            raise ConfigError(f"Invalid value for '{key}': {arg.partition('=')[2]}. Allowed: "
                              f"true or false.")


def validate(cfg: DictConfig, overrides: list[str] | None = None) -> registry.Experiment:
    """Check `cfg` (and the command line's `overrides`) completely; returns the experiment."""
    check_knobs()  # the environment's numbers and switches
    try:  # a sweep's job `KEY=${...}` that does not resolve (a single run's: Hydra refuses it)
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(explain(exc, overrides or [], param_readers) or str(exc)) from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"Missing value for '{missing[0]}': it is ??? (required). Allowed: "
                          f"give it on the command line, e.g. `python -m dlproj {missing[0]}=...`"
                          f"; `python -m dlproj --cfg job` shows every value.")
    undeclared(cfg)
    switches_given_as_switches(cfg, overrides)
    Config.check(cfg)
    exp = registry.get(cfg.section, cfg.experiment)
    # A sweep's job of another section's experiment (`section=1 'experiment=glob(*)'`; plain
    # values: before Hydra, check_choices), said before any key it does not read: that key is
    # not what is wrong. Its message, from conf/.
    asked = next((a.partition("=")[2].strip("'\"") for a in overrides or []  # the first wins
                  if a.partition("=")[0].lstrip("+~") == "section"), "")
    if asked.isdigit() and int(asked) != exp.section:
        check_section(asked, exp.name)
    # checkpoint= evaluates a saved model (an experiment that takes none is refused below).
    check_reads(exp, overrides, cfg.checkpoint is not None and exp.checkpoint is not None)
    # The groups every run composes and the memory guard reads (optimizer.name), whether or not
    # the experiment does; `dataset` only where it is read (its rules are Section 4's).
    every = ("optimizer", "schedule", "pooling", "augmentation")
    for group in (*every, *(("dataset",) if "dataset" in exp.reads else ())):
        check_group(group, cfg)
    for name, node in (cfg.get("logger") or {}).items():  # the trackers chosen: their rules
        # `logger` is a dict of any: `logger.csv=null` or `logger.mlflow=5` passes the schema
        check(isinstance(node, DictConfig), f"logger.{name}", node, "a logger's own keys, "
              f"set one at a time (`logger.{name}.KEY=...`); no tracker: leave it out of logger=")
        getattr(OmegaConf.get_type(node), "check", Built.cross_check)(node, cfg)
    check_experiment(cfg, exp, overrides)
    memory.guard(cfg, exp)
    return exp
