"""Figures a run draws (matplotlib, file output only).

The submodules (`plots.curves`, `plots.cnn`, ...) are imported when first used, and matplotlib
with them, so a run that draws no figure (`figures=false`, the debug presets) and
`python -m dlproj.list` never load it (0.15 s). Whichever comes first, the backend is Agg: no
window, no display needed.
"""

import importlib
import os
import sys

if "matplotlib" in sys.modules:
    sys.modules["matplotlib"].use("Agg")
else:  # read by matplotlib when it is imported (MPLBACKEND), as matplotlib.use("Agg") would
    os.environ["MPLBACKEND"] = "Agg"


def __getattr__(name: str):
    if name.startswith("_"):
        raise AttributeError(name)
    return importlib.import_module(f"{__name__}.{name}")
