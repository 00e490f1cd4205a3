"""The command line, checked where Hydra would print a search path or a stack trace instead:
`check_choices` before Hydra runs (with `check_section`: `section=` against the section
`experiment=`'s file sets; runtime/validate.py checks each job of a sweep with it), `explain` for
what Hydra raises while it composes. Each gives one paragraph of ConfigError text; the entry
point exits 2 with it.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable

from omegaconf import OmegaConf
from omegaconf.errors import (
    ConfigKeyError,
    InterpolationResolutionError,
    MissingMandatoryValue,
    OmegaConfBaseException,
)

from dlproj import paths
from dlproj.config.checks import allowed_for, closest, nearest
from dlproj.config.choices import groups
from dlproj.errors import ConfigError

# Hydra's settings a run's lifecycle rests on (conf/config.yaml): Hydra writes nothing into a run
# directory, so nothing is written there before its owner holds the lock (runtime/owner.py).
PINNED = {"hydra.output_subdir": (None, "null: the run's owner writes .hydra/ once it holds "
                                        "the run directory's lock"),
          "hydra/job_logging": ("console", "console: the run's owner writes dlproj.log"),
          "hydra.job.chdir": (False, "false: paths are read from where dlproj was started")}
# The folders a run or sweep writes into: empty, Hydra would write into the working directory.
FOLDERS = {"hydra.run.dir": "a run", "hydra.sweep.dir": "a sweep",
           "hydra.sweep.subdir": "each job of a sweep (inside hydra.sweep.dir)"}
# hydra.utils.instantiate's own keys: set by a group's files (conf/GROUP/CHOICE.yaml), which
# the checks of its choice read; from the command line they would build another object unchecked.
BUILD_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")


# The flags that ask Hydra for a multirun.
MULTIRUN = ("-m", "--multirun")
# The groups whose choice is a list (`logger=[csv,mlflow]`); every other group takes one choice.
LIST_GROUPS = ("logger",)


# What Hydra's override grammar reads as one plain value; anything else (a comma: a sweep; a
# space, quote, bracket, brace, `=`, `$`, non-ASCII) is quoted by `override`.
_PLAIN = re.compile(r"[A-Za-z0-9_./@%+-]+")


def override(key: str, value: object) -> str:
    """`key=value` as Hydra reads it back as the same string: a path dlproj hands to Hydra (a
    run or sweep directory, a checkpoint) may hold a comma or a space (`DLPROJ_OUTPUTS`)."""
    text = str(value)
    if not _PLAIN.fullmatch(text):
        text = '"' + re.sub(r'(\\*)("|$)', lambda m: m[1] * 2 + ("\\" + m[2] if m[2] else ""),
                            text).replace("${", "\\${") + '"'
    return f"{key}={text}"


def as_written(args: list[str]) -> str:
    """A job's overrides as a command line writes them, for people to read: Hydra's sweep hands
    a job `section=2 figures=false` as `section='2' figures=False`. What is no plain value (a
    list, a sweep, an interpolation, a quoted path) is shown as given."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, shown = OverridesParser.create(), []
    for arg in args:
        try:
            parsed = parser.parse_override(arg)
            key, value = parsed.get_key_element(), parsed.value()
        except Exception:  # a job's overrides parse; this is only a display
            key, value = None, None
        if isinstance(value, bool) or value is None and key and not parsed.is_delete():
            arg = f"{key}={'null' if value is None else str(value).lower()}"
        elif isinstance(value, (int, float)) or isinstance(value, str) and _PLAIN.fullmatch(value):
            arg = f"{key}={value}"
        shown.append(arg)
    return " ".join(shown)


