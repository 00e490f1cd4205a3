"""dlproj's submitit launchers as Hydra plugins (Hydra instantiates launchers only from the
`hydra_plugins` namespace): `hydra/launcher=slurm` and `submitit_local`. The logic lives in
dlproj/runtime/slurm_launcher.py and dlproj/runtime/submitit_launcher.py; without the
`launchers` extra (hydra-submitit-launcher) this module defines nothing. `submitit_local` names
its class through dlproj.runtime.submitit_launcher.register (called by `python -m dlproj`)."""

try:
    from dlproj.runtime.slurm_launcher import CheckedSlurmLauncher as _CheckedSlurmLauncher
    from dlproj.runtime.slurm_launcher import register
    from dlproj.runtime.submitit_launcher import LocalLauncher as _LocalLauncher
except ImportError:  # hydra-submitit-launcher not installed
    pass
else:

    class CheckedSlurmLauncher(_CheckedSlurmLauncher):
        """submitit's SlurmLauncher that watches its jobs with squeue."""

    class LocalLauncher(_LocalLauncher):
        """submitit's LocalLauncher whose sweep outlives a job that left no result."""

    register()
