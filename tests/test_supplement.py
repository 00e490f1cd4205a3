"""`python -m dlproj.report --bundle PATH.tar.gz [--with-weights]` (dlproj/supplement.py): the
same runs give the same bytes, it reads back with tarfile and pandas alone, its README lists its
parts, weights only when asked, written whole or not at all; a path it cannot write is one
paragraph and exit 1, a name not a gzipped tar's exit 2, both before the report is built."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest
from test_report import curve, make_run

from dlproj import supplement
from dlproj.report.__main__ import main as report_main

RUN = "supplement/runs/runs/max0"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """An outputs folder with max vs average pooling, 2 seeds each, curves and weights."""
    root = tmp_path_factory.mktemp("supplement") / "outputs"
    for seed in range(2):
        for pooling, acc in (("max", 0.95), ("avg", 0.90)):
            run = make_run(root / "runs", f"{pooling}{seed}", "section=3", f"pooling={pooling}",
                           seed=seed, metrics={"test_acc": acc + 0.01 * seed},
                           curve=curve(2, acc - 0.02))
            np.savez(run / "model.npz", W=np.full(3, seed))
    return root


def _bundle(outputs, path, *extra: str) -> int:
    return report_main(["--outputs", str(outputs), "--out", str(path.parent / "report"),
                        "--quiet", "--bundle", str(path), *extra])


@pytest.fixture(scope="module")
def bundle(outputs, tmp_path_factory):
    """The supplement of `outputs` (no weights), built once for the module; read-only."""
    path = tmp_path_factory.mktemp("bundle") / "s.tar.gz"
    assert _bundle(outputs, path) == 0
    return path


def test_the_same_runs_give_the_same_bytes(outputs, bundle, tmp_path):
    """Built twice, the report (figures too) drawn again in between: the same archive."""
    first, second = bundle, tmp_path / "b" / "s.tar.gz"
    assert _bundle(outputs, second) == 0
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)}


def test_it_reads_back_with_tarfile_and_pandas_alone_and_lists_its_parts(bundle):
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
        results = pd.read_csv(tar.extractfile("supplement/tables/results.csv"))
        claims = pd.read_csv(tar.extractfile("supplement/claims/claims.csv"))
        metrics = pd.read_csv(tar.extractfile(f"{RUN}/metrics.csv"))
        record = json.load(tar.extractfile(f"{RUN}/results.json"))
        readme = tar.extractfile("supplement/README.md").read().decode()
        config = tar.extractfile(f"{RUN}/config.yaml").read().decode()
        env = json.load(tar.extractfile("supplement/environment.json"))
    assert set(results["metric"]) >= {"test_acc"} and len(metrics) == 2
    pooling = claims[claims["claim"] == "max_pooling"].iloc[0]
    assert (pooling["n_a"], pooling["n_b"], pooling["verdict"]) == (2, 2, "supported")
    assert record["status"] == "completed" and "pooling:" in config and "seed: 0" in config
    assert {"supplement/tables/results.tex", "supplement/claims/claims.md",
            "supplement/figures/claims.png", "supplement/figures/claims.pdf",
            "supplement/figures/pooling_max_vs_avg.png", "supplement/study/course.yaml"} <= names
    assert sum(n.startswith("supplement/runs/") and n.endswith("/results.json")
               for n in names) == 4
    assert not any(n.endswith("model.npz") for n in names)  # weights only when asked
    for part in ("tables/results.md", "claims/claims.md", "figures/", "study/",
                 "environment.json", "runs/", "(4 runs)", "--with-weights"):
        assert part in readme, part
    assert env["git"]["commit"] and env["versions"]["scipy"] and env["cpu"]["cores"]


def test_weights_only_with_with_weights(outputs, tmp_path, capsys):
    path = tmp_path / "w.tar.gz"
    assert _bundle(outputs, path, "--with-weights") == 0
    with tarfile.open(path) as tar:
        weights = tar.extractfile(f"{RUN}/model.npz").read()
    assert np.load(io.BytesIO(weights))["W"].tolist() == [0, 0, 0]
    with pytest.raises(SystemExit) as exit_:
        report_main(["--outputs", str(outputs), "--quiet", "--with-weights"])
    assert exit_.value.code == 2 and "only with --bundle" in capsys.readouterr().err


# Folders that exist and refuse what is made in them, also to root (whom mode bits do not stop):
# the kernel's file systems. An absolute target replaces tmp_path in `tmp_path / target`.
@pytest.mark.parametrize("target,named,why", [
    ("file/s.tar.gz", "file", "not a folder"),  # its folder is a file
    ("file/deeper/s.tar.gz", "file", "not a folder"),
    ("folder", "folder", "a folder is there, not a file"),
    ("/proc/dlproj-s.tar.gz", "/proc/dlproj-s.tar.gz", ""),  # the folder refuses a new file
    ("/sys/dlproj-s.tar.gz", "/sys/dlproj-s.tar.gz", ""),
    ("/proc/dlproj-nope/s.tar.gz", "/proc/dlproj-nope", ""),  # ... or the folder to be made
    ("/sys/kernel/dlproj-nope/deeper/s.tgz", "/sys/kernel/dlproj-nope", ""),
])
def test_a_path_it_cannot_write_is_one_paragraph_and_exit_1_before_the_report(
        outputs, tmp_path, capsys, target, named, why):
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "folder" / "inside").mkdir(parents=True)
    before = sorted(tmp_path.rglob("*"))
    assert report_main(["--outputs", str(outputs), "--out", str(tmp_path / "report"), "--quiet",
                        "--no-figures", "--bundle", str(tmp_path / target)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # said before the report is built: no summary line, no report
    assert err[0].startswith(f"dlproj.report: cannot write {tmp_path / named}: {why}")
    assert "--bundle path" in err[0] and "Traceback" not in err[0] and ".tmp-" not in err[0]
    assert sorted(tmp_path.rglob("*")) == before
    assert not (tmp_path / named).exists() or named in ("file", "folder")


@pytest.mark.parametrize("name,written", [
    ("s.zip", False), ("s.tar", False), ("s.gz", False), ("s.tar.bz2", False), ("s", False),
    ("s.tar.gz.zip", False), ("new/deeper/s.zip", False),
    ("s.tgz", True), ("S.TAR.GZ", True), ("new/deeper/s.tar.gz", True),  # folders made
])
def test_only_a_gzipped_tars_name_is_written_the_rest_refused_before_the_report(
        outputs, tmp_path, capsys, name, written):
    """The supplement is a gzipped tar: a name that says otherwise (.zip, .tar) is one
    paragraph naming --bundle and what is allowed, exit 2, before anything is written."""
    path = tmp_path / name
    code = report_main(["--outputs", str(outputs), "--out", str(tmp_path / "report"), "--quiet",
                        "--no-figures", "--bundle", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    if written:
        assert code == 0 and tarfile.is_tarfile(path), err
        return
    assert code == 2 and len(err) == 1, err
    assert err[0] == (f"dlproj.report: --bundle: not a .tar.gz or .tgz name: {path}. Allowed: "
                      "a path ending in .tar.gz or .tgz (the supplement is a gzipped tar, read "
                      "with Python's tarfile), e.g. --bundle supplement.tar.gz.")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_leaves_no_archive(tmp_path, monkeypatch):
    path = tmp_path / "s.tar.gz"
    path.write_bytes(b"the old one")
    calls = iter(range(100))

    def fails_on_the_second(self, info, fileobj=None):
        if next(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(self, info, fileobj)

    real = tarfile.TarFile.addfile
    monkeypatch.setattr(tarfile.TarFile, "addfile", fails_on_the_second)
    with pytest.raises(OSError, match="No space"):
        supplement.write(path, {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    assert path.read_bytes() == b"the old one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tar.gz"]  # no temporary left


@pytest.mark.parametrize("layout", [
    ("p1/out", "p2/out"),  # two outputs folders of one name
    ("a/p/out", "b/p/out"),  # ... and of one parent's name
    ("p1/run", "p2/run"),  # two runs named themselves, of one name
    ("one", "two"),
])
def test_runs_of_outputs_folders_of_one_name_each_keep_their_folder(tmp_path, layout):
    """--outputs given twice, folders of the same name: each run's files in a folder of its own
    (named by as much of its path as tells them apart), none written over another's."""
    roots = []
    for seed, where in enumerate(layout):
        root = tmp_path / where
        if where.endswith("run"):  # --outputs names the run itself
            run = make_run(root.parent, root.name, "section=3", seed=seed,
                           metrics={"test_acc": 0.9 + seed / 100}, curve=curve(2, 0.9))
            roots.append(run)
        else:
            make_run(root / "runs", "x", "section=3", seed=seed,
                     metrics={"test_acc": 0.9 + seed / 100}, curve=curve(2, 0.9))
            roots.append(root)
    path = tmp_path / "s.tar.gz"
    args = [a for r in roots for a in ("--outputs", str(r))]
    assert report_main([*args, "--out", str(tmp_path / "report"), "--quiet", "--no-figures",
                        "--bundle", str(path)]) == 0
    with tarfile.open(path) as tar:
        records = [json.load(tar.extractfile(n)) for n in sorted(tar.getnames())
                   if n.endswith("/results.json")]
        readme = tar.extractfile("supplement/README.md").read().decode()
    assert sorted(r["seed"] for r in records) == [0, 1]
    assert "(2 runs)" in readme
