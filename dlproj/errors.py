"""Exceptions that end a run with a one-paragraph message instead of a traceback, and the words
every check uses to say what is wrong."""

import errno
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def clean_message(text: str) -> str:
    """A message as dlproj shows and stores it: terminal escape codes removed."""
    return _ANSI.sub("", text)


class DlprojError(Exception):
    """Base for errors a user can act on; the message is shown as is."""

    def __init__(self, message: str = ""):
        # torch's DataLoader re-raises a worker's exception as its type built from "Caught ...
        # Original Traceback ...", ending "<module.Type>: <message>": the message is kept.
        if message.startswith("Caught ") and "\nOriginal Traceback" in message:
            message = message.rstrip().rpartition("\n")[2].partition(": ")[2]
        super().__init__(message)


class ConfigError(DlprojError):
    """A configuration value is missing, of the wrong kind, or out of range."""


class DataError(DlprojError):
    """A dataset or weights file is missing, corrupt or cannot be fetched."""


def check(ok: bool, key: str, value: object, allowed: str, *, shown: str | None = None) -> None:
    """ConfigError naming `key`, its value (a config node as a plain list/dict: `[8, 16]`, not
    the node's repr; `shown`: the value in other words, e.g. a path with where it resolves to)
    and what is allowed, unless `ok`."""
    if not ok:
        from omegaconf import OmegaConf

        value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        # The same command: `python -m dlproj KEY=...` alone would drop its section=,
        # experiment= and a `+` the key needed (and be refused)
        raise ConfigError(f"Invalid value for '{key}': {shown or repr(value)}. Allowed: "
                          f"{allowed}. Fix it on the command line: the same command with "
                          f"another `{key}=...`.")


# The environment variables dlproj reads as numbers (finite, > 0) or switches (0 or 1), by `knob`,
# and what each allows (the folders, DLPROJ_OUTPUTS and DLPROJ_DATA: dlproj/paths.py).
KNOBS: dict[str, tuple[type, str]] = {
    "DLPROJ_JOBS": (int, "an integer >= 1 (how many runs share the cores; unset: this run "
                         "alone, or its joblib sweep's n_jobs)"),
    "DLPROJ_KEEP_MEMORY": (bool, "1 (a run keeps the memory its steps free, for the next: "
                                 "faster, its peak memory up to a third higher) or 0 (the C "
                                 "library's own way); unset: 1 (dlproj/runtime/allocator.py)"),
    "DLPROJ_MLFLOW_PROBE_SECS": (float, "a number of seconds > 0 (how long an MLflow tracking "
                                        "server has to answer; unset: 5)"),
    "DLPROJ_PROGRESS": (bool, "1 (progress bars) or 0 (none); unset: bars when stderr is a "
                              "terminal"),
}


def knob(name: str, default: Any = None) -> Any:
    """The environment variable `name` of KNOBS as its kind reads it; `default` when it is
    unset or blank; a ConfigError naming it and what is allowed when it is anything else."""
    given = os.environ.get(name, "")
    text = given.strip()
    if not text:
        return default
    kind, allowed = KNOBS[name]
    if kind is bool:
        if text in ("0", "1"):
            return text == "1"
    else:
        with suppress(ValueError):  # a number: finite and > 0
            value = kind(text)
            if math.isfinite(value) and value > 0:
                return value
    raise ConfigError(f"Invalid value for the environment variable {name}: {given!r}. "
                      f"Allowed: {allowed}.")


def check_knobs() -> None:
    """Each of KNOBS read once, before a command starts: one read mid-run would come late."""
    for name in KNOBS:
        knob(name)


def shape_mismatch(own: dict[str, tuple[int, ...]], given: dict[str, tuple[int, ...]]) -> str:
    """What differs between a model's parameter names/shapes and a file's; '' when they fit."""
    missing = sorted(own.keys() - given.keys())
    extra = sorted(given.keys() - own.keys())
    shapes = [f"{k} {given[k]} vs model {own[k]}" for k in sorted(own.keys() & given.keys())
              if tuple(own[k]) != tuple(given[k])]
    parts = [f"{what}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
             for what, names in (("missing", missing), ("unexpected", extra),
                                 ("shape differs", shapes)) if names]
    return "; ".join(parts)


class Diverged(Exception):
    """The loss became NaN or infinite, or blew up past train.divergence_factor times the run's
    first loss (`why`; dlproj.training.divergence); the run stops, recorded as diverged."""

    def __init__(self, where: str, value: float, why: str = ""):
        super().__init__(f"loss became {value:.4g} at {where}" + (f", {why}" if why else ""))


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: the run stops at a step boundary, recorded as interrupted."""

    def __init__(self, signum: int, where: str):
        """`where`: the moment, as the record's error reads it after the signal's name ("at
        epoch 2 step 95", "before drawing curves.png")."""
        self.signum = signum
        self.signal = signal.Signals(signum).name
        super().__init__(f"{self.signal} {where}")


def cannot_write(exc: BaseException, where: object) -> str | None:
    """"cannot write PATH: No space left on device" when `exc` is the disk refusing a write (full,
    over quota, read-only, file too large), else None."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                  errno.EFBIG):
        return f"cannot write {exc.filename or where}: {exc.strerror}"
    return None


def stopped(main: Callable[[], int | None], prog: str) -> int | None:
    """An entry point's `main()`, whose Ctrl-C (imports included, before any handler of its own)
    ends it with one line and 130, not a traceback; what it wrote is whole (files/atomic.py)."""
    try:
        return main()
    except KeyboardInterrupt:
        print(f"{prog}: stopped (Ctrl-C)", file=sys.stderr)
        return 128 + signal.SIGINT


def stdout_closed() -> int:
    """The reader of stdout went away (`... | head`): what is still printed goes nowhere, as it
    would in a shell tool, not into a BrokenPipeError per line; the exit status of SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


FILE_ONLY = {"file_only": True}


class ConsoleHandler(logging.StreamHandler):
    """The console log (conf/hydra/job_logging/console.yaml): once its reader is gone the run
    goes on, logging to RUN_DIR/dlproj.log only, without a traceback for every line. A line
    logged with `extra=FILE_ONLY` (what the console had on stderr already) is the file's only."""

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "file_only", False):
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError) and self.stream is sys.stdout:
            stdout_closed()
            return
        super().handleError(record)


def one_paragraph(prog: str, main: Callable[[], int], cannot_write: str) -> int:
    """`main()`, or its error in one paragraph on stderr and a non-zero exit: 2 for a DlprojError
    (what the command line or a file gets wrong), 1 for an OSError (what the machine refuses:
    a folder it cannot make or write, a full disk), followed by `cannot_write`, what to do."""
    try:
        return main()
    except BrokenPipeError:  # `| head`: no write was refused but the reader's
        return stdout_closed()
    except DlprojError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{prog}: cannot write{where}: {exc.strerror or exc}. {cannot_write}",
              file=sys.stderr)
        return 1
