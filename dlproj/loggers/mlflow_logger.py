"""`logger=mlflow`: one MLflow run per dlproj run, in a local store (default outputs/mlflow/) or
on a tracking server; what it logs: README.md, "Trackers". A multirun's jobs are children of one
parent run, made by `MLflowSweepParent` (a callback).

    mlflow ui --backend-store-uri sqlite:///outputs/mlflow/mlflow.db
"""

from __future__ import annotations

import http.client
import itertools
import logging
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from dlproj import paths
from dlproj.config.trackers import MLflowLoggerConfig, is_server
from dlproj.errors import ConfigError, knob
from dlproj.files.atomic import write_text
from dlproj.loggers import Tracker, flat_config, is_label, numeric, run_name

log = logging.getLogger("dlproj")

PARENT_FILE = ".mlflow_parent_run"  # in the sweep directory: the parent run's id
RUN_FILE = ".mlflow_run"  # in the run directory: its MLflow run's id, which a resume continues
# The sweep folder whose start found the server down, and why: its jobs do not wait on it again.
_DOWN = "DLPROJ_MLFLOW_DOWN"
_BATCH = 1000  # pending metrics sent at once (log_batch splits them to MLflow's limits)
_FLUSH_SECS = 5.0  # metrics reach the store at least this often (and at the end of the run)
_STATUS = {"completed": "FINISHED", "interrupted": "KILLED"}
# MLflow 3's UI opens an experiment of this kind on its runs table (not its GenAI traces page).
_KIND = ("mlflow.experimentKind", "custom_model_development")
_PROBE_SECS = 5  # a tracking server that does not answer an HTTP request in this time is down
# The tests' knob for that wait (a silent server is waited out): seconds, default _PROBE_SECS.
_PROBE_SECS_ENV = "DLPROJ_MLFLOW_PROBE_SECS"
# MLflow's own defaults wait out a server that is down or stalls for minutes per request (7 retries
# with backoff, 120 s each; with 5 tries of open_run, 11 minutes before the first epoch): a
# tracker may cost a run seconds, so these bound every request of the run unless the user set them.
_HTTP_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


def keep_offline(cfg: Any) -> None:
    """With `data.download=false` nothing reaches the network but the tracking store the user
    named: MLflow's usage telemetry, which it sends to mlflow-telemetry.io once it is imported
    (unless told not to, or under pytest or CI), is turned off, unless MLFLOW_DISABLE_TELEMETRY
    says otherwise. Called before this process imports MLflow; if it has already, MLflow's
    telemetry client is made again, reading the switch."""
    if (cfg.get("data") or {}).get("download", True):
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if "mlflow" in sys.modules:
        with suppress(Exception):  # an MLflow without telemetry: nothing to turn off
            from mlflow.telemetry.client import set_telemetry_client
            set_telemetry_client()


def store_uri(tracking_uri: str) -> str:
    """`sqlite:///PATH` with PATH as `data.root`'s (paths.resolve_path): a relative one is taken
    from the project root, not the folder the command runs in."""
    path = tracking_uri[len("sqlite:///"):]
    if not tracking_uri.startswith("sqlite:///") or path in ("", ":memory:"):
        return tracking_uri
    return f"sqlite:///{paths.resolve_path(path)}"


def where(tracking_uri: str, experiment_id: str) -> str:
    """How to look at the experiment (of a store_uri): the UI's command and its runs table."""
    ui = ("the server's UI" if not tracking_uri.startswith("sqlite:")
          else f"`mlflow ui --backend-store-uri {tracking_uri}`")
    return (f"{ui}, then http://127.0.0.1:5000/#/experiments/{experiment_id}/runs"
            f"?workflowType=machine_learning")


def probe(tracking_uri: str) -> None:
    """ConnectionError naming the URI unless the tracking server answers an HTTP request (any
    status) within _PROBE_SECS (or $DLPROJ_MLFLOW_PROBE_SECS): a port that refuses or never
    answers costs seconds, not MLflow's minutes of retries. Through a proxy (HTTP(S)_PROXY) the
    bounded requests alone tell."""
    url = urlsplit(tracking_uri)
    wait = knob(_PROBE_SECS_ENV, _PROBE_SECS)
    if urllib.request.getproxies().get(url.scheme) and not urllib.request.proxy_bypass(
            url.hostname or ""):
        return
    # Whether an https server answers, not whom: MLflow checks its certificate.
    https = {"context": ssl._create_unverified_context()} if url.scheme == "https" else {}
    connection = http.client.HTTPSConnection if https else http.client.HTTPConnection
    conn = connection(url.hostname or "", url.port, timeout=wait, **https)
    try:
        conn.request("GET", url.path or "/")
        conn.getresponse().close()
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(
            f"the tracking server logger.mlflow.tracking_uri={tracking_uri} did not answer "
            f"within {wait:g} s ({type(exc).__name__}: {exc})") from None
    finally:
        conn.close()


