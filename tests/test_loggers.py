"""The tracker loggers, read back through TensorBoard's and MLflow's own readers."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, run_here

pytest.importorskip("tensorboard", reason="the trackers extra is not installed")
pytest.importorskip("mlflow", reason="the trackers extra is not installed")

EPOCHS = 6


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _hparams(acc, tag: str):
    """The hparams session's start or end (`tag`: session_start_info, session_end_info) as the
    folder read into `acc` (an EventAccumulator) holds it: TensorBoard's, the first written."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")[f"_hparams_/{tag}"]
    return getattr(plugin_data_pb2.HParamsPluginData.FromString(content), tag)


def _mlflow_client(outputs):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{outputs}/mlflow/mlflow.db")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A two-job XOR multirun with every logger, in a process that then reports whether torch was
    imported. Returns (process, outputs folder, run dir of seed 0)."""
    outputs = tmp_path_factory.mktemp("outputs")
    args = ["-m", "section=1", "experiment=xor", f"train.epochs={EPOCHS}", "seed=0,1", "logger=all",
            "+hydra.callbacks.aggregate.figures=false"]
    code = (
        "import sys\n"
        "from dlproj.runtime.app import main\n"
        f"sys.argv = ['dlproj', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "DLPROJ_OUTPUTS": str(outputs),
                                            "DLPROJ_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed in" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    run_dirs = sorted(p.parent for p in (outputs / "multirun").glob("*/*/results.json"))
    assert [d.name for d in run_dirs] == ["0", "1"]
    return proc, outputs, run_dirs[0]


@pytest.fixture
def xor_run(sweep):
    return sweep


def test_loggers_do_not_import_torch_in_sections_1_to_3(xor_run):
    proc, _, _ = xor_run
    assert proc.stdout.strip().endswith("NO-TORCH"), proc.stdout


def test_tensorboard_events_read_back(xor_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, run_dir = xor_run
    # Named by the setting's label (the keys given on the command line) and the seed.
    (events,) = (run_dir / "tensorboard").iterdir()
    assert events.name == f"train.epochs={EPOCHS} seed=0"
    assert list(events.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    rows = _read_csv(run_dir / "metrics.csv")
    assert len(rows) == EPOCHS
    tags = acc.Tags()
    # every metrics.csv column (but epoch) per epoch, value for value (float32)
    for column in rows[0]:
        if column == "epoch":
            continue
        events = acc.Scalars(column)
        assert [e.step for e in events] == [int(r["epoch"]) for r in rows]
        assert [e.value for e in events] == pytest.approx([float(r[column]) for r in rows],
                                                           rel=1e-6)
    # training loss per step: XOR is one full batch of 4, so one step per epoch
    steps = acc.Scalars("step/train_loss")
    assert [e.step for e in steps] == list(range(1, EPOCHS + 1))
    assert steps[0].value > 0
    # the run's figures as images, the same PNG bytes
    pngs = sorted(run_dir.glob("*.png"))
    assert pngs and sorted(tags["images"]) == sorted(p.stem for p in pngs)
    image = acc.Images(pngs[0].stem)[0]
    assert image.encoded_image_string == pngs[0].read_bytes()
    assert image.width > 0 and image.height > 0
    # hparams: the resolved config, and the run's end status
    start = _hparams(acc, "session_start_info")
    assert start.hparams["experiment"].string_value == "xor"
    assert start.hparams["optimizer.lr"].number_value == pytest.approx(0.05)
    assert start.hparams["train.epochs"].number_value == EPOCHS
    assert _hparams(acc, "session_end_info").status == 1  # STATUS_SUCCESS


@pytest.mark.parametrize("more", [[], ["train.epochs=5"]], ids=["as it was", "more epochs"])
def test_a_resumed_run_is_one_tensorboard_run_ending_as_the_run_ends(tmp_path, monkeypatch,
                                                                     more):
    """A run stopped by Ctrl-C after epoch 2 and resumed to its end is one TensorBoard run (one
    folder) and one hparams session: one start, and the end the run reached (SUCCESS).
    TensorBoard keeps a run folder's first metadata of a tag, so the FAILURE written at the
    interrupt stood for the completed run; an interrupted run now writes no end (it may go on),
    a resume no start. A resume with more epochs (a new label) went into a second folder."""
    import signal

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, metadata

    from dlproj.runtime import interrupt
    from dlproj.training.context import RunContext

    real = RunContext.log_epoch

    def stopped_after_2(self, row, **kwargs):
        real(self, row, **kwargs)
        if row["epoch"] == 2:  # a Ctrl-C in the next step
            os.kill(os.getpid(), signal.SIGINT)

    outputs = tmp_path / "out"
    monkeypatch.setattr(RunContext, "log_epoch", stopped_after_2)
    try:
        first = run_here(["experiment=xor", "train.epochs=4", "figures=false",
                          "logger=tensorboard"], outputs)
    finally:
        interrupt._requested = None  # the stop ends with its process: here, with its run
    assert first.results()["status"] == "interrupted", first.output
    monkeypatch.setattr(RunContext, "log_epoch", real)
    again = run_here([f"resume={first.run_dir}", *more], outputs)
    assert again.results()["status"] == "completed", again.output
    (folder,) = (first.run_dir / "tensorboard").iterdir()
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    assert _hparams(acc, "session_end_info").status == api_pb2.STATUS_SUCCESS
    assert len(acc.Tensors(metadata.SESSION_START_INFO_TAG)) == 1
    assert [e.step for e in acc.Scalars("train_loss")] == list(range(1, 5 + bool(more)))


def test_a_resume_goes_on_in_the_folder_of_the_runs_first_session(tmp_path):
    """Of two folders a run's earlier sessions left (a resume before this one took the first's
    label), the first session's by its event file's time: by name, `train.epochs=10` came
    before `train.epochs=5`."""
    from types import SimpleNamespace

    from dlproj.loggers.tensorboard_logger import TensorBoardLogger

    root = tmp_path / "tensorboard"
    for label, stamp in (("train.epochs=5 seed=0", 100), ("train.epochs=10 seed=0", 200)):
        (root / label).mkdir(parents=True)
        (root / label / f"events.out.tfevents.{stamp}.host.1.0").write_bytes(b"")
    logger = TensorBoardLogger()
    ctx = SimpleNamespace(run_dir=tmp_path, resuming=True, label="train.epochs=20",
                          cfg=SimpleNamespace(seed=0))
    logger.start(ctx)
    logger.close()
    assert sorted(p.name for p in root.iterdir()) == ["train.epochs=10 seed=0",
                                                      "train.epochs=5 seed=0"]
    assert len(list((root / "train.epochs=5 seed=0").glob("events.out.tfevents.*"))) == 2


def test_mlflow_run_read_back(xor_run):
    _, outputs, run_dir = xor_run
    client = _mlflow_client(outputs)
    experiment = client.get_experiment_by_name("dlproj")
    (run,) = client.search_runs([experiment.experiment_id],
                                f"tags.run_dir = '{run_dir}'")
    assert run.info.status == "FINISHED"
    # Named by the setting (every key given on the command line) and the seed; the experiment
    # opens on MLflow 3's runs table.
    assert run.info.run_name == f"train.epochs={EPOCHS} seed=0"
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    tags = run.data.tags
    assert (tags["section"], tags["experiment"], tags["seed"]) == ("1", "xor", "0")
    assert tags["status"] == "completed" and tags["setting"]
    assert tags.get("mlflow.source.git.commit") == json.loads(
        (run_dir / "results.json").read_text())["metadata"]["git"]["commit"]
    params = run.data.params
    assert params["optimizer.lr"] == "0.05" and params["train.epochs"] == str(EPOCHS)
    assert params["model.hidden"] == "[4]"
    rows = _read_csv(run_dir / "metrics.csv")
    for column in ("train_loss", "train_eval_acc", "lr"):
        history = sorted(client.get_metric_history(run.info.run_id, column), key=lambda m: m.step)
        assert [m.step for m in history] == [int(r["epoch"]) for r in rows]
        assert [m.value for m in history] == pytest.approx([float(r[column]) for r in rows])
    steps = client.get_metric_history(run.info.run_id, "step/train_loss")
    assert sorted(m.step for m in steps) == list(range(1, EPOCHS + 1))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figures", "model", "metrics.csv"} <= artifacts
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {f"figures/{p.name}" for p in run_dir.glob("*.png")}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "model")} == {"model/model.npz"}


def test_run_metadata_in_results(xor_run):
    _, _, run_dir = xor_run
    meta = json.loads((run_dir / "results.json").read_text())["metadata"]
    assert meta["versions"]["numpy"] and meta["versions"]["hydra-core"]
    assert meta["cpu"]["cores"] == os.cpu_count()
    assert len(meta["git"]["commit"] or "") in (0, 40)


def test_multirun_progress_lines(sweep):
    proc, _, _ = sweep
    output = proc.stdout + proc.stderr
    assert "sweep: 2 jobs ->" in output
    # as typed, not as Hydra's sweep retypes it (section='1')
    assert f"job 0 (1 of 2): section=1 experiment=xor train.epochs={EPOCHS} seed=0" in output
    assert "job 0 done; sweep: 1/2 jobs in" in output and "ETA" in output
    assert "job 1 done; sweep: 2/2 jobs in" in output


def test_multirun_is_one_mlflow_parent_with_a_child_per_job(sweep):
    _, outputs, _ = sweep
    client = _mlflow_client(outputs)
    experiment = client.get_experiment_by_name("dlproj")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("mlflow.runName", "").startswith("multirun")]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = [r for r in runs if r not in parents]
    assert sorted(r.data.tags["seed"] for r in children) == ["0", "1"]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}


def _unwritable_event_file(monkeypatch):
    import tensorboard.summary.writer.event_file_writer as efw

    def refuse(self, event):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(efw.EventFileWriter, "add_event", refuse)


def _no_wait_between_store_retries(monkeypatch):
    """open_run tries a store five times, waiting 0.5 to 3.5 s between tries (8 s in all):
    the tries are made, the waits skipped."""
    import time
    import types

    from dlproj.loggers import mlflow_logger

    clock = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time)
                                     if not name.startswith("_")})
    clock.sleep = lambda seconds: None
    monkeypatch.setattr(mlflow_logger, "time", clock)


def _store_under_a_file(monkeypatch, tmp_path):
    """A store whose folder cannot be made: its parent is a file."""
    (tmp_path / "a_file").write_text("")
    return [f"logger.mlflow.tracking_uri=sqlite:///{tmp_path}/a_file/mlflow.db"]


@pytest.mark.parametrize("logger,overrides,fault", [
    ("mlflow", _store_under_a_file, _no_wait_between_store_retries),           # no store there
    ("tensorboard", [], _unwritable_event_file),                               # disk full
])
def test_a_failing_logger_warns_once_and_the_run_completes(compose_cfg, tmp_path, caplog,
                                                          monkeypatch, logger, overrides, fault):
    from dlproj.runtime.runner import execute

    if fault is not None:
        fault(monkeypatch)
    overrides = overrides(monkeypatch, tmp_path) if callable(overrides) else overrides
    cfg = compose_cfg(["experiment=xor", "train.epochs=3", f"logger={logger}", *overrides])
    with caplog.at_level(logging.WARNING, logger="dlproj"):
        record = execute(cfg, run_dir=tmp_path / "run", is_multirun=False, overrides=[])
    assert record["status"] == "completed"
    warnings = [r.getMessage() for r in caplog.records if "failed in" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(f"logger {logger} failed in start")


@pytest.fixture(params=["refused", "silent"])
def unreachable(request):
    """The URI of an MLflow server that is not there: a closed port (connection refused), or a
    port that accepts connections and never answers (a listening socket nobody reads)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if request.param == "refused":
        sock.close()
    else:
        sock.listen(8)
    yield f"http://127.0.0.1:{port}"
    sock.close()


