"""The study as configuration: `conf/study/NAME.yaml` holds its `title` and `steps` (what runs),
the `conditions` its steps depend on on this machine (dlproj/reproduce/conditions.py), the
`course` report's numbers, the cross-run `figures` and the `claims` (dlproj/claims/); the comments
of conf/study/course.yaml say what each key means. `base: NAME` starts from another study file
and merges this one over it key by key (quick.yaml: course.yaml with small limits). The file is
checked against `StudyFile` (OmegaConf, as Hydra checks conf/); what a schema cannot say (a
`when:` no case enables, an `after:` that names no step or goes round) is checked here.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from dlproj import paths
from dlproj.data import DATASET_NAMES
from dlproj.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{[a-z0-9_]+(?::[a-z0-9_]+)?\}")
STUDY_DIR = paths.CONF_DIR / "study"
DEFAULT = "default"  # a protocol value: the experiment's own default (the course gives none)


# -- the file's schema -----------------------------------------------------------------------

@dataclass
class Step:
    """A step of the study: what `python -m dlproj` runs, with how many seeds, when, after what."""

    id: str = ""  # its key under `steps:`
    title: str | None = None  # null: the step's id
    section: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: int = 1
    when: str | None = None
    after: str | None = None
    cost: float = 60.0  # seconds one job takes on one core: the longest start first, the ETA

    def args(self) -> list[str]:
        """The step as `python -m dlproj` arguments (sweeps as comma lists)."""
        if self.seeds > 1 and "seed" in self.overrides:
            raise ConfigError(f"Step '{self.id}': `seed: {self.overrides['seed']}` in its "
                              f"overrides and {self.seeds} seeds (`seeds:` or --seeds). Allowed: "
                              "one of them: `seeds: N` (seed=0..N-1), or the seeds in `seed:` "
                              "(e.g. \"3,4\") with `seeds: 1`.")
        seeds = [f"seed={','.join(map(str, range(self.seeds)))}"] if self.seeds > 1 else []
        return [f"{k}={v}" for k, v in self.overrides.items()] + seeds

    def command(self) -> str:
        flag = "-m " if len(self.jobs()) > 1 else ""
        return f"python -m dlproj {flag}{' '.join(self.args())}"

    def jobs(self) -> list[list[str]]:
        """Every job of the step: one override list per combination, seed last, as Hydra's basic
        sweeper splits a command line."""
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.errors import OverrideParseException

        # A `{placeholder}` not substituted yet (`{run:pretrain}`) passes through as a token.
        args = self.args()
        found = sorted(set(_PLACEHOLDER.findall(" ".join(args))))
        hidden = [_PLACEHOLDER.sub(lambda m: f"PLACEHOLDER{found.index(m[0])}X", a) for a in args]
        parser, overrides = OverridesParser.create(), []
        for arg, token in zip(args, hidden, strict=True):
            try:
                overrides += parser.parse_overrides([token])
            except OverrideParseException as exc:
                raise ConfigError(f"Step '{self.id}': the override `{arg}` is not one `python "
                                  f"-m dlproj` reads ({str(exc).splitlines()[0]}). Allowed: a "
                                  "value as on Hydra's command line (a comma list is swept; a "
                                  "list or dict as a quoted string, e.g. \"[5,6,7]\").") from None
        (jobs,) = BasicSweeper.split_arguments(overrides, max_batch_size=None)
        # A value not swept stays as the study wrote it (Hydra writes `false` back as False and
        # 1e-3 as 0.001): the same override, and a job's label names only what the step sweeps.
        return [[re.sub(r"PLACEHOLDER(\d+)X", lambda m: found[int(m[1])], v)
                 if o.is_sweep_override() else a
                 for o, a, v in zip(overrides, args, job, strict=True)] for job in jobs]


@dataclass
class Resource:
    """Something a study's steps may need: its `files` and `dirs`, or a `host` to fetch it from."""

    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    host: str | None = None


@dataclass
class Case:
    """What holds when every resource it `needs` is available."""

    needs: list[str] = field(default_factory=list)
    enables: list[str] = field(default_factory=list)
    substitutions: dict[str, str] = field(default_factory=dict)
    notice: str | None = None


