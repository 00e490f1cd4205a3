"""`python -m dlproj.search -m hydra/sweeper=section2 ...`: hyperparameter search with Optuna.

The same application as `python -m dlproj` (same config, run directories and records), except
that each job returns one number for the sweeper to optimise: the final metric named by
`params.objective` (default `val_acc`). A job that failed or diverged returns NaN, which Optuna
records as a failed trial. Needs the `search` extra (hydra-optuna-sweeper).
"""

from __future__ import annotations

import math
import sys

import hydra
from omegaconf import DictConfig

from dlproj import paths
from dlproj.config.compose import normalize_overrides, register_configs

register_configs()



def objective_value(record: dict, objective: str) -> float:
    """The run's final `objective`, or NaN when it did not complete or did not report it."""
    value = record.get("metrics", {}).get(objective)
    if record.get("status") != "completed" or not isinstance(value, (int, float)):
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


@hydra.main(version_base="1.3", config_path=str(paths.CONF_DIR), config_name="config")
def search(cfg: DictConfig) -> float:
    from dlproj.experiments.registry import SHARED_PARAMS
    from dlproj.runtime.runner import execute

    record = execute(cfg)
    default = SHARED_PARAMS["objective"].default
    return objective_value(record, str(cfg.params.get("objective", default)))


def main() -> None:
    sys.argv = [sys.argv[0], *normalize_overrides(sys.argv[1:])]
    search()


if __name__ == "__main__":
    main()
