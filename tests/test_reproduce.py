"""`python -m dlproj.reproduce`: the plan, skipping what is done, parallel = serial, Section 4
offline."""

from __future__ import annotations

import json

import pytest

from dlproj import reproduce
from dlproj.config import study as studies
from dlproj.report.runs import read_runs
from dlproj.reproduce import assign, main, plan

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
    cost: 1
  sin:
    title: sin by size
    section: 1
    overrides:
      experiment: sin
      model: "mlp_small,mlp_medium"
      train.epochs: 3
      params.n_train: 64
      params.n_test: 32
    cost: 2
  gradcheck:
    title: gradient check
    section: 2
    overrides:
      section: 2
      experiment: gradcheck
      params.max_entries: 20
    cost: 1
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """conf/study/ replaced by a folder holding `tiny.yaml` (5 jobs, seconds each)."""
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    monkeypatch.setattr(studies, "STUDY_DIR", folder)
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "no-data"))  # Section 4 offline, no probe
    return folder


def _records(outputs):
    """(setting, seed) -> (status, final metrics without timings), one per completed run."""
    runs, problems = read_runs(outputs, curves=False)
    assert not problems
    return {(r.setting, r.seed): (r.status, {k: v for k, v in r.metrics.items()
                                             if "seconds" not in k})
            for r in runs.itertuples()}


@pytest.mark.slow
def test_second_run_skips_every_job_and_jobs_2_equals_jobs_1(tiny, tmp_path, capsys):
    out2, out1 = tmp_path / "out2", tmp_path / "out1"
    assert main(["--study", "tiny", "--outputs", str(out2), "--jobs", "2"]) == 0
    first = capsys.readouterr().out
    assert "5 to run, 0 to resume, 0 already done" in first
    assert "[5/5 jobs" in first and "ETA" in first and "step 2/3 sin by size" in first
    assert "5 jobs: 5 completed, 0 failed" in first
    records = _records(out2)
    assert len(records) == 5 and {s for s, _ in records.values()} == {"completed"}
    sweeps = list((out2 / "multirun").iterdir())

    # Nothing left to do: every job is skipped, no new sweep starts.
    assert main(["--study", "tiny", "--outputs", str(out2), "--jobs", "2"]) == 0
    second = capsys.readouterr().out
    assert "0 to run, 0 to resume, 5 already done (skipped)" in second
    assert list((out2 / "multirun").iterdir()) == sweeps

    # One job at a time gives the same records: to float32 round-off, since a job alone gets
    # both cores and splits its steps' batches across them (threads: auto, dlproj.runtime.threads)
    assert main(["--study", "tiny", "--outputs", str(out1), "--jobs", "1"]) == 0
    alone = _records(out1)
    assert alone.keys() == records.keys()
    for key, (status, metrics) in records.items():
        assert alone[key][0] == status and alone[key][1].keys() == metrics.keys()
        assert alone[key][1] == pytest.approx(metrics, rel=1e-4, abs=1e-6), key

    # --force reruns everything; the report counts each (setting, seed) once.
    assert main(["--study", "tiny", "--outputs", str(out1), "--jobs", "2", "--force"]) == 0
    assert "5 to run" in capsys.readouterr().out
    from dlproj.report import build_report

    report = build_report(out1, out1 / "report", figures=False)
    assert list(report.rows["n"]) == [1, 1, 2, 1] and len(report.superseded) == 5


def _fake_run(outputs, name, job, status):
    from dlproj.config.compose import compose

    run_dir = outputs / "runs" / name
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in job.overrides))
    cfg = compose(job.overrides)
    (run_dir / "results.json").write_text(json.dumps({
        "section": 1, "experiment": cfg["experiment"], "seed": job.seed, "status": status,
        "metrics": {}, "config": cfg, "setting": job.setting, "setting_label": "x"}))
    return run_dir


@pytest.mark.parametrize("status, state", [
    ("completed", "done"), ("diverged", "done"), ("failed", "run"), ("interrupted", "resume"),
    ("incomplete", "run"),
])
def test_what_is_done_is_skipped_and_the_rest_runs(tiny, tmp_path, status, state):
    outputs = tmp_path / "out"
    jobs = plan(studies.load("tiny"), outputs)
    target = jobs[1]
    prior = _fake_run(outputs, "earlier", target, status)
    again = plan(studies.load("tiny"), outputs)
    assert [j.state for j in again] == ["run" if j is not again[1] else state for j in again]
    assert len(again) == 5
    if status in ("completed", "diverged", "interrupted"):
        assert again[1].prior == prior
    # --force reruns what is done.
    assert all(j.state == "run" for j in plan(studies.load("tiny"), outputs, force=True))


