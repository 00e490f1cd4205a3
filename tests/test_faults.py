"""Faults of the command-line tools: every one ends in one paragraph on stderr and a non-zero
exit, writes nothing it should not, and leaves what was there as it was. Resume's own refusals
are in tests/test_run_owner.py."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import warnings
from pathlib import Path

import pytest

from tests.conftest import run_here


def _one_paragraph(err: str, prefix: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    assert "Traceback" not in err


# -- python -m dlproj: a key no schema declares is a typo, `+` or not ---------------------------

@pytest.mark.parametrize("override,key", [
    ("+foo=bar", "foo"),
    ("+model.dropout=0.5", "model.dropout"),
    ("+train.warmup=3", "train.warmup"),
    ("+data.augment=true", "data.augment"),
    ("+optimizer.momentum=0.9", "optimizer.momentum"),  # Adam has none
    ("+threads.pool=2", "threads.pool"),
])
def test_a_plus_key_no_schema_declares_is_refused(tmp_path, override, key):
    run = run_here(["experiment=xor", override], tmp_path / "outputs")
    assert run.proc.returncode == 2, run.output
    assert f"Unknown key '{key}'" in run.proc.stderr and "Allowed" in run.proc.stderr
    assert not list((tmp_path / "outputs").rglob("results.json"))  # not a run, not a setting


@pytest.mark.parametrize("value", ["train.epochs=1,abc", "optimizer.lr=0.1,abc",
                                   "model.hidden=[8],abc", "seed=0,x"])
def test_a_sweep_hydra_cannot_compose_leaves_nothing(tmp_path, value):
    """A swept value of the wrong type is one paragraph and exit 2, and the sweep directory
    Hydra had made for it (its multirun.yaml only) is not left behind."""
    run = run_here(["-m", "experiment=xor", value], tmp_path / "outputs")
    assert run.proc.returncode == 2, run.output
    assert run.proc.stderr.count("dlproj: ") == 1 and "Invalid value" in run.proc.stderr
    assert not [p for p in (tmp_path / "outputs").rglob("*") if p.is_file()]


def test_declared_keys_and_dict_groups_still_take_plus(tmp_path):
    run = run_here(["experiment=xor", "train.epochs=2", "+params.objective=train_acc"],
                   tmp_path / "outputs")
    assert run.proc.returncode == 0, run.output


# -- a diverging run says so once, without NumPy's RuntimeWarnings -----------------------------

_DATA = ["data.train_limit=256", "data.val_size=256", "data.test_limit=256", "figures=false"]
_TWO = "threads.workers=2"  # the step split across the pool's threads (dlproj/pool.py)


@pytest.mark.parametrize("args", [
    ["section=1", "optimizer=sgd", "optimizer.lr=1e6", _TWO, *_DATA],  # NaN in a training step
    ["section=1", "experiment=sin", "optimizer=sgd", "optimizer.lr=1e6", "params.n_train=256",
     _TWO, "figures=false"],  # inf
    ["section=2", "optimizer=sgd", "optimizer.lr=1e6", _TWO, *_DATA],  # NaN in the evaluation
    ["section=2", "optimizer=momentum", "optimizer.lr=1e9", "threads.workers=1", *_DATA],
    ["section=3", "optimizer=sgd", "optimizer.lr=1e30", _TWO, *_DATA],
], ids=["s1-mlp", "s1-sin", "s2-sgd", "s2-momentum-serial", "s3-cnn"])
def test_a_diverging_run_is_recorded_without_numpy_warnings(tmp_path, args):
    with warnings.catch_warnings(record=True) as caught:  # the step's threads' warnings too
        warnings.simplefilter("always")
        run = run_here([*args, "train.epochs=2", "threads.blas=1"], tmp_path / "outputs")
    assert run.proc.returncode == 1, run.output
    assert run.results()["status"] == "diverged", run.output
    assert run.output.count("run diverged: loss became") == 1, run.output
    assert not [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("outputs", ["file/below", "/proc/dlproj-outputs"])
def test_outputs_that_cannot_be_made(tmp_path, outputs):
    (tmp_path / "file").write_text("a regular file\n")
    target = tmp_path / outputs if not outputs.startswith("/") else Path(outputs)
    for args in (["experiment=xor"], ["-m", "experiment=xor", "seed=0,1"]):
        run = run_here(args, target)
        assert run.proc.returncode == 1, run.output
        _one_paragraph(run.proc.stderr, "dlproj: cannot write the outputs folder")


# -- python -m dlproj.reproduce ------------------------------------------------------------------

def _reproduce(args: list[str], capsys) -> tuple[int, str]:
    from dlproj.reproduce.cli import main

    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args,words", [
    (["--study", "nonexistent"], "Unknown study 'nonexistent'"),
    (["--study", "quick", "--sections", "9"], "'--sections': '9'"),
    (["--study", "quick", "--sections", "abc"], "'--sections': 'abc'"),
    (["--study", "quick", "--sections", ","], "'--sections': ','"),
    (["--study", "quick", "--sections", "1,5"], "'--sections': '1,5'"),
    # a name in conf/study/, never a path: `../config` read conf/config.yaml, and a path to a
    # file elsewhere ran its jobs into folders outside --outputs
    *[(["--study", name], f"Unknown study '{name}'. Allowed: course, quick")
      for name in ("../config", "course/../quick", "quick/", "./quick", "/tmp/quick", "")],
])
def test_reproduce_refuses_a_bad_command_line(args, words, capsys):
    code, err = _reproduce([*args, "--dry-run"], capsys)
    assert code == 2
    _one_paragraph(err, "dlproj reproduce: ")
    assert words in err and "Allowed" in err


BAD_STUDIES = {
    "unknown step field": ("steps:\n  mlp:\n    seedz: 2\n", "unknown field"),
    "misspelled step": ("steps:\n  mlpp:\n    seeds: 1\n", "a misspelled step name?"),
    "no seeds": ("steps:\n  mlp:\n    seeds: 0\n", "`seeds: 0`"),
    "bad YAML": ("steps: [\n", "is not valid YAML"),
    "base goes nowhere": ("base: nowhere\n", "Unknown study 'nowhere'"),
    "after names no step": ("steps:\n  sin:\n    after: nothing\n", "names no step"),
    "base is a path": ("base: ../quick\n", "Unknown study '../quick'"),
    "after itself": ("steps:\n  sin:\n    after: sin\n", "goes round in a circle (sin -> sin)"),
    "after goes round": ("steps:\n  sin:\n    after: mlp\n  mlp:\n    after: xor\n  xor:\n"
                         "    after: sin\n", "goes round in a circle"),
}


@pytest.mark.parametrize("case", sorted(BAD_STUDIES))
def test_reproduce_refuses_a_bad_study_file(case, tmp_path, monkeypatch, capsys):
    from dlproj.config import study as studies

    for name in studies.available():
        shutil.copy(studies.STUDY_DIR / f"{name}.yaml", tmp_path)
    text, words = BAD_STUDIES[case]
    base = "" if text.startswith("base:") else "base: quick\n"
    (tmp_path / "bad.yaml").write_text(base + text)
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    code, err = _reproduce(["--study", "bad", "--dry-run"], capsys)
    assert code == 2, err
    _one_paragraph(err, "dlproj reproduce: ")
    assert words in err


def test_one_study_at_a_time_per_outputs(tmp_path, capsys):
    """A second reproduce on outputs a live one holds refuses at once, naming the holder."""
    (tmp_path / "reproduce").mkdir()
    with open(tmp_path / "reproduce" / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242, started 2026-12-06 03:00:00\n")
        held.flush()
        code, err = _reproduce(["--study", "quick", "--sections", "1", "--outputs",
                                str(tmp_path)], capsys)
    assert code == 2
    _one_paragraph(err, "dlproj reproduce: ")
    assert "pid 4242" in err and "--outputs" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reproduce"]  # nothing planned


def test_reproduce_into_outputs_it_cannot_write(tmp_path, capsys):
    (tmp_path / "file").write_text("a regular file\n")
    code, err = _reproduce(["--study", "quick", "--sections", "1", "--outputs",
                            str(tmp_path / "file" / "below")], capsys)
    assert code == 1
    _one_paragraph(err, "dlproj reproduce: cannot write")


# -- python -m dlproj.list ----------------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["section=9"], "Invalid value for 'section': '9'"),
    (["section=0"], "Invalid value for 'section': '0'"),
    (["section=abc"], "Invalid value for 'section': 'abc'"),
    (["section="], "Invalid value for 'section': ''"),
    (["section=1,3"], "Invalid value for 'section': '1,3'"),
    (["section=-1"], "Invalid value for 'section': '-1'"),
    (["section"], "Unknown argument 'section'"),
    (["Section=1"], "Unknown argument 'Section=1'"),
    (["experiment=mlp"], "Unknown argument 'experiment=mlp'"),
    (["--bogus"], "Unknown argument '--bogus'"),
    (["section=1", "section=2"], "One argument at most, not 2 (section=1 section=2)"),
    (["section=1", "extra"], "One argument at most, not 2"),
])
def test_the_listing_refuses_a_bad_command_line(args, words, capsys):
    """Every bad input: one paragraph naming it and the sections there are (read from
    conf/section/), exit 2, and no listing (section=9 printed an empty one, exit 0)."""
    from dlproj import paths
    from dlproj.list import main

    have = ", ".join(sorted(p.stem for p in (paths.CONF_DIR / "section").glob("*.yaml")))
    assert main(args) == 2
    out, err = capsys.readouterr()
    _one_paragraph(err, "dlproj.list: ")
    assert words in err and f"one section=N, N one of {have} (conf/section/)" in err, err
    assert out == ""


def test_the_listing_says_how_it_is_called(capsys):
    from dlproj.list import main

    assert main(["--help"]) == 0
    assert "python -m dlproj.list section=3" in capsys.readouterr().out


# -- python -m dlproj.report --------------------------------------------------------------------

@pytest.mark.parametrize("out", ["file/below", "/proc/dlproj-report"])
def test_report_into_a_folder_it_cannot_write(tmp_path, out, capsys):
    from test_report import SIN, make_run

    from dlproj.report.__main__ import main

    (tmp_path / "file").write_text("a regular file\n")
    make_run(tmp_path / "outputs" / "runs", "r", *SIN, metrics={"test_mse": 0.01})  # one run:
    # a folder with none is refused before --out is tried (tests/test_report.py)
    target = tmp_path / out if not out.startswith("/") else Path(out)
    code = main(["--outputs", str(tmp_path / "outputs"), "--out", str(target), "--quiet",
                 "--no-figures"])
    assert code == 1
    _one_paragraph(capsys.readouterr().err, "dlproj.report: cannot write")


# -- a full disk, a read-only one ----------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """small_disk(kib, full=False, read_only=False, before=None) -> a fresh tmpfs of `kib` KiB
    (`full`: filled to the last byte; `before(path)` fills it before it is made read-only),
    unmounted after the test whatever happens. Mounting needs root and mount
    permission (a container may lack it): the test is skipped, saying so."""
    import subprocess

    mounted: list[Path] = []

    def make(kib: int, *, full: bool = False, read_only: bool = False, before=None) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs",
                                   str(where)], capture_output=True, text=True, timeout=30)
        except OSError as exc:
            done = subprocess.CompletedProcess([], 1, "", str(exc))
        if done.returncode:
            pytest.skip("needs root and permission to mount a tmpfs (to make a small or "
                        f"read-only disk): {done.stderr.strip()}")
        mounted.append(where)
        if full:
            with contextlib.suppress(OSError), open(where / "filler", "wb", buffering=0) as fh:
                fh.write(b"\0" * (kib * 1024 + 1))
        if before is not None:  # what the disk holds before it is made read-only
            before(where)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, timeout=30)
        return where

    yield make
    for where in reversed(mounted):
        if subprocess.run(["umount", str(where)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def _partial_files(root: Path) -> list[Path]:
    """Temporary files of atomic writes (dlproj/files/atomic.py) left behind."""
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


@pytest.mark.parametrize("room", [0, 4, 16, 40])
def test_a_run_on_a_full_disk_ends_in_one_paragraph_with_a_true_record(small_disk, tmp_path,
                                                                      room):
    """`python -m dlproj` with `room` KiB free (0: none): its writes fail at the start or
    partway. One paragraph naming the file and what to do, exit 1, no traceback, no half-written
    file; a record that could be written says `failed` and agrees with the run's files; the
    report over the outputs still reads them."""
    import json

    import numpy as np

    from dlproj.report.build import build_report

    disk = small_disk(max(room, 4), full=room == 0)
    run = run_here(["experiment=xor", "train.epochs=20"], disk)
    assert run.proc.returncode == 1, run.output
    _one_paragraph(run.proc.stderr, "dlproj: cannot write")
    assert "No space left on device" in run.proc.stderr and "DLPROJ_OUTPUTS" in run.proc.stderr
    assert "Traceback" not in run.output and not _partial_files(disk)
    records = list(disk.rglob("results.json"))
    if room == 0:  # refused before anything: no run at all
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "failed" and "No space left on device" in record["error"]
        last = path.parent / "last.npz"
        saved = json.loads(str(np.load(last)["meta"]))["epoch"] if last.exists() else None
        assert record["checkpoint_epoch"] == saved, record
    report = build_report(disk, tmp_path / "report", figures=False)
    assert set(report.runs["status"]) <= {"failed", "incomplete"}, report.runs
    assert len(report.runs[report.runs["status"] == "failed"]) == len(records)


@pytest.mark.parametrize("room", [0, 4, 8])
def test_the_report_onto_a_full_disk(small_disk, tmp_path, capsys, room):
    """`dlproj.report --out` on a disk with `room` KiB free: one paragraph naming the file, exit
    1, and every file it did write is whole (no temporary left)."""
    from dlproj.report.__main__ import main

    assert run_here(["experiment=xor", "train.epochs=3"], tmp_path / "outputs").proc.returncode \
        == 0
    capsys.readouterr()
    out = small_disk(max(room, 4), full=room == 0) / "report"
    code = main(["--outputs", str(tmp_path / "outputs"), "--out", str(out), "--quiet",
                 "--no-figures"])
    assert code == 1
    err = capsys.readouterr().err
    _one_paragraph(err, f"dlproj.report: cannot write {out}/")
    assert "No space left on device" in err and not _partial_files(out.parent)


@pytest.mark.parametrize("room", [0, 8])
def test_reproduce_onto_a_full_disk(small_disk, capsys, room):
    """`dlproj.reproduce --outputs` on a disk with `room` KiB free: it ends in one paragraph
    naming the file it could not write (its lock, its jobs file), exit 1, before any job."""
    from dlproj.report.build import build_report

    outputs = small_disk(max(room, 4), full=room == 0)
    code, err = _reproduce(["--study", "quick", "--sections", "1", "--jobs", "1",
                            "--outputs", str(outputs)], capsys)
    assert code == 1, err
    paragraph = err.strip().splitlines()[-1]
    assert paragraph.startswith(f"dlproj reproduce: cannot write {outputs}/reproduce/"), err
    assert "No space left on device" in paragraph and "Traceback" not in err
    assert not _partial_files(outputs) and not (outputs / "multirun").exists()
    assert build_report(outputs, outputs.parent / "report", figures=False).runs.empty


@pytest.mark.parametrize("tool", ["dlproj", "dlproj -m", "dlproj resume=", "dlproj.reproduce",
                                  "dlproj.report"])
def test_every_tool_onto_a_read_only_disk(small_disk, tmp_path, capsys, tool):
    """Outputs on a read-only file system (root writes through mode bits, not through this): one
    paragraph saying so, exit 1, nothing written."""
    import shutil

    from dlproj.report.__main__ import main as report

    made = run_here(["experiment=xor", "train.epochs=3"], tmp_path / "outputs")
    assert made.proc.returncode == 0, made.output
    capsys.readouterr()
    holds = (lambda d: shutil.copytree(made.run_dir, d / "run")) if "resume" in tool else None
    disk = small_disk(256, read_only=True, before=holds)
    before = sorted(disk.rglob("*"))
    if tool.startswith("dlproj ") or tool == "dlproj":
        args = {"dlproj": ["experiment=xor"], "dlproj -m": ["-m", "experiment=xor", "seed=0,1"],
                "dlproj resume=": [f"resume={disk / 'run'}", "train.epochs=5"]}[tool]
        run = run_here(args, disk)
        code, err, prefix = run.proc.returncode, run.proc.stderr, "dlproj: cannot write "
    elif tool == "dlproj.reproduce":
        code, err = _reproduce(["--study", "quick", "--sections", "1", "--outputs", str(disk)],
                               capsys)
        prefix = f"dlproj reproduce: cannot write {disk}"
    else:
        code = report(["--outputs", str(tmp_path / "outputs"), "--out", str(disk / "report"),
                       "--quiet", "--no-figures"])
        err, prefix = capsys.readouterr().err, f"dlproj.report: cannot write {disk}"
    assert code == 1, err
    _one_paragraph(err, prefix)
    assert "Read-only file system" in err
    assert sorted(disk.rglob("*")) == before


@pytest.mark.parametrize("writer", ["write_text", "write_json", "save_npz", "report --bundle"])
def test_a_file_written_where_a_folder_is_names_the_file(tmp_path, writer, capsys):
    """Every atomic writer asked to write over a folder says so of the path it was given, not
    of its temporary (".NAME.tmp-..."), and leaves nothing behind."""
    import numpy as np

    from dlproj.files import atomic

    target = tmp_path / "adir"
    (target / "inside").mkdir(parents=True)
    if writer == "report --bundle":
        from dlproj.report.__main__ import main

        assert run_here(["experiment=xor", "train.epochs=2"], tmp_path / "out").proc \
            .returncode == 0
        capsys.readouterr()
        assert main(["--outputs", str(tmp_path / "out"), "--out", str(tmp_path / "report"),
                     "--quiet", "--no-figures", "--bundle", str(target)]) == 1
        err = capsys.readouterr().err
        assert f"dlproj.report: cannot write {target}: a folder is there" in err, err
        assert ".tmp-" not in err and "Traceback" not in err
    else:
        args = {"write_text": ("x",), "write_json": ({},), "save_npz": ({"a": np.zeros(2)},)}
        with pytest.raises(IsADirectoryError) as raised:
            getattr(atomic, writer)(target, *args[writer])
        assert raised.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name) == []
    assert [p.name for p in target.iterdir()] == ["inside"]


@pytest.mark.parametrize("where", ["a file", "inside a file"])
@pytest.mark.parametrize("key", ["hydra.run.dir", "hydra.sweep.dir"])
def test_a_run_or_sweep_folder_that_cannot_be_made(tmp_path, key, where):
    """hydra.run.dir / hydra.sweep.dir naming a file (or a folder inside one): one paragraph
    naming it, exit 1, nothing left behind; not the traceback of Hydra's mkdir."""
    (tmp_path / "afile").write_text("not a folder\n")
    folder = tmp_path / "afile" / ("sub" if where == "inside a file" else "")
    args = ["experiment=xor", "train.epochs=1", "figures=false", f"{key}={folder}"]
    run = run_here([*(["-m", "seed=0,1"] if "sweep" in key else []), *args], tmp_path / "out")
    assert run.proc.returncode == 1, run.output
    _one_paragraph(run.proc.stderr, f"dlproj: cannot make or write {str(folder).rstrip('/')}")
    assert (tmp_path / "afile").read_text() == "not a folder\n"
    assert not list((tmp_path / "out").rglob("*.json")), "a run was recorded"


@pytest.mark.parametrize("args", [
    ["train.epochs=-3"],  # refused by the runner, in the run folder Hydra made
    ["experiment=xor", "nosuch.key=1"],  # refused by Hydra as it composes
    ["experiment=xor", "optimizer.lr=abc"],
    ["experiment=xor", "train.epochs=0", "hydra.run.dir={tmp}/new/deep/run"],
    ["-m", "experiment=xor", "seed=0,x"],  # a sweep Hydra cannot compose
    ["-m", "experiment=xor", "nosuch=1,2", "hydra.sweep.dir={tmp}/new/deep/sweep"],
], ids=lambda a: " ".join(a))
def test_a_refused_command_leaves_no_folder(tmp_path, args):
    """Nothing is made for a command refused before its run starts: neither a run or sweep
    folder nor a parent made for it (runs/, multirun/, a new outputs folder)."""
    before = set(tmp_path.rglob("*"))
    run = run_here([a.replace("{tmp}", str(tmp_path)) for a in args], tmp_path / "a" / "fresh")
    assert run.proc.returncode == 2, run.output
    assert run.proc.stderr.count("dlproj: ") == 1, run.output
    assert set(tmp_path.rglob("*")) == before
