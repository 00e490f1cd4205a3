"""Read and write the IDX format MNIST ships in (`*-ubyte`, optionally gzipped)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from dlproj.errors import DataError
from dlproj.runtime.atomic import atomic_write

_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (uint8 data) as an array of its stored shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype != _UBYTE:
            raise ValueError(f"magic number {raw[:4].hex()} is not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        if data.size != int(np.prod(shape)):
            raise ValueError(f"holds {data.size} bytes of data, its header says {shape}")
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise DataError(
            f"Cannot read MNIST file {path}: {exc}. Delete it and run `make data` "
            f"(or `python -m dlproj.data`) to fetch MNIST again."
        ) from exc
    return data.reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an (uncompressed) IDX file, atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                      *array.shape)
    return atomic_write(path, lambda fh: (fh.write(header), fh.write(array.tobytes())))
