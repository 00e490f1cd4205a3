"""`python -m dlproj [overrides]`: the Hydra app itself lives in dlproj/runtime/app.py."""

from dlproj.runtime.app import main

main()
