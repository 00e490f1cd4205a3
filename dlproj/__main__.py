"""`python -m dlproj [overrides]`: the Hydra app itself lives in dlproj/runtime/app.py;
`--help` is answered from conf/ alone, before Hydra is imported."""

import sys

if any(a in ("--help", "-h") for a in sys.argv[1:]):
    from dlproj.list import help_text

    print(help_text())
else:
    from dlproj.runtime.app import main

    main()
