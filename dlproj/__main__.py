"""`python -m dlproj [overrides]`: the Hydra app itself lives in dlproj.app (see there)."""

from dlproj.app import main

main()
