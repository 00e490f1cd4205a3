"""The study as configuration: `conf/study/NAME.yaml` read into steps, and steps into jobs.

A study file has a `title` and `steps` (see conf/study/course.yaml for the fields); `base: NAME`
starts from another study file and merges this one over it key by key (quick.yaml adds small
limits to course.yaml's steps). A step's `overrides` map a key to a `python -m dlproj` override
value; a value with commas is swept exactly as Hydra's command line would (Hydra's own override
parser expands it), and `seeds: N` adds `seed=0,...,N-1`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlproj import paths
from dlproj.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{[a-z0-9_]+(?::[a-z0-9_]+)?\}")
STUDY_DIR = paths.CONF_DIR / "study"


@dataclass
class Step:
    id: str
    title: str
    section: int
    overrides: dict[str, str]
    seeds: int = 1
    when: str | None = None
    after: str | None = None
    cost: float = 60.0

    def args(self) -> list[str]:
        """The step as `python -m dlproj` arguments (sweeps as comma lists)."""
        seeds = [f"seed={','.join(map(str, range(self.seeds)))}"] if self.seeds > 1 else []
        return [f"{k}={v}" for k, v in self.overrides.items()] + seeds

    def command(self) -> str:
        flag = "-m " if len(self.jobs()) > 1 else ""
        return f"python -m dlproj {flag}{' '.join(self.args())}"

    def jobs(self) -> list[list[str]]:
        """Every job of the step: one override list per combination, seed last."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create()
        # A `{placeholder}` not substituted yet (`{run:pretrain}`) passes through as a token.
        holders = {f"PLACEHOLDER{i}X": m for i, m in enumerate(
            sorted(set(_PLACEHOLDER.findall(" ".join(self.args())))))}
        axes = []
        for arg in self.args():
            for token, text in holders.items():
                arg = arg.replace(text, token)
            override = parser.parse_override(arg)
            key = override.get_key_element()
            if override.is_sweep_override():
                values = [f"{key}={v}" for v in override.sweep_string_iterator()]
            else:
                values = [f"{key}={override.get_value_element_as_str()}"]
            for token, text in holders.items():
                values = [v.replace(token, text) for v in values]
            axes.append(values)
        return [list(combo) for combo in itertools.product(*axes)]


@dataclass
class Study:
    name: str
    title: str
    steps: list[Step] = field(default_factory=list)
    conditions: Conditions | None = None  # its `conditions:` section, if any

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def available() -> list[str]:
    return sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))


def _raw(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    from omegaconf import OmegaConf

    path = STUDY_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"Unknown study '{name}'. Allowed: {', '.join(available())} "
                          f"(files in {STUDY_DIR}).")
    if name in seen:
        raise ConfigError(f"Study '{name}': `base` goes round in a circle ({' -> '.join(seen)}).")
    node = OmegaConf.load(path)
    base = node.pop("base", None)
    if base is not None:
        node = OmegaConf.merge(_raw(str(base), (*seen, name)), node)
    return OmegaConf.to_container(node)


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def load(name: str, *, when: set[str] | None = None,
         substitutions: dict[str, str] | None = None) -> Study:
    """The study `name` with only the steps whose `when` is in `when` (all when None), and
    `{placeholder}`s in the values replaced from `substitutions` (e.g. dataset4 -> mnist)."""
    raw = _raw(name)
    conditions = _conditions(name, raw.get("conditions"))
    allowed = sorted(conditions.names) if conditions else []
    steps = []
    for step_id, spec in (raw.get("steps") or {}).items():
        where = f"study '{name}', step '{step_id}'"
        unknown = set(spec) - {"title", "section", "overrides", "seeds", "when", "after", "cost"}
        if unknown:
            raise ConfigError(f"In {where}: unknown field(s) {sorted(unknown)}. Allowed: title, "
                              "section, overrides, seeds, when, after, cost.")
        if spec.get("when") not in (None, *allowed):
            raise ConfigError(f"In {where}: `when: {spec['when']}`. Allowed: a condition its "
                              "`conditions:` cases enable: "
                              f"{', '.join(allowed) or 'none (the study has no such section)'}.")
        seeds = spec.get("seeds", 1)
        if not isinstance(seeds, int) or seeds < 1:
            raise ConfigError(f"In {where}: `seeds: {seeds}`. Allowed: an integer >= 1.")
        overrides = {str(k): _value(v) for k, v in (spec.get("overrides") or {}).items()}
        for key, value in overrides.items():
            for placeholder, text in (substitutions or {}).items():
                value = value.replace("{" + placeholder + "}", text)
            overrides[key] = value
        step = Step(step_id, str(spec.get("title", step_id)), int(spec.get("section", 0)),
                    overrides, seeds, spec.get("when"), spec.get("after"),
                    float(spec.get("cost", 60)))
        if when is None or step.when is None or step.when in when:
            steps.append(step)
    ids = {s.id for s in steps}
    for step in steps:
        if step.after is not None and step.after not in ids:
            raise ConfigError(f"In study '{name}', step '{step.id}': `after: {step.after}` "
                              f"names no step. Allowed: {', '.join(sorted(ids))}.")
    return Study(name, str(raw.get("title", name)), steps, conditions)


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


