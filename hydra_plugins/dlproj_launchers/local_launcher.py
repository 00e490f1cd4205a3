"""dlproj's submitit_local launcher as a Hydra plugin (Hydra instantiates launchers only from the
`hydra_plugins` namespace). The logic lives in dlproj/launchers/submitit.py; without the
`launchers` extra (hydra-submitit-launcher) this module defines nothing.
`hydra/launcher=submitit_local` names it through dlproj.launchers.submitit.register (called by
`python -m dlproj`)."""

try:
    from dlproj.launchers.submitit import LocalLauncher as _LocalLauncher
except ImportError:  # hydra-submitit-launcher not installed
    pass
else:

    class LocalLauncher(_LocalLauncher):
        """submitit's LocalLauncher whose sweep outlives a job that left no result
        (dlproj.launchers.submitit)."""