@dataclass
class Conditions:
    downloads: bool = False  # whether a missing resource may be fetched (its host is probed)
    resources: dict[str, Resource] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)  # the first whose needs are available holds

    @property
    def names(self) -> set[str]:
        """The conditions a step's `when:` may name."""
        return {name for case in self.cases for name in case.enables}


@dataclass
class CourseNumber:
    """A number of the course report: the runs it describes and the protocol it was measured by."""

    id: str = ""  # its key under `course.numbers:`
    section: int = MISSING
    experiment: str = MISSING
    label: str = MISSING
    metric: str = MISSING
    value: float = MISSING
    shown: str = MISSING
    match: dict[str, Any] = field(default_factory=dict)
    # In the file, the name of one of `course.protocols` (none: no budget to match, e.g. an
    # exact property); once read (course_numbers), that protocol's keys.
    protocol: Any = None
    table1: bool = False

    def applies(self, section: int | None, experiment: str, config: dict[str, Any]) -> bool:
        return (section == self.section and experiment == self.experiment
                and holds(self.match, config))

    def mismatch(self, config: dict[str, Any]) -> list[str]:
        """Why a run of this experiment is not measured like the course report's number."""
        from dlproj.config.setting import experiment_defaults

        reasons = []
        for key, want in self.protocol.items():
            if want == DEFAULT:
                want = experiment_defaults(self.section, self.experiment).get(key)
            if config.get(key) != want:
                # dataset.per_class sets the training images' count too: the limit is then at
                # most what ran
                capped = key == "data.train_limit" and config.get("dataset.per_class") is not None
                reasons.append(_protocol_reason(key, config.get(key), want, capped=capped))
        return reasons


@dataclass
class CourseSpec:
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    numbers: dict[str, CourseNumber] = field(default_factory=dict)


@dataclass
class FigureSpec:
    """A cross-run figure: which runs it compares (those that differ only in `vary`), how drawn."""

    name: str = ""  # its key under `figures:`
    section: int = MISSING
    experiment: str = MISSING
    vary: list[str] = MISSING
    draw: str = MISSING
    caption: str | None = None  # null: its name
    title: str | None = None  # null: its name
    metrics: list[str] = field(default_factory=list)
    csv: str = "metrics.csv"
    match: dict[str, Any] = field(default_factory=dict)


CLAIM_CHOICES = {"direction": ("higher", "lower"), "effect": ("difference", "ratio"),
                 "pairs": ("chain", "first")}


@dataclass
class Claim:
    """A claim of the course report, judged from the runs (dlproj/claims/): its words, the runs
    its `arms` compare, what is measured per run, and the direction it asserts."""

    id: str = ""  # its key under `claims:`
    quote: str = MISSING
    report_section: str = MISSING
    section: int = MISSING
    experiment: str = MISSING
    arms: dict[str, dict[str, Any]] = MISSING
    metric: str = MISSING
    direction: str = MISSING  # higher | lower
    match: dict[str, Any] = field(default_factory=dict)
    epoch: int | None = None
    reach: float | None = None
    over: str | None = None
    effect: str = "difference"  # difference | ratio
    pairs: str = "chain"  # chain | first
    steps: list[str] = field(default_factory=list)
    note: str | None = None  # how the claim's words are measured, where that needs saying

    def measure(self) -> str:
        """What is measured per run, in words ("val_acc at epoch 1")."""
        if self.epoch is not None:
            return f"{self.metric} at epoch {self.epoch}"
        if self.reach is not None:
            return f"epochs to {self.metric} {self.reach:g}"
        return f"{self.metric} / {self.over}" if self.over else self.metric

    def reached(self, value: float) -> bool:
        """Whether `value` of the metric reaches `reach` (at or above it for an accuracy, at or
        below it for a loss or an error: as early stopping reads the metric's name)."""
        return value >= self.reach if _mode(self.metric) == "max" else value <= self.reach


@dataclass
class StudyFile:
    title: str | None = None
    steps: dict[str, Step] = field(default_factory=dict)
    conditions: Conditions | None = None
    course: CourseSpec = field(default_factory=CourseSpec)
    figures: dict[str, FigureSpec] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)