def _start(args, outputs, env=None):
    """`python -m dlproj ARGS` in a process of its own, stdout and stderr as one stream."""
    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "dlproj", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# The multirun without its sweep report (the aggregate callback: no tracker in it).
@pytest.mark.parametrize("sweep_args", [[], ["-m", "seed=0,1", "~hydra.callbacks.aggregate"]],
                         ids=["run", "multirun"])
def test_an_unreachable_tracking_server_is_one_warning_and_the_run_completes(
        unreachable, sweep_args, tmp_path):
    """MLflow's own retries waited 11 minutes on a closed port, deaf to SIGTERM: now the server
    is probed (a few seconds), each run warns once naming the URI and completes."""
    # The silent server is waited on for the probe's time: 1 s here, not the 5 s a user gets.
    run = run_here([*sweep_args, "experiment=xor", "train.epochs=3", "figures=false",
                    "logger=mlflow", f"logger.mlflow.tracking_uri={unreachable}"], tmp_path,
                   env={"DLPROJ_MLFLOW_PROBE_SECS": "1"})
    output = run.output
    assert run.proc.returncode == 0, output
    records = [json.loads(p.read_text()) for p in tmp_path.rglob("results.json")]
    assert len(records) == (2 if sweep_args else 1), output
    assert all(r["status"] == "completed" for r in records), output
    warned = [line for line in output.splitlines() if "logger mlflow failed in start" in line]
    assert len(warned) == len(records), output
    assert all("[WARNING]" in line and f"tracking_uri={unreachable} did not answer" in line
               for line in warned), output
    if sweep_args:  # the sweep's parent run is not made either, in seconds too; its jobs do
        # not wait the probe out again, each (5 s against a silent server)
        assert output.count(f"sweep parent run not created (ConnectionError: the tracking server "
                            f"logger.mlflow.tracking_uri={unreachable}") == 1, output
        assert all("at the sweep's start (not asked again by its jobs)" in line
                   for line in warned), output
    for word in ("Traceback", "Retrying", "failed in finish", "failed in log_"):
        assert word not in output, output


