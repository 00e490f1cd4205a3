"""The bench's nets: their torch twins (dlproj/torchnets/twins.py) compute what the NumPy nets
compute, and its FLOP counts add up."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from dlproj.bench.step_speed import MODELS, step_flops
from dlproj.torchnets.twins import twin


@pytest.mark.parametrize("name", sorted(MODELS))
def test_twin_gives_the_same_logits(name):
    spec = MODELS[name]
    model = spec.build()
    shape = (1, 28, 28) if spec.images else (784,)
    x = np.random.default_rng(1).normal(size=(3, *shape)).astype(np.float32)
    with torch.no_grad():
        theirs = twin(model)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, model.forward(x, train=False), atol=1e-4)


def _flops(name: str, *shape: int) -> int:
    """torch's count of a training step of the bench model's twin on a batch of `shape`."""
    x = torch.zeros(shape)
    return step_flops(twin(MODELS[name].build()), x, torch.zeros(len(x), dtype=torch.long))


def test_flops_by_hand():
    """The count is the step's GEMMs: forward, dW, and dx except for the first layer."""
    n = 64
    conv1 = 2 * n * 28 * 28 * 9 * 1 * 8  # no dx for the first layer: forward + dW
    conv2 = 2 * n * 14 * 14 * 9 * 8 * 16
    fc = 2 * n * 7 * 7 * 16 * 10
    assert _flops("cnn_small", n, 1, 28, 28) == 2 * conv1 + 3 * conv2 + 3 * fc
    wide = 2 * n * 9 * (28 * 28 * 1 * 32 * 2 + 14 * 14 * 32 * 64 * 3) + 3 * 2 * n * 7 * 7 * 64 * 10
    assert _flops("cnn_wide", n, 1, 28, 28) == wide
    mlp = 2 * 128 * (2 * 784 * 512 + 3 * 512 * 256 + 3 * 256 * 10)
    assert _flops("mlp", 128, 784) == mlp
    assert _flops("two_layer", 128, 784) == 2 * 128 * (2 * 784 * 512 + 3 * 512 * 10)


def test_section4_block_counts_and_times_every_path(torch_one_thread):
    """The Section 4 block's FLOP count is torch's own: a training step is about three of the
    network's forward passes (forward, and the gradients of inputs and weights)."""
    from torch.utils.flop_counter import FlopCounterMode

    from dlproj.bench import step_speed

    model = step_speed._net("resnet", torch, torch.contiguous_format)
    with FlopCounterMode(display=False) as forward:
        model(torch.randn(2, 1, 28, 28))
    step = step_flops(model, torch.randn(2, 1, 28, 28), torch.zeros(2, dtype=torch.long))
    assert 2.5 < step / forward.get_total_flops() < 3.1
    lines = []
    step_speed.run_section4([1], steps=1, repeats=1, batch=2, out=lines.append)
    assert lines[1] == step_speed.SECTION4_HEADER and len(lines) == 5 and "GEMM rate" in lines[-1]
    rows = [line.split() for line in lines[2:4]]
    assert [r[1] for r in rows] == ["plain", "resnet"]
    # default, channels-last and bf16-mixed milliseconds, each with its speed-up over default
    assert all(float(r[3]) > 0 and float(r[6]) > 0 and float(r[9]) > 0 and float(r[10]) > 0
               and float(r[11]) > 0 for r in rows)
    assert all(len(r) == 12 for r in rows)


def test_the_step_table_times_both_frameworks(torch_one_thread):
    from dlproj.bench import step_speed

    lines = []
    step_speed.run([1], ["two_layer"], steps=1, repeats=1, out=lines.append)
    assert lines[0].startswith("numpy's BLAS: ") and lines[1] == step_speed.HEADER
    row = lines[-1].split()  # numpy ms, torch ms, ratio, numpy GF/s, of GEMM, torch GF/s, ...
    assert row[:2] == ["1", "two_layer"] and len(row) == 9
    assert float(row[2]) > 0 and float(row[3]) > 0 and float(row[5]) > 0 and float(row[7]) > 0


