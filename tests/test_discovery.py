"""`python -m dlproj.list` (--help: tests/test_command_line.py), run metadata, train.log_every,
sweep progress."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib import metadata as importlib_metadata

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def listing():
    from dlproj.list import render

    return render()


def test_list_shows_every_experiment_with_summary_and_defaults(listing, compose_cfg):
    from dlproj.experiments import registry

    experiments = registry.load_all()
    assert len(experiments) >= 9
    for (section, name), exp in experiments.items():
        assert f"experiment={name}" in listing and exp.summary and exp.summary in listing
        assert exp.summary.endswith("."), exp.summary  # a whole sentence, not a wrapped line
        cfg = compose_cfg([f"section={section}", f"experiment={name}"])
        defaults = f"model={cfg.model.name}" + (
            f" optimizer={cfg.optimizer.name} train.epochs={cfg.train.epochs}"
            if "optimizer" in exp.reads else "")
        block = listing[listing.index(f"experiment={name} "):]
        assert block.splitlines()[1].strip() == defaults, (name, block.splitlines()[:2])
    for section in (1, 2, 3, 4):
        assert f"section={section}  Section {section}:" in listing


def _experiments():
    from dlproj.experiments import registry

    return sorted(registry.load_all())


@pytest.mark.parametrize("section, name", _experiments(), ids=lambda v: str(v))
def test_the_defaults_listed_are_a_command_that_runs(listing, compose_cfg, section, name):
    """Each experiment's defaults line, given as it stands, is accepted: it listed
    `optimizer=adam train.epochs=10` for gradcheck and receptive_field, which train nothing and
    refuse optimizer= (a user copying it got an error)."""
    from dlproj.runtime.validate import validate

    block = listing[listing.index(f"experiment={name} "):]
    overrides = [f"section={section}", f"experiment={name}", *block.splitlines()[1].split()]
    validate(compose_cfg(overrides), overrides)


def test_list_shows_every_config_group_and_its_choices(listing):
    from dlproj import paths

    lines = {line.split()[0]: line for line in listing.splitlines()
             if line.startswith("  ") and len(line.split()) > 1 and "=" not in line.split()[0]}
    for group_dir in sorted(p for p in paths.CONF_DIR.iterdir() if p.is_dir()):
        if group_dir.name in ("hydra", "study"):  # Hydra's own below; studies are reproduce's
            continue
        choices = sorted(p.stem for p in group_dir.glob("*.yaml"))
        assert group_dir.name in lines, group_dir.name
        shown = sorted(c.strip() for c in lines[group_dir.name].split(None, 1)[1].split(","))
        assert shown == choices, group_dir.name
    launchers = lines["hydra/launcher"]
    assert all(name in launchers for name in ("basic", "joblib", "slurm", "submitit_local"))
    assert "_slurm_checked" not in launchers


def test_list_one_section_and_bad_arguments(capsys):
    from dlproj.list import main

    assert main(["section=3"]) == 0
    out = capsys.readouterr().out
    assert "experiment=cnn" in out and "experiment=xor" not in out
    assert main(["sectoin=3"]) == 2
    assert "section=N" in capsys.readouterr().err


def test_metadata_matches_the_checkout_and_the_installed_packages():
    from dlproj import environment as metadata

    meta = metadata.collect()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert meta["git"]["commit"] == head
    porcelain = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True).stdout
    assert meta["git"]["dirty"] is bool(porcelain)
    for name in ("numpy", "hydra-core", "omegaconf"):
        assert meta["versions"][name] == importlib_metadata.version(name)
    assert meta["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert meta["host"] and meta["cpu"]["cores"] == os.cpu_count()
    assert 1 <= meta["cpu"]["cores_usable"] <= os.cpu_count()
    assert isinstance(meta["gpus"], list)
    if "blas_threads" in meta:
        assert all(p["num_threads"] >= 1 for p in meta["blas_threads"])


def test_metadata_outside_a_git_checkout(tmp_path):
    from dlproj.environment import git_state

    assert git_state(tmp_path) == {"commit": None, "dirty": None}


@pytest.mark.parametrize("epochs,log_every,expected", [
    (200, None, [1] + list(range(4, 201, 4))),      # about 50 lines by default
    (12, None, list(range(1, 13))),                 # short runs: every epoch
    (10, 4, [1, 4, 8, 10]),                         # first, every 4th, last
    (3, 1, [1, 2, 3]),
])
def test_log_every(compose_cfg, tmp_path, caplog, epochs, log_every, expected):
    from dlproj.training.context import RunContext

    overrides = [f"train.epochs={epochs}"]
    if log_every is not None:
        overrides.append(f"train.log_every={log_every}")
    ctx = RunContext(compose_cfg(overrides), tmp_path)
    with caplog.at_level(logging.INFO, logger="dlproj"):
        for epoch in range(1, epochs + 1):
            ctx.log_epoch({"epoch": epoch, "train_loss": 1.0 / epoch})
    logged = [int(r.getMessage().split()[1].split("/")[0]) for r in caplog.records]
    assert logged == expected
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == epochs + 1


def test_log_every_must_be_positive(dlproj_run):
    run = dlproj_run(["experiment=xor", "train.log_every=0"])
    assert run.proc.returncode == 2
    assert "train.log_every" in run.output and "integer >= 1" in run.output


@pytest.mark.parametrize("overrides,n", [
    (["seed=0,1"], 2),
    (["seed=0,1,2", "model=mlp_small,mlp_big"], 6),
    (["section='1','4'", "seed=range(0,5)"], 10),
    (["train.epochs=3"], 1),
    (["optimizer=glob(*)"], 5),  # a glob lists its group's choices (it was `? jobs`)
    (["optimizer=glob(ad*)", "seed=0,1"], 4),
    (["section=3", "pooling=glob(*,exclude=avg)"], 1),
])
def test_sweep_progress_counts_the_jobs(compose_cfg, overrides, n):
    from omegaconf import open_dict

    from dlproj.runtime.sweep import count_jobs

    cfg = compose_cfg([])
    with open_dict(cfg):
        cfg.hydra = {"sweeper": {"params": None}, "overrides": {"task": overrides}}
    assert count_jobs(cfg) == n


@pytest.mark.parametrize("section,overrides,cpus,mem,minutes", [
    (1, [], 1, 2, 60),
    (3, [], 1, 4, 120),
    (4, [], 2, 6, 240),
    (1, ["section='1','4'", "seed=0,1"], 2, 6, 240),   # a sweep over sections: the largest
])
def test_slurm_needs_follow_the_section(section, overrides, cpus, mem, minutes):
    from dlproj.config.slurm_needs import slurm_needs

    assert slurm_needs("cpus_per_task", section, overrides) == cpus
    assert slurm_needs("mem_gb", section, overrides) == mem
    assert slurm_needs("timeout_min", section, overrides) == minutes
