"""docs/results.md, the README's results, is generated from the runs: every command in it is a
step of the study, its tables have the report's columns, and the generator puts each run under
the step that ran it."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from conftest import run_here

from dlproj import paths
from dlproj.config import study as studies
from dlproj.reproduce import results_doc
from dlproj.tables import md_table

DOC = paths.PROJECT_ROOT / "docs" / "results.md"
COMMAND = re.compile(r"^`(python -m dlproj[^`]*)`$", re.M)
TINY = """\
title: tiny
steps:
  xor:
    title: XOR
    section: 1
    overrides:
      experiment: xor
      train.epochs: 20
    seeds: 2
  xor_long:
    title: XOR, longer
    section: 1
    overrides:
      experiment: xor
      train.epochs: 30
claims:
  longer_is_better:
    quote: Thirty epochs beat twenty.
    report_section: "0"
    section: 1
    experiment: xor
    arms: {twenty: {train.epochs: 20}, thirty: {train.epochs: 30}}
    metric: train_loss
    direction: lower
    steps: [xor, xor_long]
"""


def table_headers(text: str) -> set[str]:
    lines = text.splitlines()
    return {" ".join(lines[i].split()) for i in range(len(lines) - 1)
            if lines[i].startswith("|") and "-" in lines[i + 1]
            and set(lines[i + 1]) <= set("|-: ")}


@pytest.fixture(scope="module")
def tiny_doc(tmp_path_factory):
    """The doc rendered for a tiny study from four real runs (one a repeat, one of no step),
    each `python -m dlproj` in this process (conftest.run_here)."""
    tmp = tmp_path_factory.mktemp("results_doc")
    folder = tmp / "studies"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    shutil.copy(studies.STUDY_DIR / "course.yaml", folder)  # the course report's numbers
    outputs = tmp / "outputs"
    for args in (["seed=0"], ["seed=1"], ["seed=1"], ["train.epochs=7"]):
        full = ["experiment=xor", "train.epochs=20", *args]
        assert run_here(full, outputs).proc.returncode == 0
    saved, studies.STUDY_DIR = studies.STUDY_DIR, folder
    try:
        return results_doc.render("tiny", outputs)
    finally:
        studies.STUDY_DIR = saved


@pytest.fixture
def tiny_study(tmp_path, monkeypatch):
    """conf/study/ as a folder of its own: the tiny study beside the course's (its course-report
    numbers), read in place of the project's. Returns the folder."""
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    shutil.copy(studies.STUDY_DIR / "course.yaml", folder)  # the course report's numbers
    monkeypatch.setattr(studies, "STUDY_DIR", folder)
    return folder


def test_each_run_lands_under_its_step(tiny_doc):
    first, second = tiny_doc.split("### 2. XOR, longer")
    assert "`python -m dlproj -m experiment=xor train.epochs=20 seed=0,1`" in first
    rows = [ln for ln in first.split("## Every step")[1].splitlines()
            if re.match(r"\|\s*1\s*\|", ln)]
    assert len(rows) == 1, rows  # one setting
    assert re.search(r"\|\s*2\s*\|", rows[0]), rows[0]  # n = 2 distinct seeds, the repeat once
    assert "train.epochs=7" not in tiny_doc  # a run of no step is not in the doc
    assert "_Not run yet._" in second


def test_the_committed_doc_lists_every_step_and_only_steps():
    commands = COMMAND.findall(DOC.read_text())
    steps = {s.command() for dataset in ("mnist", "pets")
             for s in studies.load("course", substitutions={"dataset4": dataset}).steps}
    assert commands and set(commands) <= steps, set(commands) - steps
    offline = studies.load("course", when={"no_imagenet"}, substitutions={"dataset4": "mnist"})
    assert {s.command() for s in offline.steps} <= set(commands)


def test_the_committed_doc_has_the_reports_columns(tiny_doc):
    expected = table_headers(tiny_doc)
    # The course comparison, the claims judged and the per-step run table.
    assert len(expected) == 3
    timings = table_headers(md_table(pd.DataFrame([dict.fromkeys(results_doc.TIMING_COLUMNS, "")])))
    claims = table_headers(tiny_doc.split("## Claims judged")[1].split("## How long")[0])
    # The committed doc may predate its claims section (added in issue 23) until the next full
    # `make reproduce` + `make results-doc`; every other table it has is the generator's.
    assert table_headers(DOC.read_text()) | claims == expected | timings


def test_the_doc_judges_the_studys_claims(tiny_doc):
    part = tiny_doc.split("## Claims judged")[1].split("## How long")[0]
    assert re.search(r"\| longer_is_better \| +0 ", part) and "not run yet" in part  # none of 30
    assert "“Thirty epochs beat twenty.”" in part and "--study tiny --seeds N" in part