@pytest.mark.parametrize("settle", [0, 0.01])
@pytest.mark.parametrize("calls,repeats,warmup", [(1, 1, 0), (3, 2, 2), (5, 3, 1)])
def test_a_repeat_after_a_pause_is_timed_warm(monkeypatch, settle, calls, repeats, warmup):
    """After its pause (`settle`) a repeat steps untimed for WARM_S before it is timed; without
    a pause (whole runs, the GEMM) every call is timed and none is added."""
    from dlproj.bench import step_speed

    clock = [0.0]  # a clock of the test's own: each step costs 4 ms of it, a pause none
    monkeypatch.setattr(step_speed, "WARM_S", 0.02)
    monkeypatch.setattr(step_speed.time, "perf_counter", lambda: clock[0])
    log: list[str] = []
    monkeypatch.setattr(step_speed.time, "sleep", lambda s: log.append("pause"))

    def step(key: str) -> None:
        log.append(key)
        clock[0] += 0.004

    steps = {k: functools.partial(step, k) for k in "ab"}
    t = step_speed.alternate(steps, calls=calls, repeats=repeats, warmup=warmup, settle=settle)
    assert t == pytest.approx({"a": 0.004, "b": 0.004})  # the timed calls alone
    pauses = [i for i, k in enumerate(log) if k == "pause"]
    assert len(pauses) == (2 * repeats if settle else 0)
    assert log[:2 * warmup] == ["a"] * warmup + ["b"] * warmup
    if not settle:  # every call timed, none added
        assert log[2 * warmup:] == (["a"] * calls + ["b"] * calls) * repeats
    for lo, hi in itertools.pairwise([*pauses, len(log)]):  # WARM_S warm, then `calls` timed
        run = log[lo + 1:hi]
        assert len(set(run)) == 1 and len(run) - calls in (5, 6)  # 20 ms of 4 ms steps


@pytest.mark.parametrize("coretype", [None, "Haswell", "Prescott"])
def test_the_bench_names_numpys_blas_and_a_forced_kernel(monkeypatch, coretype):
    from dlproj.bench.step_speed import blas_line

    if coretype:
        monkeypatch.setenv("OPENBLAS_CORETYPE", coretype)
    else:
        monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    line = blas_line()
    assert line.startswith("numpy's BLAS: openblas ")
    assert (f"OPENBLAS_CORETYPE={coretype}" in line) == bool(coretype)


@pytest.mark.parametrize("args", [
    "--steps 0", "--steps -3", "--repeats 0", "--threads 0", "--threads -1", "--threads abc",
    "--threads 1,,2", "--section4 -1", "--logging -1", "--end-to-end x", "--models mlp,foo",
    "--end-to-end 55001", "--end-to-end 70000",  # more than the training split holds
])
def test_bad_bench_arguments_are_one_line_and_exit_2(args, capsys):
    """What makes no bench (no steps, no threads, a negative count) is refused by argparse in
    one line naming the argument, before anything is measured: not a traceback, not negative
    times."""
    import runpy
    import sys

    saved = sys.argv
    sys.argv = ["python -m dlproj.bench", *args.split()]
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_module("dlproj.bench", run_name="__main__")
    finally:
        sys.argv = saved
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"error: argument {args.split()[0]}: " in err and "allowed" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("root", ["a_file", "cut_short"])
def test_bench_on_bad_data_says_so_in_one_paragraph(tmp_path, capsys, root):
    """MNIST the bench cannot read ends it as it ends a run: `dlproj: ...`, exit 1."""
    import runpy
    import sys

    from dlproj.data.fetch import RAW_FILES, raw_dir

    (tmp_path / "a_file").write_text("x")
    raw = raw_dir(tmp_path / "cut_short")
    raw.mkdir(parents=True)
    for name in RAW_FILES.values():
        (raw / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x27\x10" + bytes(5))
    saved = sys.argv
    sys.argv = ["python -m dlproj.bench", "--threads", "1", "--models", "mlp", "--steps", "1",
                "--repeats", "1", "--section4", "0", "--end-to-end", "0", "--logging", "0",
                "--data-root", str(tmp_path / root)]
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_module("dlproj.bench", run_name="__main__")
    finally:
        sys.argv = saved
    assert str(exit_.value.code).startswith("dlproj: ") and str(tmp_path / root) in str(
        exit_.value.code)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "2", "999", "auto", " 3", "0", "-1", "abc", "1.5", "true"])
