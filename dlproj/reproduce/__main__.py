"""`python -m dlproj.reproduce`: see dlproj.reproduce.cli."""

import sys

from dlproj.reproduce.cli import main

sys.exit(main())