@contextlib.contextmanager
def stalling_server(answers_root: bool):
    """The URI of an MLflow server that stalls: it accepts connections and never answers an API
    request (a server under load, a proxy that hangs); with `answers_root`, `GET /` (dlproj's
    probe) is answered at once, so the wait is in MLflow's own requests."""
    import http.server

    released = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _stall(self):
            if answers_root and self.path == "/":
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            released.wait(600)

        do_GET = do_POST = _stall

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        released.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("answers_root", [False, True], ids=["probe stalls", "requests stall"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_while_the_tracking_server_stalls_ends_the_run_at_once(answers_root, sig,
                                                                        tmp_path):
    """A stop that comes while the run waits on a server that never answers is neither lost nor
    held: the probe (5 s) or MLflow's bounded requests (2 retries of 15 s) are given up as the
    signal arrives, the tracker warns once and is off, and the run ends interrupted (it waited
    some 40 s once the probe passed). Its last words to the tracker are not waited for either."""
    with stalling_server(answers_root) as uri:
        # the probe waits a minute here (a user may set that): its wait is the one cut short
        proc = _start(["experiment=xor", "train.epochs=1000000", "figures=false",
                       "logger=mlflow", f"logger.mlflow.tracking_uri={uri}"], tmp_path,
                      env={"DLPROJ_MLFLOW_PROBE_SECS": "60"})
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout],
                                  daemon=True)
        reader.start()
        seen = []
        try:
            deadline = time.monotonic() + 120
            while not any("experiment xor ->" in line for line in seen):  # about to open
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            time.sleep(2)  # inside the probe, or in MLflow's first request
            proc.send_signal(sig)
            signalled = time.monotonic()
            proc.wait(timeout=120)  # a guard against a hang
            waited = time.monotonic() - signalled
        finally:
            proc.kill()
    reader.join(timeout=10)
    output = "".join([*seen, *(lines.get_nowait() for _ in range(lines.qsize()))])
    assert proc.returncode == 128 + sig, output
    # not a speed target: the stall it used to wait out lasts 45 s or more (the probe: 60 s);
    # the margin is for a loaded machine's interpreter shutting down
    assert waited < 20, (waited, output)
    (results,) = tmp_path.rglob("results.json")
    record = json.loads(results.read_text())
    assert record["status"] == "interrupted" and record["last_epoch"] < 1000000, output
    assert output.count("logger mlflow: stopped waiting on it in start, as the run was asked to "
                        "stop") == 1, output
    assert "Traceback" not in output and "failed in" not in output, output


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "asked to stop before"])
def test_a_wait_after_a_stop_gets_its_grace_and_no_more(stopped, monkeypatch):
    """The interrupted run's last words to a tracker (its finish) may wait GRACE_S, then the
    wait is cut (SIGALRM): a store that stalls never holds an interrupted run. Before a stop,
    a wait is cut only by the signal; off the main thread nothing changes."""
    from dlproj.runtime import interrupt

    monkeypatch.setattr(interrupt, "GRACE_S", 0.2)
    monkeypatch.setattr(interrupt, "_requested", signal.SIGINT if stopped else None)
    previous = signal.getsignal(signal.SIGALRM)
    t0 = time.monotonic()
    with interrupt.given_up_on_a_stop() as wait:
        time.sleep(1.0)  # a request that stalls
    assert wait.cut == stopped and (time.monotonic() - t0 < 0.9) == stopped
    assert signal.getsignal(signal.SIGALRM) == previous  # and no alarm left armed
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    found = []

    def elsewhere():
        with interrupt.given_up_on_a_stop() as w:
            time.sleep(0.3)
        found.append(w.cut)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert found == [False]


