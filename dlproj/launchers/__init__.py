"""Hydra launchers of dlproj's own: `hydra/launcher=slurm` (slurm.py)."""
