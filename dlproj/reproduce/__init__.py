"""`make reproduce`: a study's experiments (conf/study/NAME.yaml), then the report.

plan.py          the study + the outputs folder -> every job's state, phase and number (pure)
setting_cache.py setting ids of composed jobs, cached per conf/ fingerprint
conditions.py    which case of the study's `conditions:` holds on this machine
launch.py        the planned jobs through one Hydra multirun, a progress line per job
cli.py           the command line: plan, launch, summary, report
results_doc.py   `make results-doc`: docs/results.md from the runs
"""

from dlproj.reproduce.cli import main

__all__ = ["main"]
