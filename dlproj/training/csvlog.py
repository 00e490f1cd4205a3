"""CSV logs of a run: `metrics.csv` (a row per epoch) and per-step logs (gradient norms, ...).

Rows are appended, never rewritten: logging costs the same at epoch 3000 as at epoch 3. `flush()`
hands the appended lines to the OS (a reader, or a resumed run, sees them even if the process is
killed); `sync()` also forces them to disk (checkpoints and the end of a run). A killed process can
leave an incomplete last line: `read_rows` (the report, resume) ignores it.

A column that first appears in a later row makes the file be rewritten once, atomically, with the
wider header, so every value always stands under its header.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from dlproj.files.atomic import write_text


def _cell(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _number(text: str) -> Any:
    """A CSV cell back as int, float or the text itself (bool-like text stays text)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def complete_lines(text: str) -> list[str]:
    """The lines of `text` that end in a newline: a torn last line (a killed writer) is dropped."""
    lines = text.split("\n")
    return lines[:-1]  # the part after the last "\n": "" for a complete file, else a torn line


def read_rows(path: str | Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The complete rows of a CSV log as dicts of numbers (text where a cell is not a number).

    `limit` keeps the first rows only (a resumed run keeps those its checkpoint counted)."""
    lines = complete_lines(Path(path).read_text(encoding="utf-8"))
    if not lines:
        return []
    reader = csv.DictReader(io.StringIO("\n".join(lines) + "\n"))
    rows = [{k: _number(v) for k, v in row.items() if v not in (None, "")} for row in reader]
    return rows[:limit] if limit is not None else rows


class CSVLog:
    """Rows of named values appended to `path`; `flush()` after some rows, `sync()` at ends."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        self._fh: IO[str] | None = None
        self._writer: csv.DictWriter | None = None
        self._header_on_disk = False

    # -- writing -------------------------------------------------------------------------------
    def append(self, **row: Any) -> None:
        new = [k for k in row if k not in self.columns]
        self.columns.extend(new)
        self.rows.append(row)
        if new and self._header_on_disk:
            self._rewrite()  # once per new column: the header must name it
        else:
            self._open().writerow({k: _cell(v) for k, v in row.items()})

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def sync(self) -> None:
        """Flush and force the file to disk."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Sync and close; the file is closed even when the disk refuses the last rows (then
        OSError, as from sync)."""
        if self._fh is not None:
            fh = self._fh
            try:
                self.sync()
            except OSError as exc:
                exc.filename = exc.filename or str(self.path)  # what the disk refused
                raise
            finally:
                self._fh, self._writer = None, None
                with contextlib.suppress(OSError):  # the same refusal again
                    fh.close()

    def _open(self) -> csv.DictWriter:
        if self._writer is None:
            fresh = not self.path.exists() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115
            self._writer = csv.DictWriter(self._fh, fieldnames=self.columns, lineterminator="\n")
            if fresh:
                self._writer.writeheader()
            self._header_on_disk = True
        return self._writer

    def _rewrite(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh, self._writer = None, None
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        write_text(self.path, buf.getvalue())
        self._open()

    # -- resuming ------------------------------------------------------------------------------
    def keep_first(self, n: int) -> None:
        """Continue the file on disk after its first `n` complete rows (a resumed run).

        The kept lines are copied byte for byte; rows after them (an epoch that was cut short)
        and a torn last line are dropped, once, atomically."""
        self.close()
        self.rows, self.columns, self._header_on_disk = [], [], False
        if not self.path.exists():
            return
        lines = complete_lines(self.path.read_text(encoding="utf-8"))
        if not lines:
            return
        kept = lines[:n + 1]  # the header and n rows
        self.columns = next(csv.reader([kept[0]]))
        self.rows = read_rows(self.path, limit=n)
        write_text(self.path, "\n".join(kept) + "\n")
        self._header_on_disk = True

    @property
    def last(self) -> dict[str, Any]:
        return self.rows[-1] if self.rows else {}
