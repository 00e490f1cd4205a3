"""How many threads a run uses: one rule for NumPy's BLAS, the data-parallel step and torch.

A run's core budget is the cores this process may use, divided by the runs going on beside it:
the jobs of a parallel sweep (the joblib launcher's `n_jobs`, read from HydraConfig) or
`DLPROJ_JOBS=N` (set by `make reproduce --jobs N` around its parallel runs). The config keys

    threads.workers   NumPy sections: threads that split each training step's batch
                      (dlproj.training.parallel); auto = the budget
    threads.blas      BLAS threads per worker (threadpoolctl); auto = budget // workers.
                      Section 4: torch.set_num_threads; auto = the budget

take `auto` or an integer >= 1 (ALLOWED; more than the cores too: then they share them). So a
single run uses every core, and N parallel jobs share them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlproj.environment import cores
from dlproj.errors import ConfigError, knob

JOBS_ENV = "DLPROJ_JOBS"


def _joblib_jobs() -> int:
    """n_jobs of the joblib launcher when this process runs one of its sweep's jobs, else 1."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN or "joblib" not in str(hc.launcher.get("_target_", "")):
            return 1
        n = int(hc.launcher.get("n_jobs"))
    except Exception:  # noqa: BLE001 - no Hydra config, or a launcher config without n_jobs
        return 1
    # joblib's convention: -1 = all cores, -2 = all but one, ...
    return n if n > 0 else max(1, cores() + 1 + n)


def budget() -> int:
    """The cores one run may use: all of them, or an equal share among the runs beside it
    (DLPROJ_JOBS, else the joblib sweep's n_jobs)."""
    return max(1, cores() // (knob(JOBS_ENV) or _joblib_jobs()))


# What a thread count may be: in a run's config (threads.*) and on the bench's command line.
ALLOWED = "auto (share the cores by the rule in dlproj/runtime/threads.py) or an integer >= 1"


def setting(value, key: str | None = None) -> int | None:
    """A thread count: None for auto, else the integer; unless ALLOWED, a ConfigError naming the
    config key `key` (without one, ValueError). More threads than cores are allowed: they share
    them (oversubscribed), which one may mean to measure."""
    if value == "auto":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if key is None:
        raise ValueError(value)
    raise ConfigError(f"Invalid value for '{key}': {value!r}. Allowed: {ALLOWED}, e.g. "
                      f"`python -m dlproj {key}=2`.")


@dataclass(frozen=True)
class ThreadPlan:
    workers: int  # threads splitting a NumPy training step's batch
    blas: int  # BLAS threads each of them uses

    def __str__(self) -> str:
        return f"{self.workers} step worker(s) x {self.blas} BLAS thread(s)"


def _kept(kept: dict | None, key: str) -> int | None:
    """A count a resumed run recorded (`kept`: its checkpoint's or results.json's "threads"), if
    it is one."""
    value = (kept or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def numpy_plan(threads_cfg, kept: dict | None = None) -> ThreadPlan:
    """Workers and BLAS threads for the NumPy sections, from `threads.workers`/`threads.blas`;
    what is auto is, for a resumed run, the count it ran with (`kept`): a step split otherwise
    sums in another order, and the resumed run would not be the run it continues."""
    workers = setting(threads_cfg.workers, "threads.workers") or _kept(kept, "workers")
    blas = setting(threads_cfg.blas, "threads.blas") or _kept(kept, "blas")
    total = budget()
    return ThreadPlan(workers or total, blas or max(1, total // (workers or total)))


def torch_threads(threads_cfg, kept: dict | None = None) -> int:
    """torch.set_num_threads for Section 4: `threads.blas`, or when auto the count a resumed run
    ran with (`kept`: torch's kernels sum in another order on other counts), else the budget."""
    return setting(threads_cfg.blas, "threads.blas") or _kept(kept, "torch") or budget()


def apply(cfg, kept: dict | None = None) -> ThreadPlan:
    """Set this run's BLAS threads from `cfg.threads` (and what a resumed run `kept`), once
    before it starts (Section 4 sets torch's, `torch_threads`, once it has imported torch);
    returns the plan."""
    from threadpoolctl import threadpool_limits

    plan = numpy_plan(cfg.threads, kept)
    threadpool_limits(limits=plan.blas, user_api="blas")  # every BLAS this process has loaded
    return plan
