"""Run one configured experiment and record how it ended.

Every run ends with `results.json` in its directory: status (completed, diverged, failed), final
metrics, wall time and, when it did not complete, why. Inside a sweep a failed job is recorded and
the sweep goes on; a single run that did not complete exits non-zero.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlproj import registry
from dlproj.config import validate
from dlproj.errors import ConfigError, Diverged, DlprojError
from dlproj.runtime.atomic import write_json
from dlproj.runtime.context import RunContext
from dlproj.setting import setting_of

log = logging.getLogger("dlproj")

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


def _hydra_run_info() -> tuple[Path, bool, list[str]]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    return (Path(hc.runtime.output_dir), hc.mode == RunMode.MULTIRUN,
            list(hc.overrides.task))


def execute(cfg: DictConfig, run_dir: Path | None = None, is_multirun: bool | None = None,
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Validate, run and record one experiment; returns the final record (also in results.json)."""
    if run_dir is None:
        run_dir, is_multirun, overrides = _hydra_run_info()
    run_dir = Path(run_dir)
    record: dict[str, Any] = {
        "section": cfg.section, "experiment": cfg.experiment, "seed": cfg.seed,
        "overrides": overrides or [], "run_dir": str(run_dir), "status": "running",
        "metrics": {}, "error": None,
    }
    started = time.time()
    exit_code = 0
    ctx: RunContext | None = None
    try:
        validate(cfg)
        experiment = registry.get(cfg.section, cfg.experiment)
        ctx = RunContext(cfg, run_dir, is_multirun=bool(is_multirun))
        log.info("section %s experiment %s -> %s", cfg.section, cfg.experiment, run_dir)
        record["metrics"] = experiment.fn(ctx) or {}
        record["status"] = "completed"
    except ConfigError as exc:  # not a run: nothing is left for the report to count
        record.update(status="invalid", error=str(exc))
        print(f"dlproj: {exc}", file=sys.stderr)
        exit_code = EXIT_BAD_CONFIG
    except Diverged as exc:
        record.update(status="diverged", error=str(exc))
        log.error("run diverged: %s", exc)
        exit_code = EXIT_FAILED
    except DlprojError as exc:
        record.update(status="failed", error=str(exc))
        log.error("%s", exc)
        print(f"dlproj: {exc}", file=sys.stderr)
        exit_code = EXIT_FAILED
    except Exception as exc:  # an experiment bug must not take the sweep down
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        log.error("run failed:\n%s", traceback.format_exc())
        exit_code = EXIT_FAILED
    finally:
        if ctx is not None:
            ctx.flush()
            if ctx.metrics.rows and not record["metrics"]:
                record["metrics"] = dict(ctx.metrics.last)
        record["wall_seconds"] = round(time.time() - started, 3)
        record["config"] = OmegaConf.to_container(cfg, resolve=True)
        setting = setting_of(record["config"])
        record.update(setting=setting.id, setting_label=setting.label)
        if record["status"] == "invalid":
            _discard_unstarted(run_dir)
        else:
            write_json(run_dir / "results.json", record)
    log.info("status %s in %.1fs %s", record["status"], record["wall_seconds"],
             _brief(record["metrics"]))
    if exit_code and not is_multirun:
        sys.exit(exit_code)
    return record


def _discard_unstarted(run_dir: Path) -> None:
    """Remove a run directory that holds only Hydra's bookkeeping (`.hydra/`, logs): a config
    error is not a run, so nothing is left that the report would count. A directory with anything
    else in it (an earlier run's files, `resume=`) is left alone."""
    import shutil

    if run_dir.is_dir() and all(p.name == ".hydra" or p.suffix == ".log"
                                for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def _brief(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in metrics.items())
