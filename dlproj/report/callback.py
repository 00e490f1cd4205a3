"""A Hydra callback: when a multirun ends, aggregate its jobs into `<sweep dir>/report/`
(docs/report.md, *Each sweep, when it ends*). It never raises: a broken report must not turn a
finished sweep into a failed command.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("dlproj.report")


class AggregateOnMultirunEnd(Callback):
    def __init__(self, figures: bool = True, print_table: bool = True) -> None:
        self.figures = figures
        self.print_table = print_table

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            sweep_dir = Path(config.hydra.sweep.dir)
            if not sweep_dir.is_dir():
                return
            from dlproj.report.build import build_report

            report = build_report([sweep_dir], sweep_dir / "report", figures=self.figures,
                                  matched_only=True)
            for problem in report.problems:
                log.warning("report: skipped %s", problem)
            if self.print_table:
                print(report.markdown, flush=True)
            log.info("sweep report: %d runs in %d rows -> %s", len(report.runs),
                     len(report.rows), sweep_dir / "report" / "results.md")
        except Exception as exc:
            log.warning("sweep report not built: %s: %s", type(exc).__name__, exc)
