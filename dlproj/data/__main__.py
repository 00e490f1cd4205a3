"""`python -m dlproj.data [ROOT]`: make sure MNIST is under ROOT (default: the project's data/)."""

from __future__ import annotations

import logging
import sys

from dlproj import paths
from dlproj.data.mnist import load_raw
from dlproj.errors import DataError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = paths.resolve_data_root(sys.argv[1]) if len(sys.argv) > 1 else paths.data_root()
    try:
        arrays = load_raw(root)
    except DataError as exc:
        print(f"dlproj: {exc}", file=sys.stderr)
        return 1
    print(f"MNIST ready in {root}: {len(arrays['train_labels'])} train, "
          f"{len(arrays['test_labels'])} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
