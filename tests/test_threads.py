"""Thread settings: the `auto` rule, the joblib/DLPROJ_JOBS share, errors, and end-to-end runs
whose metrics do not depend on the worker count beyond float32 round-off."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from dlproj.errors import ConfigError
from dlproj.runtime import threads


def _cfg(workers="auto", blas="auto"):
    return OmegaConf.create({"workers": workers, "blas": blas})


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 8)
    monkeypatch.delenv(threads.JOBS_ENV, raising=False)


@pytest.mark.parametrize("jobs,budget", [(None, 8), ("1", 8), ("2", 4), ("3", 2), ("8", 1),
                                         ("16", 1)])
def test_budget_shares_the_cores_among_jobs(eight_cores, monkeypatch, jobs, budget):
    if jobs is not None:
        monkeypatch.setenv(threads.JOBS_ENV, jobs)
    assert threads.budget() == budget
    assert threads.numpy_plan(_cfg()) == threads.ThreadPlan(budget, 1)
    assert threads.numpy_plan(_cfg(workers=1)) == threads.ThreadPlan(1, budget)
    assert threads.torch_threads(_cfg()) == budget


@pytest.mark.parametrize("workers,blas,plan", [(2, "auto", (2, 4)), (3, "auto", (3, 2)),
                                               (16, "auto", (16, 1)), ("auto", 2, (8, 2)),
                                               (2, 3, (2, 3))])
def test_explicit_settings_win(eight_cores, workers, blas, plan):
    assert threads.numpy_plan(_cfg(workers, blas)) == threads.ThreadPlan(*plan)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_jobs_variable_is_named(eight_cores, monkeypatch, value):
    monkeypatch.setenv(threads.JOBS_ENV, value)
    with pytest.raises(ConfigError, match="DLPROJ_JOBS"):
        threads.budget()


@pytest.mark.parametrize("key", ["workers", "blas"])
@pytest.mark.parametrize("value", [0, -1, "many", 1.5, True, None])
def test_bad_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"'threads\.{key}'.*auto"):
        threads.numpy_plan(_cfg(**{key: value}))


@pytest.mark.parametrize("n_jobs,share", [(2, 4), (4, 2), (-1, 1), (-5, 2), (None, 1)])
def test_joblib_sweep_jobs_share_the_cores(eight_cores, n_jobs, share):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from dlproj import paths
    from dlproj.config.compose import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    overrides = ["hydra/launcher=joblib"]
    if n_jobs is not None:
        overrides.append(f"hydra.launcher.n_jobs={n_jobs}")
    try:
        with initialize_config_dir(config_dir=str(paths.CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
        OmegaConf.set_readonly(cfg.hydra, False)
        cfg.hydra.mode = RunMode.MULTIRUN
        HydraConfig.instance().set_config(cfg)
        assert threads.budget() == share
        OmegaConf.set_readonly(cfg.hydra, False)
        cfg.hydra.mode = RunMode.RUN  # a single run ignores the launcher's n_jobs
        HydraConfig.instance().set_config(cfg)
        assert threads.budget() == 8
    finally:
        HydraConfig.instance().cfg = None
        GlobalHydra.instance().clear()


def test_apply_sets_blas_and_returns_the_step_workers():
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # restores the BLAS threads afterwards
        plan = threads.apply(OmegaConf.create({"threads": _cfg(3, 1), "params": {}}))
        assert plan == threads.ThreadPlan(3, 1)
        assert all(p["num_threads"] == 1 for p in threadpool_info()
                   if p["user_api"] == "blas")


SECTION1_TINY = ["section=1", "data.train_limit=600", "data.test_limit=200", "data.val_size=500",
                 "train.epochs=2", "threads.blas=1"]


# Section 3's case: test_section3_runs.py's test_two_workers_give_the_one_worker_metrics, beside
# the other test that reads its two-worker run (conftest.section3_run: one file, so that
# `--dist loadfile` trains it once).
def test_two_workers_give_the_one_worker_metrics(dlproj_run):  # Section 1
    runs = [dlproj_run([*SECTION1_TINY, f"threads.workers={w}"]) for w in (1, 2)]
    assert_same_metrics(runs)


def assert_same_metrics(runs) -> None:
    """Two runs, of one and two step workers: the same metrics to float32 round-off."""
    metrics = []
    for run in runs:
        assert run.proc.returncode == 0, run.output
        metrics.append(run.results()["metrics"])
    one, two = metrics
    assert "2 step worker(s) x 1 BLAS thread(s)" in runs[1].output
    for key in one:
        if key.endswith("_loss"):
            assert two[key] == pytest.approx(one[key], rel=1e-4), key
        elif key.endswith("_acc"):  # a prediction on the edge may flip
            assert abs(two[key] - one[key]) <= 0.01, key


def test_bad_thread_setting_exits_2_naming_the_key(dlproj_run):
    run = dlproj_run(["section=3", "threads.workers=0"])
    assert run.proc.returncode == 2
    assert "'threads.workers'" in run.output and "auto" in run.output