@pytest.mark.parametrize("when", ["as the block looks", "before the block"])
def test_a_stop_as_a_wait_begins_is_never_waited_through(when, monkeypatch, caplog):
    """The first stop signal comes just as a tracker's call begins: after the look at whether
    the run was asked to stop, before the call's wait (where it once set the request quietly and
    the call then waited out a stalling server, 45 s). The call is skipped, said once, and the
    logger is off; a stop before the call gets its grace as before (GRACE_S)."""
    import os

    from omegaconf import OmegaConf

    from dlproj.loggers import Guarded
    from dlproj.runtime import interrupt

    monkeypatch.setattr(interrupt, "GRACE_S", 0.2)
    monkeypatch.setattr(interrupt, "_requested", None)
    monkeypatch.setattr(interrupt, "_stop_file", None)
    looked = interrupt.requested

    def looks_as_the_signal_comes():  # the signal lands between the look and the wait
        seen = looked()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # its handler runs here, in the main thread
        return seen

    if when == "as the block looks":
        monkeypatch.setattr(interrupt, "requested", looks_as_the_signal_comes)
    else:
        monkeypatch.setattr(interrupt, "_requested", signal.SIGTERM)
    Stalls.calls = 0
    node = OmegaConf.create({"_target_": f"{__name__}.Stalls", "_partial_": True})
    guarded = Guarded("stalls", node, interrupt.given_up_on_a_stop)
    t0 = time.monotonic()
    with interrupt.catch_signals(), caplog.at_level(logging.WARNING, logger="dlproj"):
        guarded.start(None)
        guarded.log_epoch({})  # off: not called again
    assert interrupt._requested == signal.SIGTERM
    assert Stalls.calls == (0 if when == "as the block looks" else 1)  # the grace: cut
    assert time.monotonic() - t0 < 5  # a guard: the stall below is 30 s
    assert [r.getMessage() for r in caplog.records] == [
        "logger stalls: stopped waiting on it in start, as the run was asked to stop; it is off "
        "for the rest of this run"]