def test_interrupted_runs_go_to_resume_once_the_runner_has_it(tiny, tmp_path, monkeypatch):
    outputs = tmp_path / "out"
    job = plan(studies.load("tiny"), outputs)[0]
    prior = _fake_run(outputs, "stopped", job, "interrupted")
    monkeypatch.setattr(reproduce, "_resume_overrides",
                        lambda run_dir: [f"resume={run_dir}", "hydra.output_subdir=null"])
    jobs = plan(studies.load("tiny"), outputs)
    todo = assign(jobs, outputs, outputs / "multirun" / "s")
    assert (jobs[0].state, jobs[0].prior) == ("resume", prior)
    (resumed,) = [j for j in todo if j.state == "resume"]
    assert resumed.result == prior / "results.json"  # continues in place


def test_after_and_run_placeholder_chain_jobs(tiny, tmp_path):
    (tiny / "chain.yaml").write_text("""\
steps:
  first:
    section: 1
    overrides: {experiment: mlp, train.epochs: 1}
    cost: 1
  second:
    section: 1
    after: first
    overrides: {experiment: mlp, checkpoint: "{run:first}/model.npz"}
    seeds: 2
    cost: 5
""")
    outputs, sweep = tmp_path / "out", tmp_path / "out" / "multirun" / "s"
    jobs = plan(studies.load("chain"), outputs)
    todo = assign(jobs, outputs, sweep)
    assert [(j.step.id, j.phase, j.num) for j in todo] == [("first", 0, 0), ("second", 1, 1),
                                                           ("second", 1, 2)]
    assert f"checkpoint={sweep / '0'}/model.npz" in todo[1].overrides
    # Once `first` is done, `second` points at that run instead.
    done = _fake_run(outputs, "first_done", jobs[0], "completed")
    jobs = plan(studies.load("chain"), outputs)
    todo = assign(jobs, outputs, sweep)
    assert [j.step.id for j in todo] == ["second", "second"]
    assert f"checkpoint={done}/model.npz" in todo[0].overrides


def test_an_invalid_job_is_reported_and_never_launched(tiny, tmp_path, capsys):
    (tiny / "bad.yaml").write_text("""\
steps:
  bad:
    section: 1
    overrides: {experiment: xor, optimizer.lr: 0}
""")
    outputs = tmp_path / "out"
    assert main(["--study", "bad", "--outputs", str(outputs)]) == 1
    out = capsys.readouterr().out
    assert "0 to run, 0 to resume, 0 already done (skipped), 1 invalid" in out
    assert "Invalid value for 'optimizer.lr'" in out
    assert not (outputs / "multirun").exists()
    assert read_runs(outputs)[0].empty


