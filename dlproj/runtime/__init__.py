"""The run's lifecycle: the Hydra app (app.py), the runner, the run directory's one owner, resume,
threads, signals, what produced a result (metadata.py), and the Hydra callbacks of a multirun."""