class Stalls:
    """A tracker logger whose calls stall (a server that never answers)."""

    calls = 0

    def start(self, ctx):
        Stalls.calls += 1
        threading.Event().wait(30)

    def log_epoch(self, row):
        Stalls.calls += 1


class KeptWaiting:
    """A tracker logger whose start is cut short by a second Ctrl-C."""

    finished = False

    def start(self, ctx):
        raise KeyboardInterrupt

    def finish(self, record):
        KeptWaiting.finished = True


def test_a_logger_whose_start_was_cut_short_is_not_finished(caplog):
    """Its finish would find no run to end (`'NoneType' object has no attribute 'log_batch'`)."""
    from omegaconf import OmegaConf

    from dlproj.loggers import Guarded

    node = OmegaConf.create({"_target_": f"{__name__}.KeptWaiting", "_partial_": True})
    guarded = Guarded("waiting", node)
    with caplog.at_level(logging.WARNING, logger="dlproj"), pytest.raises(KeyboardInterrupt):
        guarded.start(None)
    guarded.finish({})
    assert not KeptWaiting.finished and not caplog.records


@pytest.mark.parametrize("uri,ok", [("http://127.0.0.1:5000", True),
                                    ("https://mlflow.example.org", True),
                                    ("sqlite:///outputs/mlflow/mlflow.db", False)])
def test_artifact_location_is_left_to_a_server_only(compose_cfg, uri, ok):
    """'' leaves a server's artifacts to the server (its own store); for a local store MLflow
    would write ./mlruns in the current directory."""
    from dlproj.config.trackers import MLflowLoggerConfig
    from dlproj.errors import ConfigError

    cfg = compose_cfg(["experiment=xor", "logger=mlflow", f"logger.mlflow.tracking_uri={uri}",
                       "logger.mlflow.artifact_location=''"])
    if ok:
        MLflowLoggerConfig.check(cfg.logger.mlflow, cfg)
    else:
        with pytest.raises(ConfigError, match="logger.mlflow.artifact_location"):
            MLflowLoggerConfig.check(cfg.logger.mlflow, cfg)