def open_run(tracking_uri: str, experiment_name: str, artifact_location: str, run_name: str,
             tags: dict[str, str], stop: Callable[[], Any] = lambda: None,
             continues: str = "") -> tuple[Any, str, str]:
    """(MlflowClient, id of a new run, or of `continues` where the store has it, `where` to see
    it) in the configured store, creating the store and experiment if needed; a job that loses
    the race to create them retries. A server is probed first and its requests bounded
    (_HTTP_BOUNDS), and it gets one retry (MLflow retries each request itself); none is made
    once the run is asked to stop."""
    from mlflow.tracking import MlflowClient

    if is_server(tracking_uri):
        for name, value in _HTTP_BOUNDS.items():
            os.environ.setdefault(name, value)
        probe(tracking_uri)
    tracking_uri = store_uri(tracking_uri)
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    location = paths.resolve_path(artifact_location).as_uri() if artifact_location else None
    tries = 2 if is_server(tracking_uri) else 5
    for attempt in itertools.count():  # the last try returns or raises
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            exp = client.get_experiment_by_name(experiment_name)
            if exp is None:
                experiment_id = client.create_experiment(experiment_name,
                                                         artifact_location=location,
                                                         tags=dict([_KIND]))
            else:
                experiment_id = exp.experiment_id
                if _KIND[0] not in exp.tags:  # a store made before the tag was set
                    client.set_experiment_tag(experiment_id, *_KIND)
            break
        except Exception:
            if attempt == tries - 1 or stop() is not None:  # the run's stop signal
                raise
            time.sleep(0.5 + attempt)
    if continues and _in_store(client, continues, experiment_id):  # a resume: the same run
        client.update_run(continues, status="RUNNING")
        return client, continues, where(tracking_uri, experiment_id)
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    return client, run.info.run_id, where(tracking_uri, experiment_id)


def _in_store(client: Any, run_id: str, experiment_id: str) -> bool:
    """Whether the run `run_id` is in this store's experiment (not deleted since)."""
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - another store, or gone
        return False
    return run.info.experiment_id == experiment_id and run.info.lifecycle_stage == "active"