def available() -> list[str]:
    return sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))


def _contents() -> tuple[tuple[str, bytes | None], ...]:
    """Every study file in STUDY_DIR by name, with its bytes (None: unreadable): all a study read
    from there depends on, and so the key of the parses kept below (a file edited, added or
    removed is read again; its mtime is not trusted, which two writes in a tick share)."""
    found = []
    for path in sorted(STUDY_DIR.glob("*.yaml")):
        try:
            found.append((path.name, path.read_bytes()))
        except OSError:
            found.append((path.name, None))
    return tuple(found)


def files(name: str) -> list[Path]:
    """The study file `name` and the files it is based on (`base:`), itself first."""
    return [STUDY_DIR / f"{stem}.yaml" for stem in _parsed(name, _contents())[0]]


def read(name: str) -> StudyFile:
    """The study file `name` (with its bases), checked against StudyFile: a copy of its own (the
    callers fill in ids) of what is parsed and checked once per content of the study files."""
    return copy.deepcopy(_parsed(name, _contents())[2])


@lru_cache(maxsize=32)
def _parsed(name: str, contents: tuple) -> tuple[tuple[str, ...], frozenset | None, StudyFile]:
    """The study file `name` and the files it is based on (`base:`), parsed from STUDY_DIR and
    checked once per content of its files (`contents`, _contents(): the cache key only; the same
    files in another folder parse the same): their stems, itself first; the steps its bases
    have (None: it has no base); the merge of them all over StudyFile. An error is raised again
    on every call (lru_cache keeps no errors)."""
    stems, nodes, stem = [], [], name
    while True:
        path = STUDY_DIR / f"{stem}.yaml"
        # a name, not a path: `../config` would read conf/config.yaml as a study
        if stem not in available() or not path.is_file():
            raise ConfigError(f"Unknown study '{stem}'. Allowed: {', '.join(available())} "
                              f"(files in {STUDY_DIR}).")
        if stem in stems:
            raise ConfigError(f"Study '{stem}': `base` goes round in a circle "
                              f"({' -> '.join(stems)}).")
        try:
            node = OmegaConf.load(path)
        except yaml.YAMLError as exc:
            raise ConfigError(f"Study '{stem}': {path} is not valid YAML: "
                              f"{' '.join(str(exc).split())}.") from None
        base = node.pop("base", None)
        stems.append(stem)
        nodes.append(node)
        if base is None:
            break
        stem = str(base)
    try:
        spec = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(StudyFile),
                                                   *reversed(nodes)))
    except OmegaConfBaseException as exc:
        what = str(exc).splitlines()[0]
        kind = getattr(exc, "object_type", None)
        if isinstance(exc, ConfigKeyError) and dataclasses.is_dataclass(kind):
            # `id` and `name` are filled in from the entry's key, not written in the file.
            fields = [f.name for f in dataclasses.fields(kind) if f.name not in ("id", "name")]
            what = f"unknown field. Allowed: {', '.join(fields)}"
        raise ConfigError(f"In study '{name}', `{exc.full_key}`: {what}.") from None
    inherited = frozenset(k for node in nodes[1:] for k in node.get("steps") or {})
    return tuple(stems), inherited if len(nodes) > 1 else None, spec


# -- the study -------------------------------------------------------------------------------

@dataclass
class Study:
    name: str
    title: str
    steps: list[Step] = field(default_factory=list)
    conditions: Conditions | None = None  # its `conditions:` section, if any

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def with_seeds(self, step_ids: set[str], seeds: int) -> Study:
        """The study with at least `seeds` seeds (seed=0..seeds-1) in each step of `step_ids`:
        the seeds it already has keep their (setting, seed), so the plan runs only the new."""
        for step in self.steps:
            if step.id in step_ids:
                step.seeds = max(step.seeds, seeds)
        return self


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _check_conditions(name: str, conditions: Conditions) -> None:
    where = f"In study '{name}', `conditions:`"
    for i, case in enumerate(conditions.cases, 1):
        unknown = [n for n in case.needs if n not in conditions.resources]
        if unknown:
            raise ConfigError(f"{where}: case {i} needs {unknown}, which are no `resources`. "
                              f"Allowed: {', '.join(sorted(conditions.resources))}.")
    cases = conditions.cases
    if not cases or cases[-1].needs:
        raise ConfigError(f"{where}: `cases` must end with one that needs nothing (`needs: []`)"
                          ": what holds where no resource is available.")
    if any(set(c.substitutions) != set(cases[0].substitutions) for c in cases):
        raise ConfigError(f"{where}: every case must fill the same `substitutions` keys.")