def test_dry_run_prints_the_commands(tiny, tmp_path, capsys):
    assert main(["--study", "tiny", "--outputs", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[1] python -m dlproj -m experiment=xor train.epochs=20 seed=0,1   # 2 jobs" in out
    assert not (tmp_path / "o").exists()


def test_section4_falls_back_to_mnist_offline_with_one_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    s4 = reproduce.section4_data(downloads=False)
    assert not s4.pets and "offline dataset, MNIST" in s4.notice
    study = studies.load("course", when=s4.conditions, substitutions=s4.substitutions)
    args = [a for s in study.steps if s.section == 4 for a in s.args()]
    assert "dataset=pets" not in args and "dataset=mnist" in args
    assert "model.weights={run:pretrain}/model.pt" in args

    (tmp_path / "data" / "oxford-iiit-pet" / "images").mkdir(parents=True)
    (tmp_path / "data" / "oxford-iiit-pet" / "annotations").mkdir()
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    s4 = reproduce.section4_data(downloads=False)
    assert s4.pets and s4.imagenet and s4.notice is None
    study = studies.load("course", when=s4.conditions, substitutions=s4.substitutions)
    args = [a for s in study.steps if s.section == 4 for a in s.args()]
    assert "dataset=pets" in args and "model.weights=imagenet" in args


LONG_XOR = """\
title: one long XOR run
steps:
  xor:
    title: XOR, 3000 epochs
    section: 1
    overrides:
      experiment: xor
      train.epochs: 3000
      train.checkpoint_min_seconds: 0
    cost: 1
"""


def test_an_interrupted_run_is_resumed_in_place(tmp_path, monkeypatch):
    """A real SIGINT leaves an interrupted run; reproduce continues it in its own directory
    (not from scratch) and it ends as the uninterrupted run does."""
    import signal

    from conftest import run_dlproj
    from test_interrupt_resume import _rows, interrupt_after

    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "long.yaml").write_text(LONG_XOR)
    monkeypatch.setattr(studies, "STUDY_DIR", folder)
    outputs = tmp_path / "out"
    (job,) = plan(studies.load("long"), outputs)
    proc, run_dir = interrupt_after(job.overrides, outputs, signal.SIGINT, epochs_done=50)
    assert proc.returncode == 130, proc.stderr
    stopped = json.loads((run_dir / "results.json").read_text())
    assert stopped["status"] == "interrupted"

    (again,) = plan(studies.load("long"), outputs)
    assert (again.state, again.prior) == ("resume", run_dir)
    assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed"
    assert record["resumed_from_epoch"] == stopped["last_epoch"]
    assert len(list(outputs.rglob("metrics.csv"))) == 1  # nothing was started afresh
    reference = run_dlproj(job.overrides, tmp_path / "reference")
    assert _rows(run_dir / "metrics.csv") == _rows(reference.run_dir / "metrics.csv")
    (done,) = plan(studies.load("long"), outputs)
    assert done.state == "done"


def _killed_run(tmp_path, monkeypatch, epochs_done):
    """The LONG_XOR study's job started for real and SIGKILLed after `epochs_done` epochs."""
    import signal

    from test_interrupt_resume import interrupt_after

    folder = tmp_path / "studies"
    folder.mkdir(exist_ok=True)
    (folder / "long.yaml").write_text(LONG_XOR)
    monkeypatch.setattr(studies, "STUDY_DIR", folder)
    outputs = tmp_path / "out"
    (job,) = plan(studies.load("long"), outputs)
    proc, run_dir = interrupt_after(job.overrides, outputs, signal.SIGKILL,
                                    epochs_done=epochs_done)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()
    return job, outputs, run_dir


@pytest.mark.parametrize("epochs_done", [1, 40, 400])
def test_a_killed_run_is_resumed_from_its_checkpoint(tmp_path, monkeypatch, epochs_done):
    """SIGKILL leaves no results.json (nothing can be written); the run's free directory lock
    says no process owns it any more, so reproduce continues it from last.npz in place, and it
    ends as the uninterrupted run does."""
    from conftest import run_dlproj
    from test_interrupt_resume import _rows

    job, outputs, run_dir = _killed_run(tmp_path, monkeypatch, epochs_done)
    assert (run_dir / "last.npz").is_file()
    (again,) = plan(studies.load("long"), outputs)
    assert (again.state, again.prior) == ("resume", run_dir)
    assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed"
    assert record["resumed_from_epoch"] >= 1
    assert len(list(outputs.rglob("metrics.csv"))) == 1  # nothing was started afresh
    reference = run_dlproj(job.overrides, tmp_path / "reference")
    assert _rows(run_dir / "metrics.csv") == _rows(reference.run_dir / "metrics.csv")


def test_a_killed_run_without_a_checkpoint_runs_again(tmp_path, monkeypatch):
    job, outputs, run_dir = _killed_run(tmp_path, monkeypatch, 1)
    (run_dir / "last.npz").unlink()  # as if killed inside its first epoch
    (again,) = plan(studies.load("long"), outputs)
    assert (again.state, again.prior) == ("run", None)


def test_a_run_another_process_holds_is_left_to_it(tmp_path, monkeypatch, capsys):
    """A directory without results.json whose lock is held is a run still going (another
    reproduce, a user's own command): neither resumed nor rerun, and `resume=` refuses it."""
    from conftest import run_dlproj

    from dlproj.runtime.runlock import RunLock

    job, outputs, run_dir = _killed_run(tmp_path, monkeypatch, 40)
    before = (run_dir / "metrics.csv").read_bytes()
    lock = RunLock(run_dir).acquire()
    try:
        (again,) = plan(studies.load("long"), outputs)
        assert (again.state, again.prior) == ("running", run_dir)
        assert main(["--study", "long", "--outputs", str(outputs), "--jobs", "1"]) == 0
        out = capsys.readouterr().out
        assert "1 running elsewhere" in out and f"running in another process: {run_dir}" in out
        refused = run_dlproj([f"resume={run_dir}"], tmp_path / "unused")
        assert refused.proc.returncode == 2
        assert "in use by another process" in refused.proc.stderr
        # Inside a multirun (reproduce's own resume hand-off): recorded for the sweep's line.
        from dlproj.config.compose import compose_config
        from dlproj.runtime import runner

        cfg = compose_config(job.overrides)
        record = runner.execute(cfg, run_dir, is_multirun=True, overrides=job.overrides)
        assert record["status"] == "in use" and runner.UNRECORDED[-1] is record
        runner.UNRECORDED.pop()
        assert (run_dir / "metrics.csv").read_bytes() == before
        assert not (run_dir / "results.json").exists()
    finally:
        lock.release()
    (free,) = plan(studies.load("long"), outputs)
    assert free.state == "resume"
