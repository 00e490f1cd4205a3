"""dlproj's submitit_local launcher as a Hydra plugin (Hydra instantiates launchers only from
the `hydra_plugins` namespace). The logic lives in dlproj/runtime/submitit_launcher.py; without
the `launchers` extra (hydra-submitit-launcher) this module defines nothing.
`hydra/launcher=submitit_local` names it through that module's `register` (called by
`python -m dlproj`)."""

try:
    from dlproj.runtime.submitit_launcher import LocalLauncher as _LocalLauncher
except ImportError:  # hydra-submitit-launcher not installed
    pass
else:

    class LocalLauncher(_LocalLauncher):
        """submitit's LocalLauncher whose sweep outlives a job that left no result
        (dlproj.runtime.submitit_launcher)."""
