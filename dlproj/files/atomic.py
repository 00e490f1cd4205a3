"""Write files so that a reader sees the old content or the new one, never half of either.

Each writer fills a temporary file beside the target, flushes it to disk and renames it over the
target (`os.replace` is atomic on POSIX). A crash leaves at most a `.tmp-*` file, never a torn one.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import numpy as np


def atomic_write(path: str | Path, fill: Callable[[IO[bytes]], None], *,
                 durable: bool = True) -> Path:
    """`fill(fh)` a temporary binary file, then move it to `path`. `durable=False` skips the
    fsync: the rename still makes the file whole or absent for every reader and after any process
    death, but a power cut may lose it (per-epoch checkpoints, replaced within seconds)."""
    path = Path(path)
    refuse_folder(path)  # said of the file asked for, before anything is filled
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        with open(tmp, "xb") as fh:  # the mode a plain open() gives (umask applied)
            fill(fh)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with suppress(OSError):  # a read-only disk has no temporary to remove
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
            exc.filename, exc.filename2 = str(path), None  # the file, not its temporary
        raise
    return path


def _temporary(path: Path) -> Path:
    """The temporary a write of `path` fills first, beside it (`.NAME.tmp-XXXXXXXX`)."""
    return path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")


def refuse_folder(path: Path) -> None:
    """IsADirectoryError naming `path` when a folder is where the file would go."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder is there, not a file", str(path))


def check_writable(path: str | Path) -> Path:
    """`path` made absolute, or the OSError atomic_write(path) would end in, found before
    anything is filled: a folder where the file would go, a file where a folder would, or a
    folder that refuses what is made in it. The first step of the write is tried and undone (the
    first missing folder made and removed, else a temporary file beside `path`), so a folder
    whose mode bits root writes through but whose file system refuses it (/proc, /sys, a
    read-only disk) is refused as well; the error names what the write itself would name."""
    path = Path(path).absolute()
    refuse_folder(path)
    missing = [p for p in path.parents if not p.exists()]  # the folders the write makes
    there = path.parents[len(missing)]
    if not there.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(there))
    if missing:
        missing[-1].mkdir()
        missing[-1].rmdir()
        return path
    tmp = _temporary(path)
    try:
        open(tmp, "xb").close()
    except OSError as exc:
        exc.filename, exc.filename2 = str(path), None  # the file, not its temporary
        raise
    tmp.unlink()
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], *, durable: bool = True) -> Path:
    """Save plain arrays (read back with `np.load(path, allow_pickle=False)`)."""
    return atomic_write(path, lambda fh: np.savez(fh, **arrays), durable=durable)
