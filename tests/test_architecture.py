"""The house the right way up (README, "How it fits together"): the science on the ground floor
imports nothing of the frame above it. Imports inside functions count too: a deferred import is
still an arrow that runs back up."""

from __future__ import annotations

import ast

import pytest

from dlproj import paths

GROUND = ["nn", "optim", "plots", "torchnets", "training", "data"]
FRAME = ("config", "registry", "runtime", "report", "reproduce", "loggers", "claims", "bench",
         "experiments", "launchers", "supplement", "list")


def _imports(path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    names += [f"dlproj.{a.name}" for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module == "dlproj" for a in n.names]
    return names


@pytest.mark.parametrize("package", GROUND)
def test_the_ground_floor_imports_nothing_of_the_frame(package):
    found = [(path.name, name) for path in sorted((paths.PROJECT_ROOT / "dlproj" / package)
                                                  .rglob("*.py"))
             for name in _imports(path) if name.split(".")[:2][-1] in FRAME
             and name.startswith("dlproj.")]
    assert not found, f"dlproj/{package} imports the frame above it: {found}"
