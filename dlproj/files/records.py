"""A run's record as the code that plans, follows or resumes runs reads it."""

from __future__ import annotations

import json
from pathlib import Path


def read_record(path: Path) -> dict | None:
    """The JSON object a results.json or a note holds; None: no such file, or not one."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def record_status(path: Path) -> str | None:
    """The `status` a results.json or a note holds (None: there is no such file)."""
    try:
        return json.loads(Path(path).read_text()).get("status", "unreadable")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):  # not JSON, or JSON but not a record
        return "unreadable"
