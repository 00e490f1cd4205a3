"""`python -m dlproj.list`: every section, its experiments and every config group's choices.

    python -m dlproj.list            # all of it
    python -m dlproj.list section=3  # one section

Experiments come from the registry (their one-line summaries); the defaults shown (model,
optimizer, epochs) are read from conf/experiment/NAME.yaml over conf/config.yaml, without
composing: what `python -m dlproj experiment=NAME` composes (tests/test_discovery.py checks).
Never imports torch.
"""

from __future__ import annotations

import re
import sys

from omegaconf import OmegaConf

from dlproj import paths
from dlproj.config.compose import config_loader
from dlproj.config.schema import TrainConfig
from dlproj.experiments import registry

# Groups not worth showing: schemas, and Hydra's internals.
HIDDEN_GROUPS = ("schema", "hydra/env", "hydra/output", "hydra/help", "hydra/hydra_help",
                 "hydra/hydra_logging", "hydra/job_logging", "hydra/callbacks")


def _choice(text: str, group: str) -> str | None:
    """The choice of `group` a config file's defaults list makes (`- model: mlp`,
    `- override /model: cnn_small`), if any."""
    m = re.search(rf"^\s*- (?:override /)?{group}: (\w+)\s*$", text, re.M)
    return m.group(1) if m else None


def defaults(experiment: str) -> str:
    """The model, optimizer and epochs conf/experiment/NAME.yaml sets over conf/config.yaml."""
    path = paths.CONF_DIR / "experiment" / f"{experiment}.yaml"
    text, root = path.read_text(), (paths.CONF_DIR / "config.yaml").read_text()
    model, optimizer = (_choice(text, g) or _choice(root, g) for g in ("model", "optimizer"))
    epochs = OmegaConf.select(OmegaConf.load(path), "train.epochs", default=TrainConfig.epochs)
    return f"model={model} optimizer={optimizer} train.epochs={epochs}"


def groups() -> dict[str, list[str]]:
    """Config group -> its choices, from Hydra's config repository (files and plugins)."""
    loader = config_loader()
    out: dict[str, list[str]] = {}

    def walk(parent: str) -> None:
        for child in loader.list_groups(parent):
            group = f"{parent}/{child}" if parent else child
            if group.startswith(HIDDEN_GROUPS):
                continue
            options = [o for o in loader.get_group_options(group) if not o.startswith("_")]
            if options and group != "hydra":  # of Hydra's own: hydra/launcher, hydra/sweeper, ...
                out[group] = sorted(options, key=lambda o: (not o.isdigit(), o.zfill(4)
                                                            if o.isdigit() else o))
            walk(group)

    walk("")
    return dict(sorted(out.items(), key=lambda kv: (kv[0].startswith("hydra/"), kv[0])))


def sections() -> dict[int, tuple[str, str | None]]:
    """Section -> (its title: conf/section/N.yaml's first comment, its default experiment)."""
    out = {}
    for path in (paths.CONF_DIR / "section").glob("*.yaml"):
        if path.stem.isdigit():
            text = path.read_text()
            title = next((line.lstrip("# ").strip() for line in map(str.strip, text.splitlines())
                          if line.startswith("#") and not line.startswith("# @package")), "")
            out[int(path.stem)] = title, _choice(text, "experiment")
    return out


def render(only_section: int | None = None) -> str:
    experiments = sorted(registry.load_all().items())
    lines = []
    for section, (title, default) in sorted(sections().items()):
        if only_section is not None and section != only_section:
            continue
        lines.append(f"section={section}  {title}")
        rows = [(name, exp.summary) for (s, name), exp in experiments if s == section]
        width = max((len(name) for name, _ in rows), default=0)
        for name, summary in rows:
            lines.append(f"  {'*' if name == default else ' '} experiment={name:<{width}}  "
                         f"{summary}")
            lines.append(f"    {'':<{width + 11}}  {defaults(name)}")
        lines.append("")
    if only_section is None:
        group_choices = groups()
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
    if any(arg in ("-h", "--help") for arg in argv):
        print("Usage:\n" + __doc__.split("\n\n")[1])
        return 0
    try:
        only = _section(argv)
    except ValueError as exc:
        have = ", ".join(map(str, sorted(sections())))
        print(f"dlproj.list: {exc}. Allowed: nothing (every section) or one section=N, N one "
              f"of {have} (conf/section/), e.g. `python -m dlproj.list section=1`.",
              file=sys.stderr)
        return 2
    print(render(only))
    return 0


def _section(argv: list[str]) -> int | None:
    """The one section=N of the command line (None: none given); ValueError saying what is
    wrong with it."""
    if len(argv) > 1:
        raise ValueError(f"One argument at most, not {len(argv)} ({' '.join(argv)})")
    if not argv:
        return None
    key, eq, value = argv[0].partition("=")
    if key != "section" or not eq:
        raise ValueError(f"Unknown argument {argv[0]!r}")
    if not value.strip().isdigit() or int(value) not in sections():
        raise ValueError(f"Invalid value for 'section': {value!r}")
    return int(value)


if __name__ == "__main__":
    sys.exit(main())
