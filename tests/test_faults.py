"""Faults of the command-line tools: every one ends in one paragraph on stderr and a non-zero
exit, writes nothing it should not, and leaves what was there as it was. Resume's own refusals
are in tests/test_run_owner.py."""

from __future__ import annotations

import fcntl
import shutil
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


def test_declared_keys_and_dict_groups_still_take_plus(tmp_path):
    run = run_here(["experiment=xor", "train.epochs=2", "+params.objective=train_acc"],
                   tmp_path / "outputs")
    assert run.proc.returncode == 0, run.output


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


# -- python -m dlproj.report --------------------------------------------------------------------

@pytest.mark.parametrize("out", ["file/below", "/proc/dlproj-report"])
def test_report_into_a_folder_it_cannot_write(tmp_path, out, capsys):
    from dlproj.report.__main__ import main

    (tmp_path / "file").write_text("a regular file\n")
    (tmp_path / "outputs").mkdir()
    target = tmp_path / out if not out.startswith("/") else Path(out)
    code = main(["--outputs", str(tmp_path / "outputs"), "--out", str(target), "--quiet",
                 "--no-figures"])
    assert code == 1
    _one_paragraph(capsys.readouterr().err, "dlproj.report: cannot write")