def load(name: str, *, when: set[str] | None = None,
         substitutions: dict[str, str] | None = None) -> Study:
    """The study `name` with only the steps whose `when` is in `when` (all when None), and
    `{placeholder}`s in the values replaced from `substitutions` (e.g. dataset4 -> mnist)."""
    _, inherited, spec = _parsed(name, _contents())
    spec = copy.deepcopy(spec)  # the cached parse stays as read; the steps below get ids
    if spec.conditions is not None:
        _check_conditions(name, spec.conditions)
    allowed = sorted(spec.conditions.names) if spec.conditions else []
    subs = substitutions or {}
    steps = []
    for step_id, step in spec.steps.items():
        where = f"In study '{name}', step '{step_id}'"
        if step.when not in (None, *allowed):
            raise ConfigError(f"{where}: `when: {step.when}`. Allowed: a condition its "
                              "`conditions:` cases enable: "
                              f"{', '.join(allowed) or 'none (the study has no such section)'}.")
        if inherited is not None and step_id not in inherited and step.section < 1:
            others = sorted(inherited)  # a key its `base:` lacks, without a section of its own
            raise ConfigError(f"{where}: no `section:`, so no step of its own. Allowed: a step "
                              f"with `section: N` and `overrides:`, or one of the steps it "
                              f"changes: {', '.join(others)} (a misspelled step name?).")
        if step.seeds < 1:
            raise ConfigError(f"{where}: `seeds: {step.seeds}`. Allowed: an integer >= 1.")
        step.overrides = {key: re.sub(r"\{([^{}]+)\}", lambda m: subs.get(m[1], m[0]), _value(v))
                          for key, v in step.overrides.items()}
        step.id, step.title = step_id, step.title or step_id
        step.args()  # a `seed:` override beside `seeds: N` is refused here
        if when is None or step.when is None or step.when in when:
            steps.append(step)
    ids = {s.id for s in steps}
    for step in steps:
        if step.after is not None and step.after not in ids:
            raise ConfigError(f"In study '{name}', step '{step.id}': `after: {step.after}` "
                              f"names no step. Allowed: {', '.join(sorted(ids))}.")
    after = {s.id: s.after for s in steps}
    for step in steps:  # a step that waits, through others, on itself would never run
        chain = [step.id]
        while (nxt := after.get(chain[-1])) is not None and nxt not in chain:
            chain.append(nxt)
        if nxt == step.id:
            raise ConfigError(f"In study '{name}', step '{step.id}': `after:` goes round in a "
                              f"circle ({' -> '.join([*chain, step.id])}), so no step of it "
                              f"could start. Allowed: a step that runs after another, never "
                              f"after itself.")
    return Study(name, spec.title or name, steps, spec.conditions)


def docs_table(course: Study, quick: Study) -> str:
    """The study table of docs/report.md, generated from the study files (a test compares)."""
    quick_steps = {s.id: s for s in quick.steps}
    lines = ["| step | `make reproduce` (course) | jobs | `make reproduce-quick`: changes | jobs |",
             "| --- | --- | --- | --- | --- |"]
    for step in course.steps:
        q = quick_steps.get(step.id)
        changes = ""
        if q is not None:
            diff = [f"{k}={v}" for k, v in q.overrides.items() if step.overrides.get(k) != v]
            if q.seeds != step.seeds:
                diff.append(f"{q.seeds} seeds")
            changes = f"`{' '.join(diff)}`" if diff else "same"
        when = f" (only {step.when})" if step.when else ""
        lines.append(f"| {step.title}{when} | `{step.command()}` | {len(step.jobs())} | "
                     f"{changes} | {len(q.jobs()) if q else ''} |")
    return "\n".join(lines) + "\n"


# -- the study's facts for the report --------------------------------------------------------

