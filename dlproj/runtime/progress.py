"""Progress bars on a terminal (tqdm), silence elsewhere: log files get a line per epoch instead."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def show_bars() -> bool:
    if os.environ.get("DLPROJ_PROGRESS") in {"0", "1"}:
        return os.environ["DLPROJ_PROGRESS"] == "1"
    return sys.stderr.isatty()


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate `items`, drawing a bar that closes when the loop ends."""
    if not show_bars():
        yield from items
        return
    from tqdm.auto import tqdm

    with tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True) as bar:
        yield from bar
