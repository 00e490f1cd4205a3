"""A Hydra callback: when a multirun ends, aggregate its jobs into `<sweep dir>/report/`
(docs/report.md, *Each sweep, when it ends*), and again when one of its jobs is resumed on its
own. It never raises: a broken report must not turn a finished sweep into a failed command.
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
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            self._build(sweep_dir, print_table=self.print_table)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        """A job of a sweep run again on its own (`resume=<sweep dir>/N`): the sweep's report,
        built as the sweep ended, is built again once the job's record is newer, so that it does
        not show the job as it was (interrupted, say) beside its completed record."""
        run_dir = Path(str(config.hydra.run.dir))
        sweep_dir, record = run_dir.parent, run_dir / "results.json"
        index = sweep_dir / "report" / "index.md"
        try:
            stale = ((sweep_dir / "multirun.yaml").is_file() and index.is_file()
                     and record.stat().st_mtime > index.stat().st_mtime)
        except OSError:  # no record: the run wrote nothing
            return
        if stale:
            self._build(sweep_dir, print_table=False)

    def _build(self, sweep_dir: Path, *, print_table: bool) -> None:
        try:
            from dlproj.report.build import build_report

            report = build_report([sweep_dir], sweep_dir / "report", figures=self.figures,
                                  matched_only=True)
            for problem in report.problems:
                log.warning("report: skipped %s", problem)
            if print_table:
                print(report.markdown, flush=True)
            log.info("sweep report: %d runs in %d rows -> %s", len(report.runs),
                     len(report.rows), sweep_dir / "report" / "results.md")
        except Exception as exc:
            log.warning("sweep report not built: %s: %s", type(exc).__name__, exc)
