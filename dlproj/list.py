"""`python -m dlproj.list`: every section, its experiments and every config group's choices.

    python -m dlproj.list            # all of it
    python -m dlproj.list section=3  # one section

Experiments come from the registry (their one-line summaries); the defaults shown (model;
optimizer, epochs where it trains) are read from conf/experiment/NAME.yaml over
conf/config.yaml, without composing: what `python -m dlproj experiment=NAME` composes
(tests/test_discovery.py checks).
Never imports torch.
"""

from __future__ import annotations

import re
import sys

from dlproj import paths
from dlproj.config.choices import groups as conf_groups

# Hydra's groups not worth showing: its internals.
HIDDEN_GROUPS = ("hydra/env", "hydra/output", "hydra/help", "hydra/hydra_help",
                 "hydra/hydra_logging", "hydra/job_logging", "hydra/callbacks")


def _choice(text: str, group: str) -> str | None:
    """The choice of `group` a config file's defaults list makes (`- model: mlp`,
    `- override /model: cnn_small`), if any."""
    m = re.search(rf"^\s*- (?:override /)?{group}: (\w+)\s*$", text, re.M)
    return m.group(1) if m else None


def defaults(experiment: str, reads: tuple[str, ...]) -> str:
    """The model, optimizer and epochs conf/experiment/NAME.yaml sets over conf/config.yaml; the
    optimizer and epochs only for an experiment that trains (`reads` optimizer=: gradcheck and
    receptive_field refuse optimizer= and train nothing)."""
    from omegaconf import OmegaConf

    from dlproj.config.schema import TrainConfig

    path = paths.CONF_DIR / "experiment" / f"{experiment}.yaml"
    text, root = path.read_text(), (paths.CONF_DIR / "config.yaml").read_text()
    model, optimizer = (_choice(text, g) or _choice(root, g) for g in ("model", "optimizer"))
    epochs = OmegaConf.select(OmegaConf.load(path), "train.epochs", default=TrainConfig.epochs)
    trains = f" optimizer={optimizer} train.epochs={epochs}" if "optimizer" in reads else ""
    return f"model={model}{trains}"


def groups() -> dict[str, list[str]]:
    """Config group -> its choices: conf/'s, then Hydra's launchers and sweepers from its config
    repository (files and plugins). Asked of the repository itself: the loader's `list_groups`
    and `get_group_options` deep-copy it at every call (40 ms each, a second in all)."""
    from hydra.core.object_type import ObjectType

    from dlproj.config.compose import config_loader

    repo, out = config_loader().repository, conf_groups()

    def walk(parent: str) -> None:
        for group in (f"{parent}/{c}" for c in repo.get_group_options(parent, ObjectType.GROUP)):
            if not group.startswith(HIDDEN_GROUPS):
                options = [o for o in repo.get_group_options(group, ObjectType.CONFIG)
                           if not o.startswith("_")]
                if options:
                    out[group] = options
                walk(group)

    walk("hydra")
    return out


def _columns(choices: dict[str, list[str]]) -> list[str]:
    """A line per config group: its name, then its choices."""
    width = max(map(len, choices))
    return [f"  {g:<{width}}  {', '.join(c)}" for g, c in choices.items()]


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


def help_text() -> str:
    """`python -m dlproj --help`: read from conf/ alone (no Hydra, no experiment imported)."""
    lines = ["python -m dlproj [GROUP=CHOICE ...] [KEY=VALUE ...]    one run",
             "python -m dlproj -m KEY=a,b [KEY=c,d ...]              a sweep: every combination",
             "python -m dlproj resume=RUN_DIR [train.epochs=N]      continue a stopped run", "",
             "Sections (section=N runs its default experiment; experiment=NAME another):"]
    for section, (title, default) in sorted(sections().items()):
        lines.append(f"  section={section}  {title.rstrip('.')} (default experiment={default})")
    lines += ["", "Config groups (GROUP=CHOICE; logger takes a list: logger=[csv,tensorboard]):",
              *_columns(conf_groups()), "",
              "Debug presets (debug=NAME; their runs go to outputs/debug/):"]
    for path in sorted((paths.CONF_DIR / "debug").glob("*.yaml")):
        said = " ".join(line.lstrip("# ").strip() for line in path.read_text().splitlines()
                        if line.startswith("#") and "@package" not in line)
        said = re.sub(r"^debug=\w+: ", "", said).split(". ")[0]
        lines.append(f"  {path.stem:<8}  {said}")
    lines += ["", "More:",
              "  python -m dlproj.list          every experiment, its defaults and summary; the "
              "launchers and sweepers (hydra/launcher=..., hydra/sweeper=...)",
              "  python -m dlproj --cfg job     the whole config, with your overrides applied",
              "  python -m dlproj --hydra-help  Hydra's own options"]
    return "\n".join(lines)


def render(only_section: int | None = None) -> str:
    from dlproj.experiments import registry

    experiments = sorted(registry.load_all().items())
    lines = []
    for section, (title, default) in sorted(sections().items()):
        if only_section is not None and section != only_section:
            continue
        lines.append(f"section={section}  {title}")
        rows = [(name, exp) for (s, name), exp in experiments if s == section]
        width = max((len(name) for name, _ in rows), default=0)
        for name, exp in rows:
            lines.append(f"  {'*' if name == default else ' '} experiment={name:<{width}}  "
                         f"{exp.summary}")
            lines.append(f"    {'':<{width + 11}}  {defaults(name, exp.reads)}")
        lines.append("")
    if only_section is None:
        lines += ["(* the section's default experiment)", "",
                  "Config groups (pick one: GROUP=CHOICE; logger takes a list: "
                  "logger=[csv,tensorboard,mlflow]):", *_columns(groups()), "",
                  "Run one: python -m dlproj section=N experiment=NAME [GROUP=CHOICE ...] "
                  "[KEY=VALUE ...]; the full config: python -m dlproj --cfg job"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print("Usage:\n" + __doc__.split("\n\n")[1])
        return 0
    key, eq, value = (argv[0] if argv else "").partition("=")
    if len(argv) > 1:
        why = f"One argument at most, not {len(argv)} ({' '.join(argv)})"
    elif argv and (key != "section" or not eq):
        why = f"Unknown argument {argv[0]!r}"
    elif argv and (not value.strip().isdecimal() or int(value) not in sections()):
        why = f"Invalid value for 'section': {value!r}"
    else:
        print(render(int(value) if argv else None))
        return 0
    have = ", ".join(map(str, sorted(sections())))
    print(f"dlproj.list: {why}. Allowed: nothing (every section) or one section=N, N one of "
          f"{have} (conf/section/), e.g. `python -m dlproj.list section=1`.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    from dlproj.errors import stopped

    sys.exit(stopped(main, "python -m dlproj.list"))
