"""What composing conf/ gave, kept between processes in `<outputs>/compose-cache.json`.

Composing takes a fraction of a second, paid over and over by `dlproj.reproduce` finding the jobs
already done (`settings`: a job's overrides -> its setting id; README: 12 s -> 1.4 s) and by every
run's label (`defaults`, dlproj.config.setting). Entries are keyed by a hash of every file
composing reads (conf/, dlproj/config/). Runs side by side may each save: a save is atomic and
merges what the file holds; an entry lost to a simultaneous save is only composed again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dlproj import paths


class ComposeCache:
    def __init__(self, outputs: Path) -> None:
        """The cache of an outputs folder (read now; written only by `save`)."""
        digest = hashlib.sha1()
        files = (sorted(paths.CONF_DIR.rglob("*.yaml"))
                 + sorted((paths.PACKAGE_DIR / "config").glob("*.py")))
        for file in files:
            digest.update(file.relative_to(paths.PROJECT_ROOT).as_posix().encode())
            digest.update(file.read_bytes())
        self.path, self.fingerprint = outputs / "compose-cache.json", digest.hexdigest()
        self.entries: dict[str, dict[str, Any]] = self._saved()
        self.changed: dict[str, dict[str, Any]] = {}

    def _saved(self) -> dict[str, dict[str, Any]]:
        try:
            saved = json.loads(self.path.read_text())
            if saved.get("fingerprint") == self.fingerprint:
                return {kind: dict(found) for kind, found in saved["entries"].items()}
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            pass
        return {}

    def get(self, kind: str, key: tuple) -> Any | None:
        return self.entries.get(kind, {}).get("\x1f".join(key))

    def put(self, kind: str, key: tuple, value: Any) -> Any:
        for entries in (self.entries, self.changed):
            entries.setdefault(kind, {})["\x1f".join(key)] = value
        return value

    def save(self) -> None:
        """Write what this process added over what the file holds now."""
        if not self.changed:
            return
        from dlproj.files.atomic import write_json

        merged = self._saved()
        for kind, found in self.changed.items():
            merged.setdefault(kind, {}).update(found)
        try:
            write_json(self.path, {"fingerprint": self.fingerprint, "entries": merged})
        except OSError:  # a cache: a folder it cannot be written to costs only time
            return
        self.changed = {}
