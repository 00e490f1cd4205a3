"""The MNIST loader on tiny fixtures in torchvision's IDX layout and in the PyPI pkl.gz layout."""

from __future__ import annotations

import gzip
import hashlib
import pickle

import numpy as np
import pytest

from dlproj.data.fetch import RAW_FILES, convert_pickle, raw_dir
from dlproj.data.idx import read_idx, write_idx
from dlproj.data.mnist import load_mnist
from dlproj.errors import DataError


def _fake(rng, n):
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


def _write_raw(root, train, test, gz=False):
    d = raw_dir(root)
    d.mkdir(parents=True)
    for key, arr in (("train_images", train[0]), ("train_labels", train[1]),
                     ("test_images", test[0]), ("test_labels", test[1])):
        path = d / RAW_FILES[key]
        write_idx(path, np.asarray(arr, dtype=np.uint8))
        if gz:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_layout_loads_with_deterministic_validation_split(tmp_path, gz):
    rng = np.random.default_rng(0)
    train, test = _fake(rng, 50), _fake(rng, 12)
    _write_raw(tmp_path, train, test, gz=gz)
    a = load_mnist(tmp_path, download=False, val_size=10, split_seed=1)
    b = load_mnist(tmp_path, download=False, val_size=10, split_seed=1)
    assert (len(a.train), len(a.val), len(a.test)) == (40, 10, 12)
    assert a.train.images.dtype == np.uint8 and a.train.images.shape[1:] == (28, 28)
    np.testing.assert_array_equal(a.val.images, b.val.images)
    np.testing.assert_array_equal(a.test.images, test[0])
    # train + val is exactly the original training set, images still paired with labels
    merged = np.concatenate([a.train.images, a.val.images])
    merged_labels = np.concatenate([a.train.labels, a.val.labels])
    order = np.lexsort(merged.reshape(50, -1).T)
    orig = np.lexsort(train[0].reshape(50, -1).T)
    np.testing.assert_array_equal(merged[order], train[0][orig])
    np.testing.assert_array_equal(merged_labels[order], train[1][orig])
    limited = load_mnist(tmp_path, download=False, val_size=10, train_limit=5, test_limit=3)
    assert (len(limited.train), len(limited.val), len(limited.test)) == (5, 3, 3)


def _pickle_fixture(tmp_path, rng):
    def split(n):
        k = rng.integers(0, 256, size=(n, 784))
        return (k / 256).astype(np.float32), rng.integers(0, 10, n).astype(np.int64), k

    tr, va, te = split(6), split(4), split(5)
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(((tr[0], tr[1]), (va[0], va[1]), (te[0], te[1])), fh)
    return path, tr, va, te


def test_pickle_layout_converts_back_to_uint8(tmp_path):
    path, tr, va, te = _pickle_fixture(tmp_path, np.random.default_rng(1))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    convert_pickle(path, tmp_path / "root", expected_sha256=sha)
    d = raw_dir(tmp_path / "root")
    images = read_idx(d / RAW_FILES["train_images"])
    np.testing.assert_array_equal(images.reshape(10, 784), np.concatenate([tr[2], va[2]]))
    np.testing.assert_array_equal(read_idx(d / RAW_FILES["train_labels"]),
                                  np.concatenate([tr[1], va[1]]))
    np.testing.assert_array_equal(read_idx(d / RAW_FILES["test_images"]).reshape(5, 784), te[2])
    mnist = load_mnist(tmp_path / "root", download=False, val_size=2)
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (8, 2, 5)


def test_wrong_hash_is_rejected_and_nothing_is_cached(tmp_path):
    path, *_ = _pickle_fixture(tmp_path, np.random.default_rng(2))
    with pytest.raises(DataError) as err:
        convert_pickle(path, tmp_path / "root", expected_sha256="0" * 64)
    assert str(path) in str(err.value) and "SHA-256" in str(err.value)
    assert not raw_dir(tmp_path / "root").exists() or not any(raw_dir(tmp_path / "root").iterdir())


def test_unreadable_idx_file_names_the_file(tmp_path):
    rng = np.random.default_rng(3)
    _write_raw(tmp_path, _fake(rng, 5), _fake(rng, 5))
    bad = raw_dir(tmp_path) / RAW_FILES["test_images"]
    bad.write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path, download=False, val_size=1)
    assert str(bad) in str(err.value) and f"python -m dlproj.data {tmp_path}`" in str(err.value)


@pytest.mark.parametrize("where, project", [("data", True), ("data/MNIST/raw/t10k", True),
                                            ("elsewhere", False),
                                            ("elsewhere/MNIST/raw/t10k", False)])
def test_the_fix_for_a_bad_file_fetches_into_its_own_data_root(where, project, tmp_path,
                                                                 monkeypatch):
    """`make data` fills the project's data folder only: a file of another data.root is
    fetched again with `python -m dlproj.data ROOT`."""
    from dlproj import paths

    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    said = paths.refetch(tmp_path / where)
    assert said == ("`make data` (or `python -m dlproj.data`)" if project
                    else f"`python -m dlproj.data {tmp_path / 'elsewhere'}`")


def test_real_mnist_is_the_official_split():
    """The provisioned data/ (make data): 60k + 10k images, every class present."""
    from dlproj import paths

    mnist = load_mnist(paths.data_root(), download=False, val_size=5000)
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (55000, 5000, 10000)
    assert np.bincount(mnist.test.labels).min() > 800
    assert mnist.train.images.max() == 255


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["-h"], 0), (["--bogus"], 2),
                                        (["--root=/tmp/x"], 2), (["a", "b"], 2)])
def test_data_cli_reads_options_as_options_not_as_a_data_folder(monkeypatch, capsys, argv, code):
    """`python -m dlproj.data --help` once fetched MNIST into a folder named `--help`."""
    from dlproj.data import __main__ as cli

    monkeypatch.setattr(cli, "load_raw", lambda root: pytest.fail(f"fetched into {root}"))
    monkeypatch.setattr("sys.argv", ["python -m dlproj.data", *argv])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == code
    out = capsys.readouterr()
    assert "usage: python -m dlproj.data" in (out.out if code == 0 else out.err)


@pytest.mark.parametrize("where, advice, not_advised", [
    ("data", ["`make data`", "or set data.download=true"], []),  # the project's own folder
    ("elsewhere", ["`python -m dlproj.data {root}`", "or set data.download=true"],
     ["make data"]),
    ("not/made/yet", ["`python -m dlproj.data {root}`"], ["make data", "data.download=true"]),
])
def test_missing_files_without_download_advise_what_fills_that_folder(tmp_path, monkeypatch,
                                                                     where, advice, not_advised):
    """`make data` fills the project's data folder only, and a run downloads into no folder it
    would have to make: each was advised for any data.root (and then refused or went nowhere)."""
    from dlproj.data.fetch import fetch_mnist
    from dlproj.errors import DataError

    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    for folder in ("data", "elsewhere"):
        (tmp_path / folder).mkdir()
    root = tmp_path / where
    with pytest.raises(DataError) as err:
        fetch_mnist(root, download=False)
    said = str(err.value)
    assert all(a.format(root=root) in said for a in advice), said
    assert not any(n in said for n in not_advised), said
