"""The choices of each config group: the files of conf/GROUP/, read without Hydra or OmegaConf
(`--help` and `python -m dlproj.list` list them before anything heavier is imported)."""

from __future__ import annotations

from dlproj import paths

# Groups of conf/ a user picks from; `schema/` is internal and Hydra's own live in plugins.
HIDDEN = ("schema", "study", "hydra")


def groups() -> dict[str, list[str]]:
    """conf/GROUP/ -> its choices (file names without .yaml)."""
    return {d.name: sorted(f.stem for f in d.glob("*.yaml"))
            for d in sorted(paths.CONF_DIR.iterdir()) if d.is_dir() and d.name not in HIDDEN}
