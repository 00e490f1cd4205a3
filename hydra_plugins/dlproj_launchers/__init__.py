"""dlproj's Hydra plugins (see slurm_launcher.py, local_launcher.py, joblib_launcher.py)."""