class MLflowLogger(Tracker):
    def __init__(self, steps: bool = True, artifacts: bool = True, **store: Any) -> None:
        super().__init__(steps)
        self.store = store  # open_run's: tracking_uri, experiment_name, artifact_location
        self.artifacts = artifacts
        self.client: Any = None
        self.run_id = self.where = ""
        self.pending: list = []
        self.logged: set[str] = set()
        self.flushed = time.monotonic()

    def start(self, ctx: Any) -> None:
        keep_offline(ctx.cfg)
        from mlflow.entities import Param

        folder, _, why = os.environ.get(_DOWN, "").partition("\n")
        if ctx.is_multirun and why and Path(ctx.run_dir).resolve().is_relative_to(folder):
            raise ConnectionError(f"{why} at the sweep's start (not asked again by its jobs)")
        parent = Path(ctx.run_dir).parent / PARENT_FILE
        noted = parent.read_text().strip() if ctx.is_multirun and parent.is_file() else ""
        cfg = ctx.cfg
        tags = {"section": str(cfg.section), "experiment": str(cfg.experiment),
                "seed": str(cfg.seed), "run_dir": str(ctx.run_dir),
                "setting_label": ctx.label[:5000]}
        if noted:
            tags["mlflow.parentRunId"] = noted
        # A resumed run goes on in its MLflow run: one per dlproj run, every epoch in it
        note = Path(ctx.run_dir) / RUN_FILE
        earlier = note.read_text().strip() if ctx.resuming and note.is_file() else ""
        self.client, self.run_id, self.where = open_run(**self.store, run_name=run_name(ctx),
                                                        tags=tags, stop=ctx.stop,
                                                        continues=earlier)
        params = {k: str(v)[:6000] for k, v in flat_config(cfg).items()}
        if self.run_id == earlier:  # a param is set once: what a resume changed is a tag
            had = self.client.get_run(self.run_id).data.params
            changed = {k: v for k, v in params.items() if k in had and had[k] != v}
            params = {k: v for k, v in params.items() if k not in had}
            if changed:
                self.client.set_tag(self.run_id, "resumed_with", " ".join(
                    f"{k}={v}" for k, v in changed.items())[:5000])
        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])
        write_text(note, self.run_id)

    def scalars(self, items: dict[str, float], step: int, flush: bool = False) -> None:
        """Queue the metrics; send the queue when `flush`, when full or every _FLUSH_SECS."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(k, v, now, int(step)) for k, v in items.items()]
        self.logged.update(items)
        if flush or len(self.pending) >= _BATCH or time.monotonic() - self.flushed > _FLUSH_SECS:
            self.client.log_batch(self.run_id, metrics=self.pending)
            self.pending, self.flushed = [], time.monotonic()

    def finish(self, record: dict[str, Any]) -> None:
        from mlflow.entities import Param, RunTag

        # Final metrics of runs without epochs (gradcheck, receptive_field, a checkpoint eval).
        final = {k: v for k, v in numeric(record.get("metrics") or {}) if k not in self.logged}
        self.scalars(final, 0, flush=True)
        status = str(record.get("status", ""))
        tags = {"status": status, "setting": str(record.get("setting", ""))}  # the runner's id
        commit = ((record.get("metadata") or {}).get("git") or {}).get("commit")
        if commit:  # shown by the MLflow UI as the run's source version
            tags["mlflow.source.git.commit"] = commit
        if record.get("error"):
            tags["error"] = str(record["error"])[:5000]
        labels = [Param(k, str(v)) for k, v in (record.get("metrics") or {}).items() if is_label(k)]
        self.client.log_batch(self.run_id, params=labels,
                              tags=[RunTag(k, v) for k, v in tags.items()])
        if self.artifacts:
            run_dir = Path(record["run_dir"])
            files = [(path, "figures") for path in sorted(run_dir.glob("*.png"))]
            files += [(run_dir / name, "model") for name in ("model.npz", "model.pt")]
            # Not results.json: `make report-table` would count the copy as a run of its own.
            for path, folder in [*files, (run_dir / "metrics.csv", None)]:
                if path.is_file():
                    self.client.log_artifact(self.run_id, str(path), folder)
        self.close(_STATUS.get(status, "FAILED"))
        if not Path(record["run_dir"]).parent.joinpath(PARENT_FILE).is_file():  # a sweep says it
            log.info("mlflow: %s", self.where)

    def close(self, status: str = "FAILED") -> None:
        if self.client is not None and self.run_id:
            self.client.set_terminated(self.run_id, status=status)
            self.run_id = ""


class MLflowSweepParent(Callback):
    """Hydra callback: with `logger=[...,mlflow]`, a multirun's jobs become children of one run,
    made before any job starts (so parallel jobs never race for it), its id left in PARENT_FILE.
    It never raises: without MLflow the jobs are not grouped; a node the jobs will refuse
    (`tracking_uri=''`) makes no store, and each job says what is wrong."""

    def __init__(self) -> None:
        self.client: Any = None
        self.run_id = self.where = ""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(_DOWN, None)  # an earlier sweep's, in this process
        if "mlflow" not in (config.get("logger") or {}):
            return
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        try:
            node = config.logger.mlflow
            MLflowLoggerConfig.check(node, config)
            keep_offline(config)
            tags = {"sweep_dir": str(sweep_dir),
                    "overrides": " ".join(OmegaConf.to_container(  # as typed
                        config.hydra.overrides, resolve=False)["task"])[:5000]}
            try:
                self.client, self.run_id, self.where = open_run(
                    node.tracking_uri, node.experiment_name, node.artifact_location,
                    f"multirun {sweep_dir.name}", tags)
            except ConnectionError as exc:  # its jobs (this process's children) would each wait
                os.environ[_DOWN] = f"{sweep_dir}\n{exc}"  # the probe out again
                raise
            sweep_dir.mkdir(parents=True, exist_ok=True)
            (sweep_dir / PARENT_FILE).write_text(self.run_id + "\n")
        except ConfigError:
            return
        except Exception as exc:
            log.warning("mlflow: sweep parent run not created (%s: %s); jobs are not grouped",
                        type(exc).__name__, exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.run_id:
            return
        try:
            report = Path(str(config.hydra.sweep.dir)) / "report"
            if report.is_dir():
                self.client.log_artifacts(self.run_id, str(report), "report")
            self.client.set_terminated(self.run_id, status="FINISHED")
            log.info("mlflow: the sweep's runs: %s", self.where)
        except Exception as exc:
            log.warning("mlflow: sweep parent run not closed (%s: %s)", type(exc).__name__, exc)
