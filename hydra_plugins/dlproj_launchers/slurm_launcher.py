"""dlproj's SLURM launcher as a Hydra plugin (Hydra instantiates launchers only from the
`hydra_plugins` namespace). The logic lives in dlproj/runtime/slurm_launcher.py; without the
`launchers` extra (hydra-submitit-launcher) this module defines nothing."""

try:
    from dlproj.runtime.slurm_launcher import CheckedSlurmLauncher as _CheckedSlurmLauncher
    from dlproj.runtime.slurm_launcher import register
except ImportError:  # hydra-submitit-launcher not installed
    pass
else:

    class CheckedSlurmLauncher(_CheckedSlurmLauncher):
        """submitit's SlurmLauncher that watches its jobs with squeue
        (dlproj.runtime.slurm_launcher)."""

    register()