@pytest.mark.parametrize("uri,file_store,ok", [
    ("sqlite:///outputs/mlflow/mlflow.db", False, True),
    ("http://127.0.0.1:5000", False, True),
    ("postgresql+psycopg2://user@db/mlflow", False, True),
    ("file:///tmp/mlruns", True, True),          # MLflow 3 keeps its file store when told to
    ("file:///tmp/mlruns", False, False),        # else it refuses it when the run starts
    ("/tmp/mlruns", False, False),
    ("mlruns", False, False),
    ("nosuchscheme://nowhere", False, False),
    ("sqlit:///mlflow.db", False, False),        # a typo of the scheme
])
def test_a_tracking_uri_mlflow_would_refuse_is_a_config_error(compose_cfg, monkeypatch,
                                                              uri, file_store, ok):
    """A store MLflow cannot open passed validation: the run spent ~10 s importing MLflow, warned
    and went on untracked (exit 0), though the key's rule names what is allowed."""
    from dlproj.errors import ConfigError
    from dlproj.runtime.validate import validate

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true" if file_store else "false")
    overrides = ["experiment=xor", "logger=mlflow", f"logger.mlflow.tracking_uri={uri}"]
    cfg = compose_cfg(overrides)
    if ok:
        validate(cfg, overrides)
    else:
        with pytest.raises(ConfigError, match=r"Invalid value for 'logger.mlflow.tracking_uri'"
                                              r".*Allowed: sqlite:///PATH"):
            validate(cfg, overrides)


@pytest.mark.parametrize("overrides", [
    ["logger.csv=null"], ["logger=mlflow", "logger.mlflow=null"],
    ["logger=tensorboard", "logger.tensorboard=5"], ["logger=all", "logger.tensorboard=off"],
    ["+logger.mine=1"],
], ids=["csv-null", "mlflow-null", "tensorboard-int", "all-string", "own-int"])
def test_a_logger_that_is_not_a_node_is_a_config_error(compose_cfg, overrides):
    """`logger` is a dict of any: a tracker set to a value, not keys, passed the schema and ran,
    to fail on a TypeError traceback when the loggers were built (exit 1, a failed run)."""
    from dlproj.errors import ConfigError
    from dlproj.runtime.validate import validate

    name = overrides[-1].lstrip("+").split("=")[0]
    with pytest.raises(ConfigError, match=rf"Invalid value for '{name}'.*a logger's own keys"):
        validate(compose_cfg(["experiment=xor", *overrides]), overrides)


@pytest.mark.parametrize("override", ["+logger.mine.level=1",
                                      "+logger.mine={_target_: builtins.dict}"])
def test_a_logger_node_without_a_schema_passes_validation(compose_cfg, override):
    """A tracker node no schema types (a logger file of one's own, or `+logger.NAME...`) has no
    rules to check: validate lets it through as it always did, not TypeError from dataclasses."""
    from dlproj.runtime.validate import validate

    overrides = ["experiment=xor", override]
    assert validate(compose_cfg(overrides), overrides).name == "xor"


class Broken:
    """A tracker logger whose every epoch fails."""

    calls = 0

    def log_epoch(self, epoch, row):
        Broken.calls += 1
        raise OSError("disk full")

    def close(self):
        pass


def test_guarded_switches_a_failing_logger_off(caplog):
    from omegaconf import OmegaConf

    from dlproj.loggers import Guarded

    node = OmegaConf.create({"_target_": f"{__name__}.Broken", "_partial_": True})
    guarded = Guarded("broken", node)
    with caplog.at_level(logging.WARNING, logger="dlproj"):
        for epoch in range(1, 4):
            guarded.log_epoch(epoch, {"epoch": epoch})
    assert Broken.calls == 1
    assert len(caplog.records) == 1 and "disk full" in caplog.records[0].getMessage()


@pytest.mark.parametrize("label_length, most", [(10, 250), (246, 250), (400, 250), (400, 200)])
def test_a_trackers_run_name_keeps_the_seed_however_long_the_label(label_length, most):
    """MLflow's run name (250 characters) and TensorBoard's folder (200) were the name cut to
    size, and a long label's `seed=N`, which the README promises, went with the cut."""
    from types import SimpleNamespace

    from dlproj.loggers import run_name

    label = ("optimizer.lr=0.1 " * 40)[:label_length]
    name = run_name(SimpleNamespace(label=label, cfg=SimpleNamespace(seed=12)), most)
    assert name.endswith(" seed=12") and len(name) <= most
    assert name == f"{label} seed=12" or name.endswith("... seed=12")


