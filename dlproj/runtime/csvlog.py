"""CSV logs of a run: `metrics.csv` (a row per epoch) and per-step logs (gradient norms, ...).

The whole file is rewritten atomically on every flush, so a reader (or a crash) never meets a
half-written row, and a column that first appears in a later row still gets a header.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from dlproj.runtime.atomic import write_text


def _cell(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class CSVLog:
    """Rows of named values written to `path`; `flush()` rewrites the file atomically."""

    def __init__(self, path: str | Path, *, flush_every_row: bool = True):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        self.flush_every_row = flush_every_row

    def append(self, **row: Any) -> None:
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(row)
        if self.flush_every_row:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        write_text(self.path, buf.getvalue())

    @property
    def last(self) -> dict[str, Any]:
        return self.rows[-1] if self.rows else {}