def value_of(arg: str) -> str:
    """The value of one `key=value` override as the run's config holds it: quotes taken off and
    `${...}` read as Hydra and OmegaConf do."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return str(OmegaConf.create({"v": OverridesParser.create().parse_override(arg).value()}).v)


def parsed(args: list[str]) -> list:
    """A command line's overrides as Hydra parses them (its flags left out, as it does); a
    ConfigError for what it cannot parse."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    words = get_args_parser().parse_args(args).overrides
    try:
        return OverridesParser.create().parse_overrides(words)
    except OverrideParseException as exc:
        raise ConfigError(f"Cannot read the command line: {' '.join(str(exc).split())}. "
                          f"Allowed: KEY=VALUE, GROUP=CHOICE, a list as KEY=[a,b], a sweep as "
                          f"KEY=a,b (with -m); quote values with spaces.") from None


def check_choices(args: list[str]) -> None:
    """ConfigError for an override Hydra cannot parse or a group choice (each value of a sweep,
    each item of `logger=[...]`) with no file in conf/GROUP/: one naming the nearest choice; and
    for what Hydra would take and the run then fail on (`check_form`)."""
    known, plain = groups(), {}
    overrides = parsed(args)
    sweeper = next((str(o.value()) for o in overrides if o.key_or_group == "hydra/sweeper"
                    and not o.is_delete()), "basic")
    for override in overrides:
        check_form(override, known, sweeper)
        group = override.key_or_group
        if group in PINNED and (override.is_delete() or override.value() != PINNED[group][0]):
            given = override.input_line.partition("=")[2] if not override.is_delete() else "~"
            raise ConfigError(f"Invalid value for '{group}': {given!r}. Allowed: "
                              f"{PINNED[group][1]} (dlproj's own setting).")
        if group not in known or override.is_delete():
            continue
        values = swept(override, known) if override.is_sweep_override() else override.value()
        if not isinstance(values, list):
            plain.setdefault(group, str(values).strip("'\""))
        elif not override.is_sweep_override() and group not in LIST_GROUPS:
            raise ConfigError(
                f"Invalid value for '{group}': {override.input_line.partition('=')[2]}, a list, "
                f"but a run takes one {group}. Allowed: one of {', '.join(known[group])} (files "
                f"in conf/{group}/); several, one run each: `-m {group}=A,B`.")
        for value in values if isinstance(values, list) else [values]:
            value = str(value).strip("'\"")
            if value not in known[group] and value not in ("null", "None"):
                raise ConfigError(
                    f"Invalid value for '{group}': {value!r}{nearest(value, known[group])}. "
                    f"Allowed: one of {', '.join(known[group])} (files in conf/{group}/).")
    if {"section", "experiment"} <= set(plain):  # swept: each job's own (runtime/validate.py)
        check_section(plain["section"], plain["experiment"])


