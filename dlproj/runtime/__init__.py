"""The run's lifecycle: the Hydra app (app.py), the checks before a run (validate.py, memory.py),
the runner, the run directory's one owner, resume, threads, signals, and the Hydra callback of a
multirun."""
