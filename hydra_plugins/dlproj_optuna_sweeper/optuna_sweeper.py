"""dlproj's Optuna sweeper as a Hydra plugin (Hydra instantiates sweepers only from the
`hydra_plugins` namespace). The logic lives in dlproj/runtime/optuna_sweeper.py; without the
`search` extra (hydra-optuna-sweeper) this module defines nothing. `hydra/sweeper=optuna` names
it through dlproj.runtime.optuna_sweeper.register (called by `python -m dlproj`)."""

try:
    from dlproj.runtime.optuna_sweeper import CountingOptunaSweeper as _CountingOptunaSweeper
except ImportError:  # hydra-optuna-sweeper not installed
    pass
else:

    class CountingOptunaSweeper(_CountingOptunaSweeper):
        """Hydra's Optuna sweeper whose study goes on past a trial that did not complete."""