def test_class_labels_are_not_metrics():
    from dlproj.loggers import numeric

    row = {"epoch": 3, "val_acc": 0.5, "most_confused_true": 7, "most_confused_pred": 9,
           "stopped": True, "layer": "conv1"}
    assert dict(numeric(row)) == {"val_acc": 0.5}


def test_any_answer_of_the_tracking_server_passes_the_probe(monkeypatch):
    """A redirect (to a login page) is an answer, credentials in the URI are not its host, and
    through a proxy the probe is left to MLflow's bounded requests: none of them is refused."""
    import http.server

    from dlproj.loggers.mlflow_logger import probe

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/login")  # a port that refuses
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe(f"http://user:secret@127.0.0.1:{server.server_port}/")
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        probe(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()


def test_a_job_resumed_in_an_older_sweep_asks_the_server_again(tmp_path, monkeypatch):
    """The sweep whose start found the server down tells its own jobs so; a job of a later sweep
    resumed in that folder (make reproduce) opens the store as before the note existed."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from dlproj.loggers import mlflow_logger
    from dlproj.loggers.mlflow_logger import MLflowLogger

    (tmp_path / "old" / "3").mkdir(parents=True)
    ctx = SimpleNamespace(run_dir=tmp_path / "old" / "3", is_multirun=True, label="x",
                          cfg=OmegaConf.create({"section": 1, "experiment": "xor", "seed": 0}),
                          stop=lambda: None, resuming=False)
    logger = MLflowLogger(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", experiment_name="d",
                          artifact_location=str(tmp_path / "artifacts"))
    said = "the tracking server did not answer"
    monkeypatch.setenv(mlflow_logger._DOWN, f"{tmp_path / 'old'}\n{said}")
    with pytest.raises(ConnectionError, match="at the sweep's start"):
        logger.start(ctx)
    monkeypatch.setenv(mlflow_logger._DOWN, f"{tmp_path / 'new'}\n{said}")
    logger.start(ctx)
    assert "mlflow.parentRunId" not in logger.client.get_run(logger.run_id).data.tags
    logger.close()


@pytest.mark.parametrize("path", ["relative.db", "stores/mlflow.db"])
def test_a_relative_sqlite_store_is_taken_from_the_project_root(tmp_path, monkeypatch, path):
    """`logger.mlflow.tracking_uri=sqlite:///relative.db` wrote relative.db wherever the command
    ran; it is taken from the project root, as a relative `data.root` is (and its artifacts)."""
    from types import SimpleNamespace

    from mlflow.tracking import MlflowClient
    from omegaconf import OmegaConf

    from dlproj import paths
    from dlproj.loggers.mlflow_logger import MLflowLogger

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (tmp_path / "run").mkdir()
    elsewhere.mkdir()
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    monkeypatch.chdir(elsewhere)
    ctx = SimpleNamespace(run_dir=tmp_path / "run", is_multirun=False, label="x",
                          cfg=OmegaConf.create({"section": 1, "experiment": "xor", "seed": 0}),
                          stop=lambda: None, resuming=False)
    logger = MLflowLogger(tracking_uri=f"sqlite:///{path}", experiment_name="d",
                          artifact_location="artifacts")
    logger.start(ctx)
    run_id = logger.run_id
    logger.close()
    assert not list(elsewhere.iterdir())
    store = f"sqlite:///{project / path}"
    assert store in logger.where
    run = MlflowClient(tracking_uri=store).get_run(run_id)
    assert run.info.artifact_uri.startswith((project / "artifacts").as_uri()), run.info.artifact_uri


# What MLflow reads as CI or a test run, where it sends no telemetry of its own accord.
_MLFLOW_QUIET = ("PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI",
                 "JENKINS_URL", "TRAVIS", "TF_BUILD", "BITBUCKET_BUILD_NUMBER",
                 "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION", "CLOUD_RUN_EXECUTION",
                 "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID", "DO_NOT_TRACK",
                 "MLFLOW_DISABLE_TELEMETRY")


@pytest.mark.parametrize("args,env,telemetry", [
    (["data.download=false"], {}, False),
    # the sweep's parent run first; no sweep report (dlproj.report never imports MLflow)
    (["-m", "data.download=false", "seed=0,1", "~hydra.callbacks.aggregate"], {}, False),
    (["data.download=false"], {"MLFLOW_DISABLE_TELEMETRY": "false"}, True),  # the user's word
    (["data.download=true"], {}, True),  # MLflow's own default, where the network is allowed
], ids=["a run", "a sweep", "telemetry asked for", "downloads allowed"])
def test_mlflow_sends_no_telemetry_when_nothing_may_reach_the_network(tmp_path, args, env,
                                                                      telemetry):
    """With data.download=false nothing reaches the network: MLflow's usage telemetry (to
    mlflow-telemetry.io, on from its import unless under pytest or CI) stays off in a run or
    sweep logging to a local store, unless MLFLOW_DISABLE_TELEMETRY says otherwise. The process
    runs as a user's would (none of MLflow's CI markers), its name lookups refused so that
    nothing leaves; telemetry shows as the thread MLflow starts to fetch its config."""
    code = (
        "import atexit, socket, sys, threading\n"
        "def refused(*a, **k):\n"
        "    raise OSError('no network in this test')\n"
        "socket.getaddrinfo = refused\n"
        "started, start = [], threading.Thread.start\n"
        "def noting(self):\n"
        "    started.append(self.name)\n"
        "    return start(self)\n"
        "threading.Thread.start = noting\n"
        "atexit.register(lambda: print('TELEMETRY', 'GetTelemetryConfig' in started))\n"
        "from dlproj.runtime.app import main\n"
        f"sys.argv = ['dlproj', *{args!r}, 'experiment=xor', 'train.epochs=2', 'logger=mlflow']\n"
        "main()\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in _MLFLOW_QUIET}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**clean, **env, "DLPROJ_OUTPUTS": str(tmp_path),
                                            "DLPROJ_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed in" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert f"TELEMETRY {telemetry}" in proc.stdout, proc.stdout + proc.stderr


def test_a_run_that_fails_before_it_writes_is_a_run_of_its_trackers_too(tmp_path):
    """A checkpoint that is no checkpoint fails the run before it starts writing: it got no
    MLflow run and no TensorBoard session (a diverged one gets both), so a sweep's MLflow parent
    lacked its failed children, and the console never named its folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an archive" * 8)
    outputs = tmp_path / "out"
    run = run_here(["experiment=mlp", f"checkpoint={bad}", "logger=[csv,mlflow,tensorboard]",
                    "data.train_limit=64", "data.test_limit=64", "data.val_size=64",
                    "figures=false"], outputs)
    assert run.proc.returncode == 1 and run.results()["status"] == "failed", run.output
    assert f"experiment mlp -> {run.run_dir} (" in run.output
    client = _mlflow_client(outputs)
    (found,) = client.search_runs([client.get_experiment_by_name("dlproj").experiment_id])
    assert found.info.status == "FAILED" and found.data.tags["status"] == "failed"
    (folder,) = (run.run_dir / "tensorboard").iterdir()
    acc = EventAccumulator(str(folder))
    acc.Reload()
    assert _hparams(acc, "session_end_info").status == api_pb2.STATUS_FAILURE


