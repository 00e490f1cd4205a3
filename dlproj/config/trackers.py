"""The `logger=` group: the run directory's own files (csv) and the tracker loggers it can add.

`logger=[csv,tensorboard,mlflow]` is a list: each chosen logger is a node under `logger.<name>`;
a node with a `_target_` is built by the runner (hydra.utils.instantiate) and fed the run's rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from omegaconf import DictConfig

from dlproj.config.checks import Built, Rule, ruled, text
from dlproj.errors import check

# The tracking stores MLflow opens (a database's driver after a `+`: postgresql+psycopg2://).
STORES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def is_store(uri: object) -> bool:
    """A URI MLflow takes for a tracking store: a folder or file:// only where MLflow 3 is told
    to keep its file store (MLFLOW_ALLOW_FILE_STORE=true), which it otherwise refuses at the
    run's start (a warning, the tracker off: the run would go on untracked)."""
    if not isinstance(uri, str) or not uri.strip():
        return False
    scheme = urlsplit(uri).scheme.partition("+")[0].lower()
    file_store = os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("true", "1")
    return scheme in STORES or (file_store and scheme in ("", "file"))


def is_server(tracking_uri: str) -> bool:
    """A tracking server (http(s)://HOST:PORT), not a store the run writes itself."""
    return urlsplit(tracking_uri).scheme in ("http", "https")


@dataclass
class CSVLoggerConfig:
    """metrics.csv, results.json and the other run files: always written; listed for clarity."""


@dataclass
class TensorBoardLoggerConfig(Built):
    """Event files in the run directory: `tensorboard --logdir outputs`."""

    steps: bool = True      # step/train_loss at every training step
    figures: bool = True    # the run's *.png as images
    hparams: bool = True    # the resolved config in the HParams tab
    flush_secs: int = 30


@dataclass
class MLflowLoggerConfig(Built):
    """One MLflow run per dlproj run in a local store: `mlflow ui --backend-store-uri ...`."""

    # No key may be '': MLflow reads it as "not given" and writes its own default store
    # (./mlflow.db, ./mlruns) into the current directory, outside the outputs folder.
    tracking_uri: str = ruled("sqlite:///${dlproj.outputs:}/mlflow/mlflow.db", Rule(is_store,
        "sqlite:///PATH (a relative PATH from the project root; the default: "
        "sqlite:///<outputs>/mlflow/mlflow.db), the "
        "http(s)://HOST:PORT of an MLflow tracking server, or a database MLflow opens "
        "(postgresql://, mysql://, mssql://); a folder or file:// only with "
        "MLFLOW_ALLOW_FILE_STORE=true (MLflow 3 refuses its file store)"))
    artifact_location: str = "${dlproj.outputs:}/mlflow/artifacts"
    experiment_name: str = ruled("dlproj", text(
        "the name of an MLflow experiment (the default: dlproj)"))
    steps: bool = True      # step/train_loss at every training step (sent in batches)
    artifacts: bool = True  # figures, model file, results.json, metrics.csv

    @staticmethod
    def cross_check(node: DictConfig, cfg: DictConfig) -> None:
        """A server's artifacts may be left to the server, though."""
        location = node.artifact_location
        check(bool(location.strip()) or (is_server(node.tracking_uri) and location == ""),
              "logger.mlflow.artifact_location", location,
              "a folder (the default: <outputs>/mlflow/artifacts), or '' (the server's own "
              "artifact store) with an http(s):// tracking_uri")