def test_bench_threads_take_what_a_runs_threads_take(value, monkeypatch, capsys, compose_cfg):
    """--threads follows a run's rule for threads.* (dlproj/runtime/threads.py), in its words:
    auto (every core) or an integer >= 1, more than the cores too (a run may oversubscribe them:
    threads.workers=999 on 2 cores is taken, so 999 is a count the bench may time)."""
    from dlproj.bench import __main__ as bench
    from dlproj.errors import ConfigError
    from dlproj.runtime import threads

    for module in (bench, threads):
        monkeypatch.setattr(module, "cores", lambda: 2)
    monkeypatch.delenv(threads.JOBS_ENV, raising=False)
    try:
        run = threads.numpy_plan(compose_cfg([f"threads.workers={value.strip()}"]).threads)
    except ConfigError as exc:
        run = exc
    if not isinstance(run, ConfigError):
        assert bench.arguments(["--threads", value]).threads == [run.workers]
        return
    with pytest.raises(SystemExit) as exit_:
        bench.arguments(["--threads", f"1,{value}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and threads.ALLOWED in str(run)
    assert f"error: argument --threads: {value.strip()!r}: allowed: {threads.ALLOWED}\n" in err


@pytest.mark.parametrize("root", ["typo", "typo/below", "relative typo", "empty folder", "a_file",
                                  "the project's", "a fresh DLPROJ_DATA"])
def test_bench_data_root_is_held_to_a_runs_data_root_rule(root, tmp_path, monkeypatch, capsys,
                                                          compose_cfg):
    """--data-root is refused where a run's data.root is (Config.check: a folder not there yet,
    other than the project's own, is a typo a download would make and fill), naming the flag and
    the path in one line, exit 2, before anything is fetched or measured."""
    import os

    from dlproj import paths
    from dlproj.bench import __main__ as bench
    from dlproj.config.schema import Config
    from dlproj.errors import ConfigError

    (tmp_path / "empty folder").mkdir()
    (tmp_path / "a_file").write_text("x")  # there: the fetcher says why it cannot be used
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "fresh"))
    path = {"relative typo": os.path.relpath(tmp_path / "typo", paths.PROJECT_ROOT),
            "the project's": "data", "a fresh DLPROJ_DATA": str(tmp_path / "fresh")}.get(
        root, str(tmp_path / root))
    if root == "the project's":
        monkeypatch.delenv("DLPROJ_DATA")
    try:
        Config.check(compose_cfg([f"data.root={path}"]))
        refused = False
    except ConfigError as exc:
        refused = True
        assert f"'data.root': {path!r}" in str(exc)
    assert refused == (root in ("typo", "typo/below", "relative typo"))
    if not refused:
        assert bench.arguments(["--data-root", path]).data_root == str(paths.resolve_path(path))
        return
    with pytest.raises(SystemExit) as exit_:
        bench.arguments(["--data-root", path])
    err = capsys.readouterr().err
    line = err.splitlines()[-1]
    assert exit_.value.code == 2 and err.count("error:") == 1
    assert line.startswith("python -m dlproj.bench: error: argument --data-root: ")
    assert str(paths.resolve_path(path)) in line and paths.NEW_DATA_ROOT in line
    assert not paths.resolve_path(path).exists()


@pytest.mark.parametrize("name", ["mnist", "with space", "it's", "a,b=c", "[x]"])
def test_the_end_to_end_run_reads_the_benchs_data_root(tmp_path, monkeypatch, compose_cfg, name):
    """`--data-root` reaches the section=3 run of the end-to-end line as its data.root, read
    back by Hydra as the same path whatever it holds."""
    from dlproj.bench import end_to_end

    seen = []

    def run(outputs, *args):
        seen.extend(args)
        (Path(outputs) / "metrics.csv").write_text("epoch,epoch_seconds\n1,2.5\n2,1.5\n")

    monkeypatch.setattr(end_to_end, "_dlproj", run)
    root = tmp_path / name
    assert end_to_end.dlproj_epoch(1, 64, str(root)) == 1.5
    (override,) = [a for a in seen if a.startswith("data.root=")]
    assert compose_cfg([override]).data.root == str(root)
    seen.clear()
    end_to_end.dlproj_epoch(1, 64)
    assert not [a for a in seen if a.startswith("data.root=")]