def holds(match: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a flattened config fits `match`: every key has its value (a list: one of them);
    under `not:`, no key has its value. A run that evaluated a saved model (`checkpoint=`)
    fits only a match that names `checkpoint`: its config does not say how that model was
    trained, so it is no course number's, claim's or figure's run."""
    def has(key: str, want: Any) -> bool:
        return config.get(key) in want if isinstance(want, list) else config.get(key) == want

    if config.get("checkpoint") and "checkpoint" not in match:
        return False
    return (all(has(k, v) for k, v in match.items() if k != "not")
            and not any(has(k, v) for k, v in (match.get("not") or {}).items()))


def _protocol_reason(key: str, have: Any, want: Any, *, capped: bool = False) -> str:
    if key == "train.epochs":
        return f"{have} of {want} epochs"
    if key in ("data.train_limit", "data.test_limit"):
        split = key.split(".")[1].split("_")[0]
        most = "at most " if capped and have is not None else ""
        if want is None:
            return f"{most}{have} {split} images"
        return f"{most}{'all' if have is None else have} of {want} {split} images"
    if key == "dataset.name":
        return f"{DATASET_NAMES.get(have, have)}, not {DATASET_NAMES.get(want, want)}"
    return f"{key}={have} (course: {'all' if want is None else want})"


def course_numbers(name: str = "course") -> tuple[CourseNumber, ...]:
    """The `course:` section of the study `name`: its `numbers`, each naming one of its shared
    `protocols` (none: a number without a budget, e.g. an exact property)."""
    course = read(name).course
    for key, n in course.numbers.items():
        if n.protocol is not None and (not isinstance(n.protocol, str)
                                       or n.protocol not in course.protocols):
            raise ConfigError(f"In study '{name}', course number '{key}': `protocol: "
                              f"{n.protocol}` names no protocol. Allowed: "
                              f"{', '.join(course.protocols)}.")
        n.id, n.protocol = key, course.protocols.get(n.protocol) or {}
    return tuple(course.numbers.values())


def claims(name: str = "course") -> tuple[Claim, ...]:
    """The `claims:` of the study `name`, in its order, each checked: two arms at least, its
    choices, one way of measuring, steps the study has."""
    spec = read(name)
    for key, claim in spec.claims.items():
        where = f"In study '{name}', claim '{key}'"
        for option, allowed in CLAIM_CHOICES.items():
            if getattr(claim, option) not in allowed:
                raise ConfigError(f"{where}: `{option}: {getattr(claim, option)}`. Allowed: "
                                  f"{' or '.join(allowed)}.")
        if len(claim.arms) < 2:
            raise ConfigError(f"{where}: {len(claim.arms)} arm(s). Allowed: two or more "
                              "`arms:` (label: match), in the order the claim asserts.")
        ways = [k for k in ("epoch", "reach", "over") if getattr(claim, k) is not None]
        if len(ways) > 1:
            raise ConfigError(f"{where}: both `{ways[0]}` and `{ways[1]}`. Allowed: one of "
                              "epoch, reach, over (or none: the final value).")
        if claim.reach is not None and _mode(claim.metric) is None:
            raise ConfigError(f"{where}: `reach: {claim.reach}` of `metric: {claim.metric}`, "
                              "which does not say whether higher or lower is better. Allowed: "
                              "a metric named *_acc, *_loss, *_mse or *error.")
        unknown = [s for s in claim.steps if s not in spec.steps]
        if unknown:
            raise ConfigError(f"{where}: `steps: {unknown}` names no step. Allowed: "
                              f"{', '.join(spec.steps)}.")
        claim.id = key
    return tuple(spec.claims.values())


def _mode(metric: str) -> str | None:
    """max or min: how early stopping reads a metric's name (None when it says neither)."""
    from dlproj.training.loop import infer_mode

    try:
        return infer_mode(metric)
    except ConfigError:
        return None


def figures(name: str = "course") -> tuple[FigureSpec, ...]:
    """The `figures:` of the study `name`, in the order the report shows them."""
    specs = read(name).figures
    for key, spec in specs.items():
        spec.name, spec.caption, spec.title = key, spec.caption or key, spec.title or key
    return tuple(specs.values())
