"""The Hydra application behind `python -m dlproj`.

The decorated function lives here, not in __main__.py, so the job is named `dlproj` and
launchers (joblib, submitit) can pickle it.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from dlproj import paths
from dlproj.config.compose import normalize_overrides, register_configs

register_configs()


# An absolute path: run as `python -m dlproj`, a relative one would be read as a package.
@hydra.main(version_base="1.3", config_path=str(paths.CONF_DIR), config_name="config")
def run(cfg: DictConfig) -> dict[str, Any]:
    from dlproj.runtime.runner import execute

    return execute(cfg)


def main() -> None:
    from dlproj.runtime import interrupt
    from dlproj.runtime.resume import UsageError, resume_overrides

    try:
        args = resume_overrides(normalize_overrides(sys.argv[1:]))
    except UsageError as exc:
        print(f"dlproj: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *args]
    try:
        with interrupt.catch_signals():  # between a sweep's jobs too
            run()
    except KeyboardInterrupt:
        print("dlproj: stopped (second Ctrl-C)", file=sys.stderr)
        sys.exit(130)
