"""Folders whose names Hydra's override grammar would misread (a comma is a sweep, a space or a
quote ends a value): every path dlproj hands to Hydra goes through `overrides.override`, every
path it prints for a shell through shlex. A run in such a folder resumes with the command it
printed; reproduce into such an outputs folder runs, resumes and chains its jobs."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from conftest import ROOT
from test_interrupt_resume import _env, interrupt_after

from dlproj.config import study as studies
from dlproj.config.overrides import override, value_of

NAMES = ["out,27", "out 10 sp", "o'q", 'o"dq', "br[1]", "eq=a", "cur{x}", "ünï", "semi;colon",
         "back\\slash", "ends\\", 'q\\"x', "dol$x", "dol${x}", "a:b", "~home", "tab\tx", "-dash",
         "a,b 'c' \"d\" [e] {f} =g"]


@pytest.mark.parametrize("name", NAMES)
def test_a_path_reads_back_as_itself(name):
    path = f"/tmp/{name}/runs/0"
    assert value_of(override("resume", path)) == path


@pytest.mark.parametrize("value", ["/tmp/pytest-of-root/pytest-3/out/multirun/s/0",
                                   "model.npz", "../a_b-c.d@e%f+g", "12"])
def test_a_plain_path_is_written_as_it_is(value):
    assert override("hydra.sweep.dir", value) == f"hydra.sweep.dir={value}"


XOR_LONG = ["experiment=xor", "train.epochs=400", "train.checkpoint_min_seconds=0",
            "train.log_every=1", "figures=false"]


@pytest.mark.parametrize("name", ["out,27 sp", "it's [1] {a}=b", 'say "hi", $HOME'])
def test_an_interrupted_run_resumes_with_the_command_it_printed(tmp_path, name):
    """SIGINT to a run under an awkward DLPROJ_OUTPUTS; the resume command it printed, pasted
    into a shell as it is (with train.epochs=450), continues that run to its end."""
    outputs = tmp_path / name
    proc, run_dir = interrupt_after(XOR_LONG, outputs, signal.SIGINT, epochs_done=20)
    assert proc.returncode == 130, proc.stderr
    stopped = json.loads((run_dir / "results.json").read_text())
    command = stopped["resume_command"]
    assert f"resume with `{command}`" in proc.stderr
    again = subprocess.run(f"{command} train.epochs=450", shell=True, cwd=ROOT,
                           env=_env(tmp_path / "elsewhere"), capture_output=True, text=True,
                           timeout=240)
    assert again.returncode == 0, again.stderr
    record = json.loads((run_dir / "results.json").read_text())
    assert (record["status"], record["last_epoch"]) == ("completed", 450)
    assert record["resumed_from_epoch"] == stopped["last_epoch"]
    assert [p.parent for p in outputs.rglob("results.json")] == [run_dir]


CHAIN = """\
steps:
  first:
    section: 1
    overrides: {experiment: mlp, train.epochs: 1, data.train_limit: 500, data.test_limit: 100,
                data.val_size: 100, model.hidden: "[16]", figures: false}
    cost: 1
  second:
    section: 1
    after: first
    overrides: {experiment: mlp, checkpoint: "{run:first}/model.npz", data.test_limit: 100,
                data.val_size: 100, model.hidden: "[16]", figures: false}
    cost: 1
"""


def test_reproduce_into_an_awkward_outputs_folder(tmp_path, monkeypatch, capsys):
    """A comma and a space in --outputs: the sweep's own folders, the jobs file and the path a
    later step reads (`{run:first}`) all reach Hydra as the same strings; a second reproduce
    finds everything done."""
    from dlproj.reproduce.cli import main

    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "chain.yaml").write_text(CHAIN)
    monkeypatch.setattr(studies, "STUDY_DIR", folder)
    outputs = tmp_path / "o,1 x"
    assert main(["--study", "chain", "--outputs", str(outputs), "--jobs", "1"]) == 0, \
        capsys.readouterr()
    records = [json.loads(p.read_text()) for p in sorted(outputs.rglob("results.json"))]
    assert [r["status"] for r in records] == ["completed", "completed"]
    (second,) = [r for r in records if r["config"]["checkpoint"]]
    (first,) = [r for r in records if not r["config"]["checkpoint"]]
    assert second["config"]["checkpoint"] == f"{first['run_dir']}/model.npz"
    capsys.readouterr()
    assert main(["--study", "chain", "--outputs", str(outputs), "--jobs", "1"]) == 0
    assert "2 skipped (done before)" in capsys.readouterr().out


@pytest.mark.parametrize("var, where, default", [("DLPROJ_OUTPUTS", "outputs_root", "outputs"),
                                                 ("DLPROJ_DATA", "data_root", "data")])
def test_an_empty_folder_variable_is_unset_not_the_current_directory(monkeypatch, tmp_path,
                                                                     var, where, default):
    from dlproj import paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(var, "")
    assert getattr(paths, where)() == (paths.PROJECT_ROOT / default).resolve()
