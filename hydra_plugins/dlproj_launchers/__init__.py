"""dlproj's Hydra plugins (see submitit_launchers.py, joblib_launcher.py)."""