def docs_path() -> Path:
    return paths.PROJECT_ROOT / "docs" / "report.md"


# --- The study's `conditions:` section: what its steps' `when:` and `{placeholder}`s depend on.
# Parsed and checked here; evaluated on the machine by dlproj/reproduce/conditions.py.

@dataclass
class Resource:
    """Something a study's steps may need: there when its `files` and `dirs` exist, or to be
    downloaded when its `host` answers (where the study allows downloads). Paths may start with
    `{data}` or `{torch_home}` (dlproj/reproduce/conditions.py says where those are)."""

    name: str
    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    host: str | None = None


@dataclass
class Case:
    """What holds when every resource it `needs` is available: the steps `when:` one of
    `enables` run, `substitutions` fill the steps' `{NAME}`s, and `notice` (if any) is said."""

    needs: list[str]
    enables: list[str]
    substitutions: dict[str, str]
    notice: str | None = None


@dataclass
class Conditions:
    downloads: bool  # whether a missing resource may be fetched (its host is probed)
    resources: dict[str, Resource]
    cases: list[Case]  # the first whose needs are all available holds; the last needs nothing

    @property
    def names(self) -> set[str]:
        """The conditions a step's `when:` may name."""
        return {name for case in self.cases for name in case.enables}

    @property
    def placeholders(self) -> set[str]:
        return {key for case in self.cases for key in case.substitutions}


def _conditions(study: str, spec: Any) -> Conditions | None:
    if spec is None:
        return None
    where = f"In study '{study}', `conditions:`"

    def fields(node: Any, allowed: set[str], what: str) -> dict:
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {what} must be a mapping, not {node!r}.")
        if set(node) - allowed:
            raise ConfigError(f"{where}: {what}: unknown field(s) {sorted(set(node) - allowed)}."
                              f" Allowed: {', '.join(sorted(allowed))}.")
        return node

    def strings(node: Any, what: str) -> list[str]:
        if not isinstance(node, list) or not all(isinstance(x, str) for x in node):
            raise ConfigError(f"{where}: {what} must be a list of strings, not {node!r}.")
        return node

    spec = fields(spec, {"downloads", "resources", "cases"}, "the section")
    resources = {}
    for name, node in (spec.get("resources") or {}).items():
        node = fields(node, {"files", "dirs", "host"}, f"resource '{name}'")
        resources[str(name)] = Resource(str(name), strings(node.get("files", []), "files"),
                                        strings(node.get("dirs", []), "dirs"), node.get("host"))
    cases = []
    for i, node in enumerate(spec.get("cases") or [], 1):
        node = fields(node, {"needs", "enables", "substitutions", "notice"}, f"case {i}")
        needs = strings(node.get("needs", []), f"case {i}'s needs")
        unknown = [n for n in needs if n not in resources]
        if unknown:
            raise ConfigError(f"{where}: case {i} needs {unknown}, which are no `resources`. "
                              f"Allowed: {', '.join(sorted(resources))}.")
        substitutions = node.get("substitutions") or {}
        fields(substitutions, set(substitutions), f"case {i}'s substitutions")  # a mapping
        cases.append(Case(needs, strings(node.get("enables", []), f"case {i}'s enables"),
                          {str(k): _value(v) for k, v in substitutions.items()},
                          node.get("notice")))
    if not cases or cases[-1].needs:
        raise ConfigError(f"{where}: `cases` must end with one that needs nothing (`needs: []`)"
                          ": what holds where no resource is available.")
    if any(set(c.substitutions) != set(cases[0].substitutions) for c in cases):
        raise ConfigError(f"{where}: every case must fill the same `substitutions` keys.")
    downloads = spec.get("downloads", False)
    if not isinstance(downloads, bool):
        raise ConfigError(f"{where}: `downloads: {downloads}`. Allowed: true, false.")
    return Conditions(downloads, resources, cases)


# -- The study's facts for the report --------------------------------------------------------------
# `course:` (the course report's numbers, each with the runs it describes and its protocol) and
# `figures:` (the cross-run figures: which runs each compares and how it is drawn) of a study
# file; a study with `base:` inherits them. `dlproj.report` reads them; nothing here draws.

