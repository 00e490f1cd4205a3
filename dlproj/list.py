"""`python -m dlproj.list`: every section, its experiments and every config group's choices.

    python -m dlproj.list            # all of it
    python -m dlproj.list section=3  # one section

Experiments come from the registry (their one-line summaries); the defaults shown (model,
optimizer, epochs) are what `python -m dlproj experiment=NAME` composes. Never imports torch.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dlproj import paths
from dlproj.config.compose import compose_config, config_loader
from dlproj.experiments import registry

# Groups not worth showing: schemas, and Hydra's internals.
HIDDEN_GROUPS = ("schema", "hydra/env", "hydra/output", "hydra/help", "hydra/hydra_help",
                 "hydra/hydra_logging", "hydra/job_logging", "hydra/callbacks")


@dataclass
class ExperimentInfo:
    section: int
    name: str
    summary: str
    model: str
    optimizer: str
    epochs: int


def _first_comment(path: Path) -> str:
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("#") and not line.startswith("# @package"):
            return line.lstrip("# ").strip()
    return ""


def experiments() -> list[ExperimentInfo]:
    """Every registered experiment with the defaults its config file composes to."""
    files = {p.stem: p for p in (paths.CONF_DIR / "experiment").glob("*.yaml")}
    out = []
    for (section, name), exp in sorted(registry.load_all().items()):
        overrides = [f"section={section}"] + ([f"experiment={name}"] if name in files else [])
        cfg = compose_config(overrides)
        out.append(ExperimentInfo(section, name, exp.summary, str(cfg.model.name),
                                  str(cfg.optimizer.name), int(cfg.train.epochs)))
    return out


def groups() -> dict[str, list[str]]:
    """Config group -> its choices, from Hydra's config repository (files and plugins)."""
    loader = config_loader()
    out: dict[str, list[str]] = {}

    def walk(parent: str) -> None:
        for child in sorted(loader.list_groups(parent)):
            group = f"{parent}/{child}" if parent else child
            if group == "hydra":  # Hydra's own groups: only hydra/launcher, hydra/sweeper, ...
                walk(group)
                continue
            if group.startswith(HIDDEN_GROUPS):
                continue
            options = [o for o in loader.get_group_options(group) if not o.startswith("_")]
            if options:
                out[group] = sorted(options, key=lambda o: (not o.isdigit(), o.zfill(4)
                                                            if o.isdigit() else o))
            walk(group)

    walk("")
    return dict(sorted(out.items(), key=lambda kv: (kv[0].startswith("hydra/"), kv[0])))


def section_titles() -> dict[int, str]:
    return {int(p.stem): _first_comment(p) for p in (paths.CONF_DIR / "section").glob("*.yaml")
            if p.stem.isdigit()}


def render(only_section: int | None = None) -> str:
    infos, group_choices = experiments(), groups()
    titles = section_titles()
    default_exp = {}
    for s in titles:
        m = re.search(r"override /experiment: (\w+)",
                      (paths.CONF_DIR / "section" / f"{s}.yaml").read_text())
        default_exp[s] = m.group(1) if m else ""
    lines = []
    for section in sorted(titles):
        if only_section is not None and section != only_section:
            continue
        lines.append(f"section={section}  {titles[section]}")
        rows = [i for i in infos if i.section == section]
        width = max((len(i.name) for i in rows), default=0)
        for i in rows:
            mark = "*" if i.name == default_exp.get(section) else " "
            lines.append(f"  {mark} experiment={i.name:<{width}}  {i.summary}")
            lines.append(f"    {'':<{width + 11}}  model={i.model} optimizer={i.optimizer} "
                         f"train.epochs={i.epochs}")
        lines.append("")
    if only_section is None:
        lines.append("(* the section's default experiment)")
        lines.append("")
        lines.append("Config groups (pick one: GROUP=CHOICE; logger takes a list: "
                     "logger=[csv,tensorboard,mlflow]):")
        width = max(len(g) for g in group_choices)
        for group, options in group_choices.items():
            lines.append(f"  {group:<{width}}  {', '.join(options)}")
        lines.append("")
        lines.append("Run one: python -m dlproj section=N experiment=NAME [GROUP=CHOICE ...] "
                     "[KEY=VALUE ...]; the full config: python -m dlproj --cfg job")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only = None
    for arg in argv:
        m = re.fullmatch(r"section=(\d+)", arg)
        if not m:
            print(f"dlproj.list: unknown argument {arg!r}. Allowed: section=N (1-4).",
                  file=sys.stderr)
            return 2
        only = int(m.group(1))
    print(render(only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