@pytest.mark.parametrize("deleted", [False, True], ids=["continued", "its MLflow run deleted"])
def test_a_resumed_run_goes_on_in_its_own_mlflow_run(tmp_path, deleted):
    """One MLflow run per dlproj run: a resume (here a completed run trained further) logs its
    epochs into the run its first session made, FINISHED at the end, the changed train.epochs a
    tag (a param is set once); it made a second run with the later epochs alone. A run that is
    gone from the store is made anew."""
    outputs = tmp_path / "out"
    args = ["experiment=xor", "train.epochs=3", "figures=false", "logger=[csv,mlflow]"]
    first = run_here(args, outputs)
    assert first.proc.returncode == 0, first.output
    client = _mlflow_client(outputs)
    experiment_id = client.get_experiment_by_name("dlproj").experiment_id
    if deleted:
        (old,) = client.search_runs([experiment_id])
        client.delete_run(old.info.run_id)
    again = run_here([f"resume={first.run_dir}", "train.epochs=5"], outputs)
    assert again.proc.returncode == 0, again.output
    runs = client.search_runs([experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    (run,) = runs
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "completed"
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train_loss"))
    assert steps == ([4, 5] if deleted else [1, 2, 3, 4, 5])
    assert run.data.params["train.epochs"] == ("5" if deleted else "3")
    assert ("resumed_with" in run.data.tags) != deleted