def check_form(override, known: dict[str, list[str]], sweeper: str) -> None:
    """ConfigError for an override of a form Hydra takes but no dlproj run can: a key deleted
    (`~train`: every key is read), instantiate's own keys (`optimizer._target_=...`), a group set
    to null, an empty run or sweep folder (Hydra would write into the working directory), a sweep
    of no values, an interval with a sweeper that only enumerates (Hydra's basic one), and an
    Optuna sweep of no trials or no direction."""
    key, line = override.key_or_group, override.input_line
    root = key.replace("/", ".").partition(".")[0]
    if not key:
        raise ConfigError(f"Cannot read {line!r}: it names no key. Allowed: KEY=VALUE or "
                          f"GROUP=CHOICE (`python -m dlproj --help` lists them).")
    if root == "hydra":
        if key in FOLDERS and override.is_sweep_override():  # `hydra.run.dir=/tmp/x,y`
            given = line.partition("=")[2]
            raise ConfigError(
                f"Invalid value for '{key}': {given}, read as several folders (a comma sweeps "
                f"values). Allowed: one folder; one whose name holds a comma quoted, "
                f"e.g. '{key}=\"{given}\"' in the shell.")
        value = None if override.is_delete() or override.is_sweep_override() else \
            override.value()
        if key in FOLDERS and (override.is_delete() or value is None or not str(value).strip()):
            raise ConfigError(
                f"Invalid value for '{key}': {'~' if override.is_delete() else repr(value)}, "
                f"which names no folder (Hydra would write into the working directory). "
                f"Allowed: the folder {FOLDERS[key]} writes into; leave it out for dlproj's "
                f"(under DLPROJ_OUTPUTS, default outputs/).")
        _check_search(key, value, override, sweeper)
        return
    if override.is_delete():
        raise ConfigError(
            f"Cannot delete '{key}' ({line}): a dlproj run reads every key its config declares. "
            f"Allowed: leave it out to keep its default (`python -m dlproj --cfg job` shows "
            f"it), or give it another value.")
    built = next((part for part in key.split(".") if part in BUILD_KEYS), None)
    if built is not None:
        group = key.partition(".")[0]
        choices = f"a choice of {group}: {', '.join(known[group])}" if group in known else \
            "leave it out"
        raise ConfigError(
            f"Invalid key '{key}': what builds {group} ({built}) comes from the file of its "
            f"choice in conf/{group}/, whose rules check the rest of its keys; it is not set on "
            f"the command line. Allowed: {choices}.")
    if key in known and not override.is_sweep_override() and override.value() is None:
        raise ConfigError(f"Invalid value for '{key}': null. Allowed: one of "
                          f"{', '.join(known[key])} (files in conf/{key}/).")
    if override.is_sweep_override():
        from hydra.core.override_parser.types import IntervalSweep

        if isinstance(override.value(), IntervalSweep):
            if sweeper == "basic":
                raise ConfigError(
                    f"Invalid value for '{key}': {line.partition('=')[2]}: Hydra's basic "
                    f"sweeper runs a list of values, not an interval. Allowed: values as "
                    f"`{key}=a,b,c` or `{key}=range(START,STOP,STEP)`; an interval with a "
                    f"sweeper that samples one (hydra/sweeper=section2, Optuna).")
        elif not swept(override, known):
            e_g = (f"`{key}={','.join(known[key][:2])}` or `{key}=glob(PATTERN)` of its choices "
                   f"({', '.join(known[key])})" if key in known  # a group: no range() of it
                   else f"`{key}=range(0,3)` or `{key}=VALUE1,VALUE2`")
            raise ConfigError(
                f"Invalid value for '{key}': {line.partition('=')[2]} sweeps no values, so the "
                f"sweep would run nothing. Allowed: a sweep of at least one value, e.g. {e_g}.")


def swept(override, known: dict[str, list[str]]) -> list[str]:
    """The values a sweep override runs, as Hydra expands them (a `glob(...)` of a group: the
    choices it matches); a ConfigError for one Hydra cannot expand (`range(0,3,0)`,
    `range(0,2),5`, a glob of what is no group)."""
    from hydra.core.override_parser.types import Glob
    from hydra.errors import HydraException

    key, given = override.key_or_group, override.input_line.partition("=")[2]
    if isinstance(override.value(), Glob):
        if key in known:
            return override.value().filter(known[key])
        why = "glob() picks among a config group's choices, and this is no group"
    else:
        try:
            return list(override.sweep_string_iterator())
        except (ValueError, TypeError, HydraException, OmegaConfBaseException) as exc:
            said = " ".join(str(exc).split("full_key:")[0].split()).rstrip(".")
            why = f"Hydra cannot expand it ({said})"
    raise ConfigError(
        f"Invalid value for '{key}': {given}: {why}. Allowed: a sweep of values, "
        f"`{key}=a,b,c`, `{key}=range(START,STOP[,STEP])` (STEP not 0), `{key}=choice(a,b)`, "
        f"or, for a group, `GROUP=glob(PATTERN)` (its choices that match).")


