"""A real SLURM cluster: `make cluster` installs and starts slurmctld + slurmd + munged on this
machine (scripts/slurm/), the sweeps run on it. The tests never install or start anything: without
the cluster they skip naming `make cluster`, and under CI=true they fail instead.

Every call that may wait on SLURM has a time limit of its own: submitit waits for ever on a job
that died without a result.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import needs_service, run_dlproj

CLUSTER = Path(os.environ.get("DLPROJ_SLURM_DIR", "/tmp/dlproj-slurm"))  # the Makefile's CLUSTER


def _processes_with(env_line: str) -> list[int]:
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if env_line.encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def _queue(conf: str) -> str:
    return subprocess.run(["squeue", "-h", "-t", "PENDING,RUNNING", "-o", "%i"],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "SLURM_CONF": conf}).stdout.strip()


def _controller_listens(conf: Path) -> bool:
    """Whether something accepts connections at the controller's address in `conf`: the file a
    stopped cluster leaves behind would keep sinfo retrying for 9 s before it says no."""
    keys = dict(line.split("=", 1) for line in conf.read_text().splitlines() if "=" in line)
    host = re.search(r"\((.+)\)", keys.get("SlurmctldHost", "")) or re.match(
        r"(.+)", keys.get("SlurmctldHost", "localhost"))
    try:
        with socket.create_connection((host.group(1), int(keys.get("SlurmctldPort", 6817))), 2):
            return True
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="module")
def slurm_conf():
    """SLURM_CONF of the cluster `make cluster` started; after the module, nothing of the tests
    is left on it: no job queued or running, no process but those the cluster had before."""
    conf = CLUSTER / "slurm.conf"
    state = ""
    if conf.is_file() and _controller_listens(conf):
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                               timeout=30, env={**os.environ, "SLURM_CONF": str(conf)}).stdout
    needs_service("idle" in state.split(), "a SLURM cluster", "make cluster",
                  f"no idle node answers for {conf}")
    daemons = set(_processes_with(f"SLURM_CONF={conf}"))  # the cluster's own, before the tests
    yield str(conf)
    deadline = time.monotonic() + 30
    while _queue(str(conf)) and time.monotonic() < deadline:
        time.sleep(1)
    assert _queue(str(conf)) == "", "jobs of the tests still queued or running"
    lingering = [p for p in _processes_with(f"SLURM_CONF={conf}") if p not in daemons
                 and p != os.getpid()]
    assert not lingering, f"processes of the tests' sweeps still running: {lingering}"


def _sweep(args, outputs, slurm_conf, timeout):
    return run_dlproj(["-m", "hydra/launcher=slurm", "hydra.launcher.poll_s=1", *args], outputs,
                      env={"SLURM_CONF": slurm_conf}, timeout=timeout)


def test_xor_sweep_runs_as_slurm_jobs(slurm_conf, tmp_path):
    run = _sweep(["experiment=xor", "seed=0,1"], tmp_path / "outputs", slurm_conf, timeout=300)
    assert run.proc.returncode == 0, run.output
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").iterdir()
    # Both jobs completed, each in its own SLURM array task (submitit's logs name the job ids).
    for job in (0, 1):
        result = json.loads((sweep_dir / str(job) / "results.json").read_text())
        assert result["status"] == "completed" and result["seed"] == job
        assert result["metrics"]["train_acc"] == 1.0
    job_dirs = sorted(p for p in (sweep_dir / ".submitit").glob("*_*") if p.is_dir())
    job_ids = [p.name for p in job_dirs]
    assert len(job_ids) == 2 and len({j.split("_")[0] for j in job_ids}) == 1, job_ids
    for job_dir in job_dirs:
        text = "".join(p.read_text() for p in job_dir.glob("*_log.*"))
        assert f"JobEnvironment(job_id={job_dir.name}," in text
        assert "status completed" in text
    # SLURM itself saw them complete.
    states = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T",
                             "-j", job_ids[0].split("_")[0]], capture_output=True, text=True,
                            env={**os.environ, "SLURM_CONF": slurm_conf}).stdout.split("\n")
    assert sorted(s.strip() for s in states if s.strip()) == [f"{j} COMPLETED" for j in job_ids]
    # What each job asked for: the section's needs.
    assert "per job: cpus_per_task=1, mem_gb=2, timeout_min=60" in run.output
    # The sweep report was built from both jobs.
    report = (sweep_dir / "report" / "results.md").read_text()
    flat = " ".join(report.split())  # the Markdown table is padded
    assert "| 1 | xor |" in flat and "| completed | 2 |" in flat


@pytest.mark.parametrize("request_,reason", [
    ("hydra.launcher.cpus_per_task=512", "PENDING with Reason=PartitionConfig"),
    ("hydra.launcher.mem_gb=100000", "sbatch refused the jobs"),
])
def test_a_sweep_slurm_cannot_schedule_fails_with_a_message(slurm_conf, tmp_path, request_,
                                                            reason):
    started = time.monotonic()
    run = _sweep(["experiment=xor", "seed=0,1", request_], tmp_path / "outputs", slurm_conf,
                 timeout=180)
    assert run.proc.returncode != 0
    assert "SLURM cannot run this sweep" in run.output and reason in run.output, run.output
    assert request_.split(".")[-1] in run.output  # the message shows what was asked
    assert "Traceback" not in run.output
    assert time.monotonic() - started < 120
    # The sweep's jobs were cancelled, not left pending.
    assert _queue(slurm_conf) == ""


@pytest.mark.parametrize("launcher", ["slurm", "submitit_slurm"])
@pytest.mark.parametrize("folder", ["new", "an older sweep's"])
@pytest.mark.parametrize("cluster", ["no SLURM on PATH", "an empty slurm.conf"])
def test_a_sweep_where_no_cluster_answers_says_so_and_leaves_nothing(tmp_path, cluster, folder,
                                                                     launcher):
    """No SLURM installed, or no cluster configured: one paragraph saying no cluster answers
    (not "ask for less"), exit 2, and nothing of the launch left in the sweep's folder; the
    plugin's own submitit_slurm too (it ended in submitit's traceback, its .submitit/ left)."""
    if cluster == "no SLURM on PATH":
        (tmp_path / "bin").mkdir()
        env = {"PATH": str(tmp_path / "bin")}
    else:
        import shutil

        needs_service(shutil.which("sbatch") is not None, "SLURM's client (sbatch)",
                      "make cluster", "no sbatch on PATH")
        (tmp_path / "slurm.conf").write_text("")
        env = {"SLURM_CONF": str(tmp_path / "slurm.conf")}
    sweep = tmp_path / "outputs" / "sweep"
    if folder != "new":
        (sweep / ".submitit" / "12_0").mkdir(parents=True)
        (sweep / ".submitit" / "12_0" / "12_0_log.out").write_text("an older launch's log")
    before = sorted(sweep.rglob("*"))
    run = run_dlproj(["-m", f"hydra/launcher={launcher}", "experiment=xor", "seed=0,1",
                      f"hydra.sweep.dir={sweep}"], tmp_path / "outputs", env=env, timeout=120)
    assert run.proc.returncode == 2, run.output
    (line,) = [x for x in run.output.splitlines() if x.startswith("dlproj: ")]
    assert "SLURM cannot run this sweep: no cluster answers on this machine" in line
    assert "make cluster" in line and "hydra/launcher=joblib" in line
    assert "ask for less" not in line and "Traceback" not in run.output
    if folder == "new":
        assert not sweep.exists()
    else:  # what was there stays; nothing of this launch is added but Hydra's multirun.yaml
        assert sorted(p for p in sweep.rglob("*") if p.name != "multirun.yaml") == before