DEFAULT = "default"  # a protocol value: the experiment's own default (the course gives none)
_DATASET_NAMES = {"mnist": "MNIST", "pets": "Oxford-IIIT Pet"}
_NUMBER_REQUIRED = {"section", "experiment", "label", "metric", "value", "shown"}
_FIGURE_REQUIRED = {"section", "experiment", "vary", "draw"}


def holds(match: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a flattened config fits `match`: every key has its value (a list: one of them);
    under `not:`, no key has its value."""
    def has(key: str, want: Any) -> bool:
        return config.get(key) in want if isinstance(want, list) else config.get(key) == want

    return (all(has(k, v) for k, v in match.items() if k != "not")
            and not any(has(k, v) for k, v in (match.get("not") or {}).items()))


@dataclass(frozen=True)
class CourseNumber:
    """A number of the course report: the runs it describes (`match`, on the flattened config)
    and its protocol (the keys it was measured with; `default`: the experiment's own value)."""

    id: str
    section: int
    experiment: str
    label: str
    metric: str
    value: float
    shown: str
    match: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
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
                reasons.append(_protocol_reason(key, config.get(key), want))
        return reasons


def _protocol_reason(key: str, have: Any, want: Any) -> str:
    if key == "train.epochs":
        return f"{have} of {want} epochs"
    if key in ("data.train_limit", "data.test_limit"):
        split = key.split(".")[1].split("_")[0]
        if want is None:
            return f"{have} {split} images"
        return f"{'all' if have is None else have} of {want} {split} images"
    if key == "dataset.name":
        return f"{_DATASET_NAMES.get(have, have)}, not {_DATASET_NAMES.get(want, want)}"
    return f"{key}={have} (course: {'all' if want is None else want})"


@dataclass(frozen=True)
class FigureSpec:
    """A cross-run figure: the runs of `section`/`experiment` that fit `match`, their largest
    family of settings that differ only in `vary`, drawn by `draw` from their `csv` files."""

    name: str
    caption: str
    title: str
    section: int
    experiment: str
    vary: tuple[str, ...]
    metrics: tuple[str, ...]
    draw: str
    csv: str = "metrics.csv"
    match: dict[str, Any] = field(default_factory=dict)


def _entries(where: str, entries: Any, required: set[str],
             optional: set[str]) -> dict[str, dict[str, Any]]:
    """`entries` (a mapping of mappings) checked: no unknown field, every required one."""
    for key, spec in (entries or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        unknown, missing = set(spec) - required - optional, required - set(spec)
        if unknown or missing or not spec:
            raise ConfigError(f"In {where} '{key}': unknown field(s) {sorted(unknown)}, missing "
                              f"{sorted(missing)}. Allowed: {', '.join(sorted(required))} "
                              f"(required), {', '.join(sorted(optional))}.")
    return dict(entries or {})


def course_numbers(name: str = "course") -> tuple[CourseNumber, ...]:
    """The `course:` section of the study `name`: its `numbers`, each naming one of its shared
    `protocols` (none: a number without a budget, e.g. an exact property)."""
    raw = _raw(name).get("course") or {}
    protocols = raw.get("protocols") or {}
    where = f"study '{name}', course number"
    numbers = []
    for key, spec in _entries(where, raw.get("numbers"), _NUMBER_REQUIRED,
                              {"match", "protocol", "table1"}).items():
        protocol = spec.get("protocol")
        if protocol is not None and protocol not in protocols:
            raise ConfigError(f"In {where} '{key}': `protocol: {protocol}` names no protocol. "
                              f"Allowed: {', '.join(protocols)}.")
        numbers.append(CourseNumber(
            key, int(spec["section"]), str(spec["experiment"]), str(spec["label"]),
            str(spec["metric"]), float(spec["value"]), str(spec["shown"]),
            dict(spec.get("match") or {}), dict(protocols.get(protocol) or {}),
            bool(spec.get("table1", False))))
    return tuple(numbers)


def figures(name: str = "course") -> tuple[FigureSpec, ...]:
    """The `figures:` of the study `name`, in the order the report shows them."""
    specs = _entries(f"study '{name}', figure", _raw(name).get("figures"), _FIGURE_REQUIRED,
                     {"caption", "title", "metrics", "csv", "match"})
    return tuple(FigureSpec(
        key, str(spec.get("caption", key)), str(spec.get("title", key)), int(spec["section"]),
        str(spec["experiment"]), tuple(spec["vary"]), tuple(spec.get("metrics") or ()),
        str(spec["draw"]), str(spec.get("csv", "metrics.csv")), dict(spec.get("match") or {}))
        for key, spec in specs.items())
