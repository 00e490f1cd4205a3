"""Figures a run draws (matplotlib, file output only).

The submodules (`plots.curves`, `plots.cnn`, ...) are imported when first used, so a run that
draws no figure (`figures=false`, the debug presets) and `python -m dlproj.list` never load
pyplot or pandas."""

import importlib

import matplotlib

matplotlib.use("Agg")


def __getattr__(name: str):
    if name.startswith("_"):
        raise AttributeError(name)
    return importlib.import_module(f"{__name__}.{name}")
