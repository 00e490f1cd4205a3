"""Where the project, its data and its outputs live, valid from any working or run directory."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
CONF_DIR = PROJECT_ROOT / "conf"


def outputs_root() -> Path:
    """`outputs/` at the project root, or $DLPROJ_OUTPUTS (tests point it at a temporary folder)."""
    return _from_env("DLPROJ_OUTPUTS", PROJECT_ROOT / "outputs")


def data_root() -> Path:
    """`data/` at the project root, or $DLPROJ_DATA."""
    return _from_env("DLPROJ_DATA", PROJECT_ROOT / "data")


def _from_env(name: str, default: Path) -> Path:
    """The folder $name names; set but empty (`DLPROJ_DATA= make run`) is unset, as for
    $XDG_*: not the current directory, which would get runs or a download of MNIST."""
    return Path(os.environ.get(name) or default).resolve()


def resolve_path(path: str | Path) -> Path:
    """A path the config names (`data.root`, `model.weights`, an MLflow store's): `~` expanded,
    a relative one taken from the project root (so it names the same place from any working
    directory)."""
    return (PROJECT_ROOT / Path(str(path)).expanduser()).resolve()  # an absolute one stays


def as_given(path: str | Path) -> str:
    """A config's path for a message: as it was given, then where resolve_path takes it where
    that differs (`'w/model.pt' (resolved: /project/w/model.pt)`)."""
    where = resolve_path(path)
    return repr(str(path)) + ("" if str(where) == str(path) else f" (resolved: {where})")


def missing(path: Path, given: str | None, key: str) -> str:
    """A file that `key` (`checkpoint=`, `model.weights`) names and is not there, in words: as
    typed and where it was looked for (as_given), else `path` itself."""
    if given is None:
        return f"{path} does not exist"
    return (f"{as_given(given)} does not exist ({key}: a relative path is taken from the "
            f"project root, as data.root is)")


def new_data_root(path: str | Path) -> bool:
    """Whether a download of MNIST into `path` (as `data.root` names it) would make the folder:
    one that is not there yet, other than the project's own (data_root(), made on first use), is
    most likely a typo, so it is refused, not filled with a fresh copy (NEW_DATA_ROOT)."""
    where = resolve_path(path)
    return not where.exists() and where != data_root()


# What a data root that new_data_root refuses may be instead.
NEW_DATA_ROOT = ("a folder that exists (a relative one is taken from the project root) or the "
                 "project's data folder ($DLPROJ_DATA, else data/): dlproj makes no new folder to "
                 "download data into (a typo would get one); make it first, or fetch MNIST into "
                 "it with `python -m dlproj.data PATH`")


def raw_dir(root: str | Path) -> Path:
    """Where a data root keeps MNIST's files (as torchvision does)."""
    return Path(root) / "MNIST" / "raw"


def refetch(where: str | Path) -> str:
    """The command that fetches MNIST again into a data root, or the root of an MNIST file
    (`raw_dir(root)/FILE`): `make data` fills the project's own data folder only."""
    where = resolve_path(where)
    if len(where.parents) > 2 and where.parent == raw_dir(where.parents[2]):
        where = where.parents[2]
    return ("`make data` (or `python -m dlproj.data`)" if where == data_root()
            else f"`python -m dlproj.data {where}`")
