"""`python -m dlproj [overrides]`: the entry point lives in dlproj.app so the Hydra job is named dlproj."""

from dlproj.app import main

main()