def _check_search(key: str, value: object, override, sweeper: str) -> None:
    """An Optuna sweeper's `n_trials` (at least 1) and `direction` (minimize or maximize: one,
    as a run returns one value; a list made every trial fail)."""
    if sweeper == "basic" or override.is_sweep_override() or override.is_delete():
        return
    if key == "hydra.sweeper.n_trials" and not (
            isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ConfigError(f"Invalid value for '{key}': {value!r}. Allowed: a whole number of "
                          f"trials, at least 1.")
    if key == "hydra.sweeper.direction" and str(value).lower() not in ("minimize", "maximize"):
        raise ConfigError(f"Invalid value for '{key}': {value!r}. Allowed: minimize or "
                          f"maximize (one: each run returns one value, params.objective), or "
                          f"leave it out (its objective's own).")


def check_section(section: str, experiment: str) -> None:
    """ConfigError when `experiment` is another section's: conf/experiment/NAME.yaml sets its
    own `section`, so the run (and `--cfg job`) would silently be that section's instead."""
    owner = {f.stem: m[1] for f in sorted((paths.CONF_DIR / "experiment").glob("*.yaml"))
             if (m := re.search(r"^section: *'?(\d+)", f.read_text(), re.M))}
    if experiment in owner and section != owner[experiment]:
        own = ", ".join(n for n, s in owner.items() if s == section)
        raise ConfigError(
            f"Invalid value for 'section': {section}, but experiment={experiment} is Section "
            f"{owner[experiment]}'s. Allowed: section={owner[experiment]} with "
            f"experiment={experiment}, or one of Section {section}'s experiments "
            f"({own or 'none'}).")


_ONE_KEY = ("one of its keys at a time, e.g. `{key}.NAME=...` (`python -m dlproj --cfg job` "
            "shows them)")  # a value given for a node of keys
_HINTS = {  # what OmegaConf says -> the form the value takes
    "is not a ListConfig": "a list in brackets, e.g. `{key}=[{value}]`",
    "to Integer": "an integer, e.g. `{key}=10`",
    "to Float": "a number, e.g. `{key}=0.01`",
    "valid bool": "true or false",
    "to string": "one value, not a list",
    "is not a subclass of": _ONE_KEY,
    "Cannot assign": _ONE_KEY,
}
_ITEMS = {  # ... of an item of a list: what each item is
    "to Integer": "integers, e.g. `{key}=[64,32]`",
    "to Float": "numbers, e.g. `{key}=[0.1,0.01]`",
    "valid bool": "true/false values, e.g. `{key}=[true,false]`",
}


def explain(exc: BaseException, args: list[str],
            readers: Callable[[str], list[str]] = lambda name: []) -> str | None:
    """One paragraph for an error Hydra raised while composing `args` (a value of the wrong type,
    an unknown key, ...) naming the key, the value and the form it takes; or None (not one of
    those: a bug, shown as it is). `readers(name)`: the experiments that read `params.NAME`
    (runtime/validate.param_readers; the registry of experiments stands on this module)."""
    from hydra.errors import HydraException, MissingConfigException

    if isinstance(exc, ConfigError):  # dlproj's own, from inside Hydra (a launcher's settings)
        return str(exc)
    missing = getattr(exc, "missing_cfg_file", None) or ""
    if isinstance(exc, MissingConfigException) and exc.options and "/" in missing:
        # a choice of Hydra's own groups (hydra/launcher=jobib): its options, not its search
        # path; `_`-named ones are dlproj's internals
        group, _, value = missing.rpartition("/")
        options = [o for o in exc.options if not o.startswith("_")]
        return (f"Invalid value for '{group}': {value!r}{nearest(value, options)}. Allowed: "
                f"one of {', '.join(options)}.")
    cause = exc
    while cause.__cause__ is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__
    if isinstance(exc, ValueError) and any(  # Hydra's own flags, e.g. -m --cfg
            "/hydra/" in f.filename for f in traceback.extract_tb(exc.__traceback__)[-1:]):
        return (f"{' '.join(str(exc).split())}. Allowed: `python -m dlproj --help` shows the "
                f"forms a command line takes; `--hydra-help` Hydra's flags.")
    if not isinstance(exc, (HydraException, OmegaConfBaseException)):
        return None
    key = getattr(cause, "full_key", None) or ""
    pairs = [(a.partition("=")[0].lstrip("+~"), a.partition("=")[2]) for a in args]
    given = dict(pairs)
    first = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    # A key no config declares, at the top (`trian.epochs`: not in struct) or inside a node
    # (`train.epoch`: a key the schema lacks): one paragraph, whatever level it is misspelled at.
    if (isinstance(cause, ConfigKeyError) or "not in struct" in first
            or "Could not override" in str(exc)):
        missing = key if key in given else next((k for k in given if f"'{k}'" in str(exc)),
                                                key or "?")
        return _unknown_key(missing, args, readers)
    if key and key in given and "is not Optional" in first:  # `model.width=null`
        said = allowed_for(getattr(cause, "object_type", None), str(getattr(cause, "key", "")))
        return (f"Invalid value for '{key}': null, but '{key}' takes a value"
                f"{f'. Allowed: {said}' if said else ''} (`python -m dlproj --cfg job` shows "
                f"its default; leave it out for that).")
    listed = re.sub(r"(\[\d+\])+$", "", key)  # `model.hidden[0]`: an item of the list given
    if key and listed != key and listed in given:
        if said := _rule_of(listed, [a for a, (k, _) in zip(args, pairs, strict=True)
                                     if k != listed]):
            return f"Invalid value for '{listed}': {given[listed]}. Allowed: {said}."
        form = next((f for words, f in _ITEMS.items() if words in first), None)
        return (f"Invalid value for '{listed}': {given[listed]}. Allowed: a list of "
                f"{form.format(key=listed) if form else 'values of its kind'}.")
    if isinstance(cause, MissingMandatoryValue) and key and key not in given:
        # a required key of Hydra's own settings (hydra/sweeper=joblist's jobs_file)
        whose = (" (hydra/sweeper=joblist runs the jobs of the file `python -m dlproj.reproduce` "
                 "writes; a sweep of your own: no hydra/sweeper=, or optuna)"
                 if key == "hydra.sweeper.jobs_file" else "")
        return (f"Missing value for '{key}': it is ??? (required). Allowed: `{key}=VALUE` on "
                f"the command line{whose}.")
    # `${...}` as typed: a sweep's job has it escaped (`$\{oc.env\:X\}`)
    interpolated = [(k, re.sub(r"\\(.)", r"\1", v) if "$\\{" in v else v) for k, v in pairs
                    if "${" in v or "$\\{" in v]
    if isinstance(cause, InterpolationResolutionError) and interpolated:
        name, value = next(((k, v) for k, v in interpolated if k == key), interpolated[0])
        return (f"Invalid value for '{name}': {value}: {first.rstrip('.')}. Allowed: a plain "
                f"value, or an interpolation that resolves (an environment variable that is set, "
                f"a key the config has).")
    if key and key in given:  # of the values given for it, the one the message quotes
        value = next((v for k, v in pairs if k == key and f"'{v}'" in first), given[key])
        form = next((f for words, f in _HINTS.items() if words in first), None)
        said = allowed_for(getattr(cause, "object_type", None), str(getattr(cause, "key", "")))
        if form is not None and "to string" in first and said:
            form = f"{form}: {said}"
        elif said and "is not a ListConfig" in first:  # its rule's words, not `[VALUE]`, which
            # the rule may refuse (dataset.classes=[3]: two labels at least)
            form = said if "[" in said else f"{said}, in brackets: `{{key}}=[...]`"
        if form is not None:
            return (f"Invalid value for '{key}': {value}. Allowed: "
                    f"{form.format(key=key, value=value)}.")
        return f"Invalid value for '{key}': {value}. {first}."
    text = " ".join(str(exc).split())
    return text if text.endswith(".") else text + "."


def _unknown_key(missing: str, args: list[str],
                 readers: Callable[[str], list[str]] = lambda name: []) -> str:
    """An unknown key, named against the config of the command's own group choices: the
    nearest key it has, or the choices of the key's group that take it (`optimizer=adam
    optimizer.momentum=0.9`: momentum and sgd do)."""
    known_groups = groups()
    chosen = [o.input_line for o in parsed(args)  # the group choices given, sweeps left out
              if o.key_or_group in known_groups and not o.is_sweep_override()]
    own = _composed(chosen)
    cfg, leaves = own or _composed([]) or (None, [])
    group = missing.partition(".")[0]
    if group == "params" and own is not None:  # another experiment's param: `+` would not do
        who = readers(missing.partition(".")[2])
        if who and not any(w.endswith(f" experiment={cfg.experiment}") for w in who):
            return (f"Unknown key '{missing}': experiment={cfg.experiment} does not read it. "
                    f"Allowed: the params it reads (`python -m dlproj --cfg job "
                    f"{as_written(chosen)}` shows them); {missing} is read by "
                    f"{'; '.join(who)}.")
    if "." in missing and group in known_groups and cfg is not None:
        others = [a for a in chosen if not a.startswith(f"{group}=")]
        takes = [f"{group}={c}" for c in known_groups[group]
                 if any(k == missing or k.startswith(f"{missing}.")
                        for k in (_composed([*others, f"{group}={c}"]) or (None, []))[1])]
        if takes:
            now = next((a for a in chosen if a.startswith(f"{group}=")), None) or (
                f"{group}={cfg.hydra.runtime.choices.get(group) or ','.join(cfg[group])}")
            shown = " ".join(["python -m dlproj --cfg job", as_written(chosen)]).rstrip()
            return (f"Unknown key '{missing}': {as_written([now])} does not take it. Allowed: "
                    f"a key `{shown}` shows, or a choice of {group} that takes it: "
                    f"{', '.join(takes)}.")
    # A misspelled group or node (`optimzer=sgd`) is nearest its name, not one of its keys; a
    # key of a node there is nearest the node's own keys (`train.foo` is no typo of `train`).
    known = list(dict.fromkeys(k.rsplit(".", n)[0] for k in leaves for n in range(3)))
    parent, _, last = missing.rpartition(".")
    hint = nearest(missing, known)
    if parent in known or (parent and cfg is not None
                           and OmegaConf.select(cfg, parent, default=None) is not None):
        siblings = {k.rpartition(".")[2]: k for k in known if k.rpartition(".")[0] == parent}
        match = closest(last, siblings)
        hint = f" (did you mean {siblings[match]}?)" if match else ""
    return (f"Unknown key '{missing}'{hint}: no config declares "
            f"it. Allowed: a key `python -m dlproj --cfg job` shows (a new key needs "
            f"`+{missing}=...` and a schema that reads it).")


def _rule_of(key: str, others: list[str]) -> str:
    """What `key`'s schema rule allows, in words, read from conf/ composed with the `others`
    (the command line less the value at fault: its choices say which schema); '' if none."""
    composed = _composed(others)
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(composed[0], parent, default=None) if composed and parent else None
    return allowed_for(OmegaConf.get_type(node), leaf) if node is not None else ""


def _composed(overrides: list[str]) -> tuple | None:
    """(conf/ composed with these overrides, Hydra's node kept; its keys), or None."""
    from dlproj.config.compose import compose_config
    from dlproj.config.setting import flatten

    try:
        cfg = compose_config(overrides, keep_hydra=True)
        body = {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items()
                if k != "hydra"}
    except Exception:  # a combination that does not compose: no keys from it
        return None
    return cfg, list(flatten(body))
