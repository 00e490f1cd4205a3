"""Read and write the IDX format MNIST ships in (`*-ubyte`, optionally gzipped)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from dlproj.errors import DataError
from dlproj.files.atomic import atomic_write
from dlproj.paths import refetch

_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (uint8 data) as an array of its stored shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
        if len(raw) < 4:
            raise ValueError(f"it is {len(raw)} bytes long, shorter than an IDX header")
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype != _UBYTE or not 1 <= ndim <= 4:
            raise ValueError(f"its magic number 0x{raw[:4].hex()} is not that of an "
                             f"unsigned-byte IDX file (0x00000801 labels, 0x00000803 images)")
        if len(raw) < 4 + 4 * ndim:
            raise ValueError(f"its header is cut short ({len(raw)} bytes)")
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        announced = math.prod(shape)  # Python's integers: NumPy's int64 overflows on nonsense
        if data.size != announced:
            sizes = " x ".join(map(str, shape)) + (f" = {announced}" if ndim > 1 else "")
            raise ValueError(f"it holds {data.size} bytes of data where its header announces "
                             f"{sizes} (truncated or padded)")
    except (OSError, ValueError, struct.error, EOFError, zlib.error) as exc:
        reason = exc if isinstance(exc, ValueError) else (
            f"{'zlib.error' if isinstance(exc, zlib.error) else type(exc).__name__}: {exc}")
        raise DataError(
            f"Cannot read MNIST file {path}: {reason}. Delete it and run {refetch(path)} to "
            f"fetch MNIST again."
        ) from None
    return data.reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an (uncompressed) IDX file, atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                      *array.shape)
    return atomic_write(path, lambda fh: (fh.write(header), fh.write(array.tobytes())))
