"""dlproj's joblib launcher as a Hydra plugin (Hydra instantiates launchers only from the
`hydra_plugins` namespace). The logic lives in dlproj/runtime/joblib_launcher.py; without the
`launchers` extra (hydra-joblib-launcher) this module defines nothing. `hydra/launcher=joblib`
names it through dlproj.runtime.joblib_launcher.register (called by `python -m dlproj`)."""

try:
    from dlproj.runtime.joblib_launcher import (
        RelaunchingJoblibLauncher as _RelaunchingJoblibLauncher,
    )
except ImportError:  # hydra-joblib-launcher not installed
    pass
else:

    class RelaunchingJoblibLauncher(_RelaunchingJoblibLauncher):
        """Hydra's JoblibLauncher whose sweep outlives a killed worker (see
        dlproj.runtime.joblib_launcher)."""