def test_the_doc_says_how_long_each_reproduce_took(tmp_path, tiny_study):
    """A real `dlproj.reproduce` of the tiny study, twice: the doc lists both with their counts
    and the runs' summed wall time."""
    from dlproj.reproduce.cli import main as reproduce

    outputs = tmp_path / "outputs"
    assert reproduce(["--study", "tiny", "--outputs", str(outputs), "--jobs", "1"]) == 0
    assert reproduce(["--study", "tiny", "--outputs", str(outputs), "--jobs", "1"]) == 0
    part = results_doc.render("tiny", outputs).split("## How long it took")[1].split("## ")[0]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in part.splitlines()
            if re.match(r"\|\s*\d{4}-", ln)]
    assert len(rows) == 2, part
    cols = results_doc.TIMING_COLUMNS
    first, second = (dict(zip(cols, r, strict=True)) for r in rows)
    assert (first["Completed"], first["Skipped (done before)"]) == ("3", "0")
    assert (second["Completed"], second["Skipped (done before)"]) == ("0", "3")
    assert re.search(r"The study's 3 runs took [\d.]+ min of job wall time", part), part


def test_no_outputs_is_a_clear_error(tmp_path, capsys):
    assert results_doc.main(["--outputs", str(tmp_path / "nowhere"),
                             "--out", str(tmp_path / "r.md")]) == 2
    assert "make reproduce" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()


def test_the_doc_has_the_steps_the_data_on_disk_allow_and_probes_nothing(tmp_path, monkeypatch):
    """Which of Section 4's steps the doc lists follows the study's `conditions:`, judged from
    the disk alone (no host is asked, whatever the study allows): here, offline MNIST."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("results_doc must not reach the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "outputs").mkdir()
    commands = COMMAND.findall(results_doc.render("course", tmp_path / "outputs"))
    offline = studies.load("course", when={"no_imagenet"}, substitutions={"dataset4": "mnist"})
    assert commands == [s.command() for s in offline.steps]


@pytest.mark.parametrize("args, code, said", [
    (["--study", "nope"], 2, "Unknown study 'nope'. Allowed: "),  # a study not in conf/study/
    (["--study", "bad"], 2, "Study 'bad': "),  # a study file that is not valid YAML
    # a folder that is a file; the tiny study: which study is rendered does not matter here,
    # and the course's 36 settings would be composed for a doc that is never written
    (["--study", "tiny", "--out", "{file}/results.md"], 1, "cannot write "),
])
def test_bad_input_is_one_paragraph_not_a_traceback(tmp_path, tiny_study, capsys, args, code,
                                                    said):
    """`make results-doc ARGS=...` says what is wrong as the other commands do: one paragraph
    on stderr, exit 2 for a study, 1 for a file it cannot write; nothing written."""
    (tiny_study / "bad.yaml").write_text("steps: [unclosed\n")
    (tmp_path / "file").write_text("")
    (tmp_path / "outputs").mkdir()
    argv = ["--study", "course", "--outputs", str(tmp_path / "outputs"),
            "--out", str(tmp_path / "doc.md")]
    argv += [a.format(file=tmp_path / "file") for a in args]
    assert results_doc.main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith(f"dlproj.reproduce.results_doc: {said}") and err.count("\n") == 1, err
    assert not (tmp_path / "doc.md").exists()


GOOD = ('{"workers": 2, "wall_seconds": 90.0, "counts": {"completed": 3, "resume": 0, "done": 1, '
        '"failed": 0, "interrupted": 0}}')


FOREIGN = {  # summary.json -> what is there instead
    "a list": "[1, 2, 3]", "a string": '"summary"', "a number": "42", "null": "null", "empty": "",
    "torn": GOOD[:60], "binary": "\x89PNG\r\n", "no keys": "{}",
    "no counts": '{"workers": 2, "wall_seconds": 90.0}',
    "counts a list": GOOD.replace('"counts": {', '"counts": [{'),
    "workers a string": GOOD.replace('"workers": 2', '"workers": "two"'),
    "wall a string": GOOD.replace("90.0", '"90"'), "wall null": GOOD.replace("90.0", "null"),
    "a count a list": GOOD.replace('"completed": 3', '"completed": [3]'),
    "a count a bool": GOOD.replace('"done": 1', '"done": true'),
}


@pytest.mark.parametrize("case", FOREIGN)
def test_a_foreign_or_torn_summary_is_skipped_with_a_warning(tmp_path, tiny_study, capsys,
                                                             case):
    """`make results-doc` over a summary.json edited by hand, cut short or written by something
    else: that summary is left out with one line naming it, the rest of the doc is written (a
    good summary beside it is still listed)."""
    outputs = tmp_path / "outputs"
    good = outputs / "reproduce" / "2026-12-01_10-00-00.000000_tiny" / "summary.json"
    bad = outputs / "reproduce" / "2026-12-02_10-00-00.000000_tiny" / "summary.json"
    for path, body in ((good, GOOD), (bad, FOREIGN[case])):
        path.parent.mkdir(parents=True)
        path.write_bytes(body.encode("latin-1"))
    out = tmp_path / "doc.md"
    assert results_doc.main(["--study", "tiny", "--outputs", str(outputs), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "skipped" in ln]
    assert warnings == [ln for ln in warnings if str(bad) in ln] and len(warnings) == 1, err
    assert "Traceback" not in err
    timings = out.read_text().split("## How long it took")[1].split("## ")[0]
    assert "2026-12-01 10:00:00" in timings and "2026-12-02" not in timings, timings
