"""Setting ids of composed job overrides, kept in `<outputs>/reproduce/settings-cache.json`.

Composing a config takes a fraction of a second; a rerun with nothing to do would spend most of
its time on it (measured, quick study, 60 jobs done: 11.2-12.6 s without the cache, 0.9-1.7 s
with it). It is keyed by a hash of every file the composition and the setting read (conf/,
dlproj/config/), so any change there recomposes everything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dlproj import paths


class SettingCache:
    def __init__(self, path: Path) -> None:
        digest = hashlib.sha1()
        files = (sorted(paths.CONF_DIR.rglob("*.yaml"))
                 + sorted((paths.PACKAGE_DIR / "config").glob("*.py")))
        for file in files:
            digest.update(file.relative_to(paths.PROJECT_ROOT).as_posix().encode())
            digest.update(file.read_bytes())
        self.path, self.fingerprint = path, digest.hexdigest()
        self.settings: dict[str, str] = {}
        self.changed = False
        try:
            saved = json.loads(path.read_text())
            if saved.get("fingerprint") == self.fingerprint:
                self.settings = dict(saved.get("settings", {}))
        except (OSError, ValueError, AttributeError):
            pass

    @classmethod
    def of(cls, outputs: Path) -> SettingCache:
        """The cache of an outputs folder (read now; written only by `save`)."""
        return cls(outputs / "reproduce" / "settings-cache.json")

    def get(self, overrides: tuple) -> str | None:
        return self.settings.get("\x1f".join(overrides))

    def put(self, overrides: tuple, setting: str) -> str:
        self.settings["\x1f".join(overrides)] = setting
        self.changed = True
        return setting

    def save(self) -> None:
        if self.changed:
            from dlproj.files.atomic import write_json

            write_json(self.path, {"fingerprint": self.fingerprint, "settings": self.settings})
