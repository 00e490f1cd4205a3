"""dlproj's Optuna sweeper (hydra_plugins.dlproj_optuna_sweeper.optuna_sweeper)."""
