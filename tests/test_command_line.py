"""The command line as a new user meets it: every config error in one paragraph with exit 2 and
nothing written, `--help` from conf/ alone, figures only when wanted, and a Ctrl-C after
training that leaves the run resumable (issue 21)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_here

FAST = ["experiment=xor", "train.epochs=20"]


def _refused(run, words: str) -> None:
    err = run.proc.stderr
    said = [line for line in err.splitlines() if line.startswith("dlproj:")]
    assert run.proc.returncode == 2, run.output
    assert len(said) == 1 and words in said[0], err
    assert "Traceback" not in err and "search path" not in err and "HYDRA_FULL_ERROR" not in err
    assert "Error executing job" not in err  # Hydra's line over an error the run explains
    assert not re.search(r"experiment \S+ -> ", run.output)  # names no folder it never made
    assert not list(run.outputs.rglob("results.json")) and not list(run.outputs.rglob(".hydra"))


@pytest.mark.parametrize("args, words", [
    (["optimizer=adm"], "'optimizer': 'adm' (did you mean adam?). Allowed: one of adam, adamw"),
    (["section=3", "pooling=mx"], "'pooling': 'mx' (did you mean max?)"),
    (["logger=[csv,tensorbord]"], "'logger': 'tensorbord' (did you mean tensorboard?)"),
    (["-m", "optimizer=sgd,adma"], "'optimizer': 'adma' (did you mean adam?)"),
    (["experiment=xorr"], "'experiment': 'xorr' (did you mean xor?)"),
    (["optimizer.lr=???"], "Missing value for 'optimizer.lr'"),
    (["model.hidden=256"], "'model.hidden': 256. Allowed: a list of integers >= 1, e.g. "
                           "[256] or [512,256]"),
    (["train.epochs=abc"], "'train.epochs': abc. Allowed: an integer"),
    (["optimizer.lr=fast"], "'optimizer.lr': fast. Allowed: a number"),
    (["data.download=maybe"], "'data.download': maybe. Allowed: true or false"),
    (["trian.epochs=3"], "Unknown key 'trian.epochs' (did you mean train.epochs?)"),
    # Hydra's own groups: their options, dlproj's internal ones left out, not a search path
    (["hydra/launcher=jobib"], "'hydra/launcher': 'jobib' (did you mean joblib?). Allowed: one "
                               "of basic, joblib, slurm, submitit_local, submitit_slurm."),
    (["hydra/sweeper=optna"], "'hydra/sweeper': 'optna' (did you mean optuna?). Allowed: one of"),
    # Hydra's settings the run directory's owner rests on: nothing written before its lock.
    (["hydra.output_subdir=.hydra"], "'hydra.output_subdir': '.hydra'. Allowed: null"),
    (["~hydra.output_subdir"], "'hydra.output_subdir': '~'. Allowed: null"),
    (["-m", "seed=1,2", "hydra/job_logging=default"], "'hydra/job_logging': 'default'. "
                                                     "Allowed: console"),
    (["hydra.job.chdir=true"], "'hydra.job.chdir': 'true'. Allowed: false"),
    (["train.epoch=3"], "Unknown key 'train.epoch' (did you mean train.epochs?)"),
    (["train.precison=32"], "Unknown key 'train.precison' (did you mean train.precision?)"),
    (["data.train_limt=10"], "Unknown key 'data.train_limt' (did you mean data.train_limit?)"),
    (["optimizer.betta1=0.8"], "Unknown key 'optimizer.betta1' (did you mean optimizer.beta1?)"),
    (["train.early_stopping.patiense=2"],
     "Unknown key 'train.early_stopping.patiense' (did you mean "
     "train.early_stopping.patience?)"),
    # A misspelled group or node is named, not one of its keys (`optimzer` once got optimizer.lr).
    (["optimzer=sgd"], "Unknown key 'optimzer' (did you mean optimizer?)"),
    (["modle=mlp_small"], "Unknown key 'modle' (did you mean model?)"),
    (["shedule=step"], "Unknown key 'shedule' (did you mean schedule?)"),
    (["train.early_stoping.patience=2"],
     "Unknown key 'train.early_stoping.patience' (did you mean train.early_stopping.patience?)"),
    (["seed=[1"], "Cannot read the command line"),
    # an item of a list, a list for one value, a value for a dict: the form, not OmegaConf's
    # words ("Error merging override", "Cannot convert 'list' to string")
    (["model.hidden=[a]"], "'model.hidden': [a]. Allowed: a list of integers >= 1, e.g. "
                           "[256] or [512,256]"),  # the key's own rule: its words
    (["model.hidden=[256,1.5]"], "'model.hidden': [256,1.5]. Allowed: a list of integers"),
    (["model.activation=[relu]"], "'model.activation': [relu]. Allowed: one value, not a list: "
                                  "one of leaky_relu, relu, sigmoid, tanh"),
    (["params=5"], "'params': 5. Allowed: one of its keys at a time, e.g. `params.NAME=...`"),
    # a key of a node is matched against that node's own keys, never the node's name
    (["train.foo=1"], "Unknown key 'train.foo': no config declares it"),
    (["params.n_train=5"], "Unknown key 'params.n_train': experiment=xor does not read it"),
    (["params.n_trian=5"], "Unknown key 'params.n_trian': no config declares it"),
    # a required key of Hydra's own settings: named, not OmegaConf's text (object_type=...)
    (["-m", "hydra/sweeper=joblist", "experiment=xor", "seed=0,1"],
     "Missing value for 'hydra.sweeper.jobs_file': it is ??? (required). Allowed: "),
    (["data.qqq=1"], "Unknown key 'data.qqq': no config declares it"),
], ids=lambda v: v if isinstance(v, str) and "=" in v and len(v) < 30 else None)
def test_a_config_error_is_one_paragraph_and_exit_2(tmp_path, args, words):
    _refused(run_here([*args, *FAST] if "-m" not in args else args, tmp_path), words)


# Forms Hydra takes and a run would then fail on, or write where no one asked (check_form): each
# refused before anything is written, in one paragraph naming the key and what is allowed.
FORMS = [
    # an empty folder is the working directory: the run's files would land among the user's
    (["hydra.run.dir="], "'hydra.run.dir': '', which names no folder"),
    (["hydra.run.dir=' '"], "'hydra.run.dir': ' ', which names no folder"),
    (["hydra.run.dir=null"], "'hydra.run.dir': None, which names no folder"),
    # a comma sweeps: several folders (said as `None, which names no folder`)
    (["hydra.run.dir=/tmp/x,y"], "'hydra.run.dir': /tmp/x,y, read as several folders"),
    (["-m", "hydra.sweep.dir=/tmp/a,/tmp/b", *FAST], "'hydra.sweep.dir': /tmp/a,/tmp/b, read "
                                                    "as several folders"),
    # an interpolation that does not resolve, named by the key it was given for
    (["seed=${oc.env:DLPROJ_NO_SUCH_VARIABLE}"], "'seed': ${oc.env:DLPROJ_NO_SUCH_VARIABLE}: "
                                                  "KeyError raised while resolving"),
    (["seed=${nope}"], "'seed': ${nope}: Interpolation key 'nope' not found. Allowed: a plain"),
    (["~hydra.run.dir"], "'hydra.run.dir': ~, which names no folder"),
    (["-m", "hydra.sweep.dir=", *FAST], "'hydra.sweep.dir': '', which names no folder"),
    (["-m", "hydra.sweep.subdir=", *FAST], "'hydra.sweep.subdir': '', which names no folder"),
    # every key is read: deleting one ended in a traceback and a `failed` run
    *[([f"~{key}"], f"Cannot delete '{key}' (~{key})")
      for key in ("device", "train", "train.epochs", "seed", "section", "experiment", "params",
                  "optimizer.lr", "data")],
    # what builds a group's object is its choice's file, never the command line
    *[([f"{key}={value}"], f"Invalid key '{key.lstrip('+')}'")
      for key, value in (("optimizer._partial_", "false"), ("model._partial_", "false"),
                         ("schedule._partial_", "false"), ("model._target_", "os.system"),
                         ("optimizer._target_", "builtins.print"), ("+model._convert_", "all"),
                         ("optimizer._recursive_", "false"))],
    (["optimizer._target_=builtins.print"], "Allowed: a choice of optimizer: adam, adamw"),
    # a group set to null is no choice (Hydra: "Got NoneType", naming no key)
    (["section=null"], "'section': null. Allowed: one of 1, 2, 3, 4"),
    (["model=null"], "'model': null. Allowed: one of cnn_small"),
    (["experiment=null"], "'experiment': null. Allowed: one of"),
    (["=3"], "Cannot read '=3': it names no key"),
    # a flag Hydra's parser does not know: not its usage as `__main__.py: error:`
    (["--foo"], "unrecognized arguments: --foo. Allowed: `python -m dlproj --help`"),
    (["--cfg", "jb"], "argument --cfg/-c: invalid choice: 'jb'"),
    (["-m", "--info", "nope"], "argument --info/-i: invalid choice: 'nope'"),
    # Hydra's rerun reads a config.pickle no dlproj run writes (an empty file: EOFError)
    (["--experimental-rerun", "/dev/null"], "--experimental-rerun reads a run's "
                                             ".hydra/config.pickle, which no dlproj run writes"),
    (["--experimental-rerun=/nonexistent.pickle"], "Allowed: resume=RUN_DIR to continue a run"),
    # a sweep of nothing, or an interval the basic sweeper cannot enumerate
    (["-m", "seed=range(0,0)", *FAST], "'seed': range(0,0) sweeps no values"),
    (["-m", "seed=range(5,2)", *FAST], "'seed': range(5,2) sweeps no values"),
    (["-m", "seed=interval(0,1)", *FAST], "Hydra's basic sweeper runs a list of values"),
    (["-m", "optimizer.lr=tag(log,interval(1e-4,1e-1))", *FAST], "not an interval"),
    # a sweep Hydra cannot expand: a traceback (ValueError, ValidationError, HydraException)
    *[(["-m", f"{key}={value}", *FAST], f"'{key}': {value}: {why}")
      for key, value, why in (("seed", "range(0,3,0)", "Hydra cannot expand it (range() arg 3 "
                                                       "must not be zero). Allowed: a sweep"),
                              ("train.epochs", "range(1,3,0)", "Hydra cannot expand it"),
                              ("seed", "range(0,1),2", "Hydra cannot expand it"),
                              ("seed", "glob(*)", "glob() picks among a config group's choices"),
                              ("optimizer.lr", "glob(0.1*)", "glob() picks among"))],
    (["seed=range(0,3,0)"], "'seed': range(0,3,0): Hydra cannot expand it"),
    (["-m", "model=glob(nomatch*)", *FAST], "'model': glob(nomatch*) sweeps no values"),
    # a group is swept by its choices, not by range() (which it would refuse)
    *[(["-m", f"{group}=glob(zz*)", *FAST], f"e.g. `{group}={first}` or `{group}=glob(PATTERN)`")
      for group, first in (("optimizer", "adam,adamw"), ("schedule", "constant,cosine"))],
    # a group takes one choice (logger a list of them): a list merged its files or, empty, chose
    # none (a traceback from Hydra, or a `failed` run)
    *[([f"{group}={value}"], f"'{group}': {value}, a list, but a run takes one {group}. "
                             f"Allowed: one of")
      for group, value in (("optimizer", "[]"), ("optimizer", "[sgd]"), ("section", "[1]"),
                           ("schedule", "[step,cosine]"), ("model", "[mlp_xor]"),
                           ("experiment", "[xor]"), ("debug", "[quick]"), ("dataset", "[]"))],
    # Optuna's settings, refused before its study starts
    (["-m", "hydra/sweeper=section2", "section=2", "hydra.sweeper.n_trials=0"],
     "'hydra.sweeper.n_trials': 0. Allowed: a whole number of trials, at least 1"),
    (["-m", "hydra/sweeper=section2", "section=2", "hydra.sweeper.n_trials=2.5"],
     "'hydra.sweeper.n_trials': 2.5"),
    (["-m", "hydra/sweeper=section2", "section=2", "hydra.sweeper.direction=up"],
     "'hydra.sweeper.direction': 'up'. Allowed: minimize or maximize"),
    (["-m", "hydra/sweeper=optuna", "hydra.sweeper.direction=[maximize,minimize]"],
     "Allowed: minimize or maximize (one: each run returns one value, params.objective)"),
    # a true/false key: OmegaConf reads 2, 0, "yes" or 1.0 as a bool
    *[([f"{key}={value}"], f"'{key}': {value}. Allowed: true or false")
      for key, value in (("figures", "2"), ("train.stop_on_divergence", "2"),
                         ("data.download", "0"), ("figures", "yes"), ("data.download", "off"),
                         ("figures", "1.0"))],
    (["section=4", "model.channels_last=1"], "'model.channels_last': 1. Allowed: true or false"),
    # Section 3's: an item of a list; the key at fault, not one it shows up in
    (["section=3", "model.channels=[a]"], "'model.channels': [a]. Allowed: a non-empty list of "
                                          "integers >= 1, e.g. [8,16]"),
    (["section=4", "dataset.classes=[x]"], "'dataset.classes': [x]. Allowed: null (all) or at "
                                           "least two distinct labels in 0..9."),
    # a list's own rule, not `[VALUE]`, which the rule may refuse too (one label)
    (["section=4", "dataset.classes=3"], "'dataset.classes': 3. Allowed: null (all) or at least "
                                         "two distinct labels in 0..9, in brackets: "
                                         "`dataset.classes=[...]`"),
    (["section=2", "model.hidden=5"], "'model.hidden': 5. Allowed: exactly one hidden width"),
    (["section=3", "model.kernel_size=100"],
     "'model.kernel_size': 100. Allowed: an integer in [1, 29]"),
    (["section=3", "model.kernel_size=27"],
     "'model.channels': [8, 16]. Allowed: at most 1 block(s), as many as a 28x28 image "
     "survives with model.kernel_size=27"),
]


@pytest.mark.parametrize("args, words", FORMS, ids=[" ".join(a) for a, _ in FORMS])
def test_a_form_no_run_can_take_is_refused_before_anything_is_written(tmp_path, monkeypatch,
                                                                       args, words):
    cwd = tmp_path / "cwd"  # where an empty run folder would have put the run
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    plain = "-m" not in args and not any(a.startswith("section=") for a in args)
    run = run_here([*args, *FAST] if plain else args, tmp_path / "outputs")
    _refused(run, words)
    assert not list(cwd.iterdir())
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.json"))


# A job of a sweep given `${...}` that does not resolve: Hydra reads the sweep as written and
# leaves the job to resolve it. It was a traceback, a job with no note, a count of `?` jobs and
# no closing line (the value read before the run checked it: Hydra's overrides list, the record's
# seed); now it is refused as the run would be alone, and the sweep goes on.
UNRESOLVED = [
    ("seed", "${oc.env:DLPROJ_NO_SUCH_VARIABLE}", "Environment variable 'DLPROJ_NO_SUCH_VARIABLE'"
                                                  " not found"),
    ("seed", "${nope}", "Interpolation key 'nope' not found"),
    ("optimizer.lr", "${optimizer.nope}", "not found"),
    ("train.epochs", "${oc.decode:abc}", "Allowed: a plain value"),
    ("+params.objective", "${nope}", "Interpolation key 'nope' not found"),
]
JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


@pytest.mark.parametrize("key, value, why, launcher", [
    *[(*case, []) for case in UNRESOLVED], *[(*case, JOBLIB) for case in UNRESOLVED[:2]]])
def test_a_sweep_job_whose_value_does_not_resolve_is_invalid_and_the_sweep_goes_on(
        dlproj_run, key, value, why, launcher):
    run = dlproj_run(["-m", f"{key}={value},{'train_loss' if 'objective' in key else 3}",
                      *(f for f in FAST if not f.startswith(key)), *launcher],
                     process=bool(launcher))  # loky's workers: one sweep's per process
    err = run.proc.stderr
    said = [line for line in err.splitlines() if line.startswith("dlproj:")]
    name = key.lstrip("+")
    assert run.proc.returncode == 1, run.output
    assert len(said) == 1, err
    assert said[0].startswith(f"dlproj: Invalid value for '{name}': {value}: "), said
    assert why in said[0], said
    assert "Traceback" not in err and "Error executing job" not in err, err
    assert "sweep: 1 completed, 1 invalid (job 0) -> " in err, err


def test_a_resume_keeps_its_own_folder_and_refuses_another(tmp_path):
    """`hydra.run.dir` beside `resume=` was dropped without a word (the run went on in its own
    folder); the same folder, however written, is no change."""
    first = run_here([*FAST, f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert first.proc.returncode == 0, first.output
    run = run_here([f"resume={tmp_path / 'r'}", "train.epochs=25",
                    f"hydra.run.dir={tmp_path / 'elsewhere'}"], tmp_path)
    _refused_resume = [ln for ln in run.proc.stderr.splitlines() if ln.startswith("dlproj:")]
    assert run.proc.returncode == 2 and len(_refused_resume) == 1, run.output
    assert "resume continues the run in its own folder" in _refused_resume[0]
    assert not (tmp_path / "elsewhere").exists()
    same = run_here([f"resume={tmp_path / 'r'}", "train.epochs=25",
                     f"hydra.run.dir={tmp_path / 'r'}/"], tmp_path)
    assert same.proc.returncode == 0, same.output


# Folder names Hydra's grammar cannot read as one value unquoted: the shell passes them as typed.
AWKWARD_FOLDERS = ["a,b", "it's", "a(b)", "sp ace", "~"]


@pytest.mark.parametrize("name", AWKWARD_FOLDERS)
def test_resume_takes_a_folder_as_the_shell_passes_it(tmp_path, name):
    """`resume=/path/a,b` or `resume=~/r` ended in Hydra's traceback (a sweep, a token error),
    exit 1: the folder is taken as written (never swept, never interpolated) and the run goes
    on there; one that holds no run is refused in one paragraph."""
    from dlproj.config.overrides import override

    home = tmp_path / "home"
    folder = home / "r" if name == "~" else tmp_path / name
    first = run_here([*FAST, override("hydra.run.dir", folder)], tmp_path)
    assert first.proc.returncode == 0, first.output
    given = "~/r" if name == "~" else str(folder)
    again = run_here([f"resume={given}", "train.epochs=25"], tmp_path, env={"HOME": str(home)})
    assert again.proc.returncode == 0, again.output
    assert "Traceback" not in again.output
    record = json.loads((folder / "results.json").read_text())
    assert record["status"] == "completed" and record["resumed_from_epoch"] == 20
    missing = run_here([f"resume={given}x"], tmp_path, env={"HOME": str(home)})
    assert missing.proc.returncode == 2 and "Traceback" not in missing.output, missing.output
    assert "is not a dlproj run directory" in missing.proc.stderr


def test_a_resume_repeats_a_sweep_jobs_values_however_hydra_wrote_them(tmp_path):
    """A sweep job's overrides are saved as Hydra's sweeper hands them (`figures=False`):
    repeated as typed (`figures=false`) they are no change, and a multirun asked for by
    hydra.mode is refused as -m is, before anything is written."""
    sweep = run_here(["-m", *FAST, "figures=false", "seed=0,1", "~hydra.callbacks.aggregate",
                      f"hydra.sweep.dir={tmp_path / 's'}"], tmp_path)
    assert sweep.proc.returncode == 0, sweep.output
    job = tmp_path / "s" / "0"
    assert "figures=False" in (job / ".hydra" / "overrides.yaml").read_text()
    again = run_here([f"resume={job}", "figures=false", "seed=0", "train.epochs=25"], tmp_path)
    assert again.proc.returncode == 0, again.output
    before = sorted(p for p in tmp_path.rglob("*") if p.is_dir())
    for mode in ("hydra.mode=MULTIRUN", "hydra.mode=multirun", "hydra.mode='MULTIRUN'"):
        refused = run_here([f"resume={job}", mode], tmp_path)
        assert refused.proc.returncode == 2, refused.output
        assert "give it once, without -m" in refused.proc.stderr
    assert sorted(p for p in tmp_path.rglob("*") if p.is_dir()) == before


# A key the chosen choice lacks but another choice of its group declares: those choices are
# named, against the command's own choices (the message once said "no config declares it" and
# offered optimizer.name, or optimizer.beta2 for optimizer=sgd, from the default config).
@pytest.mark.parametrize("args, words", [
    (["optimizer=adam", "optimizer.momentum=0.9"], "Unknown key 'optimizer.momentum': "
     "optimizer=adam does not take it. Allowed: a key `python -m dlproj --cfg job "
     "optimizer=adam` shows, or a choice of optimizer that takes it: optimizer=momentum, "
     "optimizer=rmsprop, optimizer=sgd."),
    (["logger.mlflow.tracking_uri=http://h:5000"], "'logger.mlflow.tracking_uri': logger=csv "
     "does not take it. Allowed: a key `python -m dlproj --cfg job` shows, or a choice of logger "
     "that takes it: logger=all, logger=mlflow."),
    (["experiment=mlp", "model.depth=3"], "'model.depth': model=mlp does not take it. "
     "Allowed: a key `python -m dlproj --cfg job experiment=mlp` shows, or a choice of model "
     "that takes it: model=plain, model=resnet."),
    (["-m", "optimizer=sgd,adam", "optimizer.nesterov=true", *FAST],
     "'optimizer.nesterov': optimizer=adam does not take it. Allowed: a key `python -m dlproj "
     "--cfg job experiment=xor` shows, or a choice of optimizer that takes it: "
     "optimizer=momentum, optimizer=sgd."),
    # nearest among optimizer's own keys, by their names: none (it once offered optimizer.name)
    (["optimizer=sgd", "optimizer.betas=0.9"], "Unknown key 'optimizer.betas': no config "
     "declares it"),
    (["section=2", "optimizer=adam", "optimizer.momentum=0.9"], "optimizer=adam does not take "
     "it. Allowed: a key `python -m dlproj --cfg job section=2 optimizer=adam` shows"),
    # another experiment's param: named as such, not advised `+` (which is refused for it)
    (["section=2", "experiment=train", "params.max_entries=100"],
     "Unknown key 'params.max_entries': experiment=train does not read it. Allowed: the params "
     "it reads (`python -m dlproj --cfg job section=2 experiment=train` shows them); "
     "params.max_entries is read by section=2 experiment=gradcheck."),
    (["experiment=mlp", "params.n_train=100"],
     "params.n_train is read by section=1 experiment=sin."),
    # its own param that its config leaves out: `+` is the way (it was told it does not read it)
    (["section=2", "experiment=gradcheck", "params.dtype=float32"],
     "Unknown key 'params.dtype': no config declares it. Allowed: a key `python -m dlproj --cfg "
     "job` shows (a new key needs `+params.dtype=...`"),
], ids=["choice", "tracker", "model-of-experiment", "sweep", "nowhere", "as-typed",
        "a param of another", "a param of another section", "its own param, without +"])
def test_an_unknown_key_names_the_choices_that_take_it(tmp_path, args, words):
    _refused(run_here(args, tmp_path), words)  # refused while composing: nothing trains


@pytest.mark.parametrize("text", ["SLURM cannot run this sweep: ask for less.",
                                  "SLURM cannot run this sweep: ask for less"],
                         ids=["ends-with-a-period", "without"])
def test_a_hydra_error_is_one_sentence_with_one_full_stop(text):
    from hydra.errors import HydraException

    from dlproj.config.overrides import explain

    assert explain(HydraException(text), []) == "SLURM cannot run this sweep: ask for less."


@pytest.mark.parametrize("args, words", [
    (["--cfg", "job", "section=2", "experiment=xor"],  # printed Section 1's config, exit 0
     "'section': 2, but experiment=xor is Section 1's. Allowed: section=1 with experiment=xor"),
    (["section=2", "experiment=xor", "train.epochs=1"], "'section': 2, but experiment=xor"),
    (["-m", "section=3", "experiment=xor", "train.epochs=1,2"],  # every job: before any runs
     "'section': 3, but experiment=xor is Section 1's"),
    (["-m", "section=4", "experiment=train", "seed=0,1"],
     "'section': 4, but experiment=train is Section 2's. Allowed: section=2 with "
     "experiment=train, or one of Section 4's experiments (compare, transfer)"),
], ids=["cfg-job", "run", "sweep", "sweep-s4"])
def test_a_section_the_experiment_is_not_of_is_refused_before_hydra(tmp_path, args, words):
    run = run_here(args, tmp_path)
    _refused(run, words)
    assert run.proc.stdout == "" and not list(run.outputs.rglob("*.yaml"))  # no config, no sweep


S4 = ["section=4", "experiment=compare"]
MLFLOW = [*FAST, "logger=mlflow"]
# Every string key whose '' (or blanks) names nothing, with a run that reads it. Each is refused
# where its rules live, never read as "not given": logger.mlflow.tracking_uri='' ran, writing
# MLflow's default store (./mlflow.db) into the current directory.
EMPTY = [
    ("experiment", []), ("device", FAST), ("resume", []),
    ("checkpoint", ["section=4", "experiment=transfer"]),
    ("data.root", FAST), ("train.precision", FAST), ("train.early_stopping.monitor", FAST),
    ("train.early_stopping.mode", FAST), ("threads.workers", FAST), ("threads.blas", FAST),
    ("model.name", ["experiment=mlp"]), ("model.activation", ["experiment=mlp"]),
    ("model.init", ["experiment=mlp"]), ("model.weights", S4), ("model.finetune", S4),
    ("optimizer.name", FAST), ("schedule.name", FAST), ("pooling.name", ["section=3"]),
    ("augmentation.name", S4), ("dataset.name", S4), ("+params.objective", FAST),
    ("logger.mlflow.tracking_uri", MLFLOW), ("logger.mlflow.experiment_name", MLFLOW),
    ("logger.mlflow.artifact_location", MLFLOW),
]


@pytest.mark.parametrize("value", ["''", "' '"], ids=["empty", "blank"])
@pytest.mark.parametrize("key, args", EMPTY, ids=[key for key, _ in EMPTY])
def test_an_empty_value_is_a_config_error(dlproj_run, tmp_path, monkeypatch, key, args, value):
    monkeypatch.chdir(tmp_path)  # where MLflow's default store would be written
    _refused(dlproj_run([*args, f"{key}={value}"]), f"Invalid value for '{key.lstrip('+')}'")
    assert not list(tmp_path.rglob("mlflow.db")) and not list(tmp_path.rglob("mlruns"))


def test_an_empty_tracking_uri_in_a_sweep_makes_no_store(dlproj_run, tmp_path, monkeypatch):
    """The sweep's parent run (a callback, before any job checks its config) makes no store
    either: each job refuses the key."""
    monkeypatch.chdir(tmp_path)
    run = dlproj_run(["-m", "seed=0,1", *MLFLOW, "logger.mlflow.tracking_uri=''"])
    assert run.proc.returncode != 0, run.output
    assert run.proc.stderr.count("Invalid value for 'logger.mlflow.tracking_uri'") == 2, run.output
    assert not list(tmp_path.rglob("results.json")) and not list(tmp_path.rglob("mlflow.db"))


# Each experiment, and the groups of registry.GROUPS it never reads (from its code: NumPy
# sections build no pooling outside Section 3's CNN and load no `dataset=`/`augmentation=`;
# gradcheck and receptive_field train nothing, so no optimizer or schedule).
EXPERIMENTS = {
    "mlp": ["experiment=mlp"], "xor": ["experiment=xor"], "sin": ["experiment=sin"],
    "train": ["section=2"], "gradcheck": ["section=2", "experiment=gradcheck"],
    "cnn": ["section=3"], "receptive_field": ["section=3", "experiment=receptive_field"],
    "compare": ["section=4"], "transfer": ["section=4", "experiment=transfer"],
}
NOT_READ = {
    "mlp": ("pooling", "augmentation", "dataset"),
    "xor": ("pooling", "augmentation", "dataset", "data"),
    "sin": ("pooling", "augmentation", "dataset", "data"),
    "train": ("pooling", "augmentation", "dataset"),
    "gradcheck": ("optimizer", "schedule", "pooling", "augmentation", "dataset", "train"),
    "cnn": ("augmentation", "dataset"),
    "receptive_field": ("optimizer", "schedule", "augmentation", "dataset", "train", "data"),
    "compare": ("pooling",), "transfer": ("pooling",),
}
# A choice other than each group's default.
CHOICE = {"optimizer": "sgd", "schedule": "step", "pooling": "avg", "augmentation": "standard",
          "dataset": "pets"}
UNREAD = [(exp, group) for exp, groups in NOT_READ.items() for group in groups if group in CHOICE]


def test_the_unread_groups_are_what_each_experiment_declares():
    from dlproj.experiments import registry

    registered = {e.name: e for e in registry.load_all().values()}
    assert set(registered) == set(EXPERIMENTS) == set(NOT_READ)
    for name, exp in registered.items():
        assert set(registry.GROUPS) - set(exp.reads) == set(NOT_READ[name]), name


@pytest.mark.parametrize("exp, group", UNREAD, ids=[f"{e}-{g}" for e, g in UNREAD])
def test_a_group_the_experiment_does_not_read_is_refused(dlproj_run, exp, group):
    """`section=3 augmentation=standard` ran the default's bit-identical results as a setting of
    its own (hash, label, a row of the report): refused, as `checkpoint=` with sin is."""
    run = dlproj_run([*EXPERIMENTS[exp], f"{group}={CHOICE[group]}"])
    _refused(run, f"Invalid value for '{group}': {CHOICE[group]}, but ")
    assert f"experiment {exp} does not read {group}=" in run.proc.stderr, run.output


@pytest.mark.parametrize("args, key", [
    (["experiment=mlp", "pooling.name=avg"], "pooling.name"),
    (["section=4", "pooling.name=avg"], "pooling.name"),
    (["section=3", "augmentation.name=standard"], "augmentation.name"),
    (["section=2", "+dataset.classes=[1,2]"], "dataset.classes"),
    (["section=2", "experiment=gradcheck", "optimizer.lr=0.1"], "optimizer.lr"),
    (["section=3", "experiment=receptive_field", "schedule.warmup_epochs=1"],
     "schedule.warmup_epochs"),
    (["section=2", "experiment=gradcheck", "train.epochs=3"], "train.epochs"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_key_of_a_group_the_experiment_does_not_read_is_refused(dlproj_run, args, key):
    _refused(dlproj_run(args), f"Invalid value for '{key}'")


def test_a_sweep_over_a_group_the_experiment_does_not_read_refuses_each_job(dlproj_run):
    run = dlproj_run(["-m", "section=3", "augmentation=none,standard", *FAST_S3])
    assert run.proc.returncode != 0, run.output
    assert run.proc.stderr.count("does not read augmentation=") == 2, run.output
    assert not list(run.outputs.rglob("results.json")), run.output


# An experiment that trains nothing reads no train.* key: each, typed on the command line, would
# change nothing yet split the report (`section=2 experiment=gradcheck train.epochs=3`).
TRAINS_NOTHING = [exp for exp, groups in NOT_READ.items() if "train" in groups]
UNREAD_KEYS = ["train.epochs=3", "train.batch_size=8", "+train.early_stopping.monitor=val_loss",
               "train.precision=32", "optimizer.lr=0.1", "schedule=step"]
UNREAD_KEY_CASES = [(exp, key) for exp in TRAINS_NOTHING for key in UNREAD_KEYS]


@pytest.mark.parametrize("exp, key", UNREAD_KEY_CASES,
                         ids=[f"{e}-{k}" for e, k in UNREAD_KEY_CASES])
def test_a_key_an_experiment_that_trains_nothing_ignores_is_refused(compose_cfg, exp, key):
    from dlproj.errors import ConfigError
    from dlproj.runtime.validate import validate

    overrides = [*EXPERIMENTS[exp], key]
    name = key.partition("=")[0].lstrip("+")
    with pytest.raises(ConfigError, match=rf"Invalid value for '{re.escape(name)}'") as err:
        validate(compose_cfg(overrides), overrides)
    assert f"experiment {exp} does not read {name.split('.')[0]}" in str(err.value)


# An experiment that reads no MNIST split (xor, sin: data of their own; receptive_field: one
# image) ran `data.train_limit=256` as a setting of its own with the default's results; where the
# data is and whether it may be fetched (data.root, data.download) are no setting: taken by all.
NO_SPLITS = [exp for exp, groups in NOT_READ.items() if "data" in groups]
DATA_KEYS = ["data.train_limit=256", "data.test_limit=64", "data.val_size=100",
             "data.split_seed=1"]


@pytest.mark.parametrize("exp, key", [(e, k) for e in NO_SPLITS for k in DATA_KEYS])
def test_a_data_key_an_experiment_without_splits_ignores_is_refused(compose_cfg, exp, key):
    from dlproj.errors import ConfigError
    from dlproj.runtime.validate import validate

    overrides = [*EXPERIMENTS[exp], key]
    name = key.partition("=")[0]
    with pytest.raises(ConfigError, match=rf"Invalid value for '{re.escape(name)}'") as err:
        validate(compose_cfg(overrides), overrides)
    assert f"experiment {exp} does not read data.*" in str(err.value)


@pytest.mark.parametrize("exp", list(EXPERIMENTS))
def test_where_the_data_is_is_taken_by_every_experiment(compose_cfg, exp):
    from dlproj import paths
    from dlproj.runtime.validate import validate

    overrides = [*EXPERIMENTS[exp], f"data.root={paths.data_root()}", "data.download=false"]
    assert validate(compose_cfg(overrides), overrides).name == exp


# What still runs: a training experiment's train.* keys; a debug preset's train.* (composed from
# conf/, not typed) with an experiment that trains nothing.
ACCEPTED = [*[(exp, ["train.epochs=3", "train.batch_size=8"]) for exp in EXPERIMENTS
              if exp not in TRAINS_NOTHING],
            *[(exp, [f"debug={d}"]) for exp in TRAINS_NOTHING for d in ("quick", "overfit")]]


@pytest.mark.parametrize("exp, extra", ACCEPTED, ids=[f"{e}-{' '.join(x)}" for e, x in ACCEPTED])
def test_train_keys_an_experiment_reads_or_a_preset_sets_are_accepted(compose_cfg, exp, extra):
    from dlproj.runtime.validate import validate

    overrides = [*EXPERIMENTS[exp], *extra]
    cfg = compose_cfg(overrides)
    assert validate(cfg, overrides).name == exp
    if "debug=overfit" in extra:
        assert cfg.train.epochs == 40  # the preset's train.* arrived, from conf/


# `checkpoint=PATH` makes a training experiment evaluate a saved model: it reads no optimizer,
# schedule or train.* (NumPy's evaluation batches are 1000 images, not train.batch_size), and
# Section 4's no augmentation= (only training batches are drawn with it); each, typed with
# checkpoint=, changed nothing yet split the report (`section=3 checkpoint=... optimizer=sgd
# train.epochs=7`).
EVALUATES = {"mlp": ".npz", "train": ".npz", "cnn": ".npz", "compare": ".pt", "transfer": ".pt"}
IGNORED_WHEN_EVALUATING = ["train.epochs=7", "optimizer=sgd", "optimizer.lr=0.1", "schedule=step",
                           "+train.early_stopping.monitor=val_loss", "train.log_every=1"]
IGNORED_CASES = [
    *[(exp, key) for exp in EVALUATES for key in IGNORED_WHEN_EVALUATING],
    *[(exp, key) for exp in ("mlp", "train", "cnn")
      for key in ("train.batch_size=8", "train.precision=32")],
    *[(exp, "augmentation=standard") for exp in ("compare", "transfer")],
]
# What an evaluation does read: the model and data (not GROUPS), Section 3's pooling (the same
# weights pooled otherwise), Section 4's dataset, train.precision (its forward pass) and
# train.batch_size (dataset=pets batches its evaluation by it); a debug preset's train.* (from
# conf/); train.* with checkpoint=null (it trains).
READ_WHEN_EVALUATING = [
    *[(exp, extra) for exp in EVALUATES
      for extra in (["data.test_limit=100"], ["debug=quick"], ["debug=overfit"])],
    ("cnn", ["pooling=avg"]),
    *[(exp, extra) for exp in ("compare", "transfer") for extra in (
        ["train.batch_size=8"], ["train.precision=bf16-mixed"], ["dataset=mnist"],
        ["dataset.image_size=32"])],
]


def _checkpoint(tmp_path, exp: str) -> str:
    path = tmp_path / f"model{EVALUATES[exp]}"
    path.write_bytes(b"")  # validation asks that it exists; the run would load it
    return f"checkpoint={path}"


@pytest.mark.parametrize("exp, key", IGNORED_CASES, ids=[f"{e}-{k}" for e, k in IGNORED_CASES])
def test_a_key_an_evaluation_of_a_checkpoint_ignores_is_refused(compose_cfg, tmp_path, exp, key):
    from dlproj.errors import ConfigError
    from dlproj.runtime.validate import validate

    overrides = [*EXPERIMENTS[exp], _checkpoint(tmp_path, exp), key]
    name = key.partition("=")[0].lstrip("+")
    with pytest.raises(ConfigError, match=rf"Invalid value for '{re.escape(name)}'") as err:
        validate(compose_cfg(overrides), overrides)
    assert "checkpoint= evaluates only" in str(err.value), err.value
    # Without checkpoint= the experiment trains, and reads it.
    training = [*EXPERIMENTS[exp], key]
    assert validate(compose_cfg(training), training).name == exp


@pytest.mark.parametrize("exp, extra", READ_WHEN_EVALUATING,
                         ids=[f"{e}-{' '.join(x)}" for e, x in READ_WHEN_EVALUATING])
def test_what_an_evaluation_of_a_checkpoint_reads_is_accepted(compose_cfg, tmp_path, exp, extra):
    from dlproj.runtime.validate import validate

    overrides = [*EXPERIMENTS[exp], _checkpoint(tmp_path, exp), *extra]
    assert validate(compose_cfg(overrides), overrides).name == exp


def test_train_keys_with_checkpoint_null_are_accepted(compose_cfg):
    from dlproj.runtime.validate import validate

    overrides = ["section=3", "checkpoint=null", "train.epochs=7", "optimizer=sgd"]
    assert validate(compose_cfg(overrides), overrides).name == "cnn"


def test_an_evaluation_with_a_key_it_ignores_writes_nothing(dlproj_run, tmp_path):
    run = dlproj_run(["section=3", _checkpoint(tmp_path, "cnn"), "optimizer=sgd",
                      "train.epochs=7"])
    _refused(run, "Invalid value for 'optimizer': sgd, but checkpoint= evaluates only")


FAST_S3 = ["data.train_limit=64", "data.test_limit=32", "data.val_size=32", "train.epochs=1"]
READ = [(exp, group) for exp in EXPERIMENTS for group in CHOICE if group not in NOT_READ[exp]]


@pytest.mark.parametrize("exp, group", READ, ids=[f"{e}-{g}" for e, g in READ])
def test_an_experiment_accepts_the_groups_it_reads(compose_cfg, exp, group):
    from dlproj.runtime.validate import validate

    # dataset=mnist: Pets is not on disk here; any choice of a group it reads is accepted.
    overrides = [*EXPERIMENTS[exp], f"{group}={'mnist' if group == 'dataset' else CHOICE[group]}"]
    assert validate(compose_cfg(overrides), overrides).name == exp


def test_a_group_read_by_the_experiment_still_runs(dlproj_run):
    run = dlproj_run(["section=3", "experiment=receptive_field", "pooling=avg", "figures=false"])
    assert run.proc.returncode == 0, run.output
    record = json.loads(next(run.outputs.rglob("results.json")).read_text())
    assert record["status"] == "completed" and record["config"]["pooling"]["name"] == "avg"


@pytest.mark.parametrize("args", [["--cfg", "job"], ["seed=2", "--cfg", "hydra"],
                                  ["--cfg", "job", "--package", "train"], ["-c", "job"]])
def test_hydras_own_flags_and_their_values_are_not_overrides(tmp_path, args):
    run = run_here(args, tmp_path)
    assert run.proc.returncode == 0 and "dlproj:" not in run.proc.stderr, run.output
    assert ("hydra:" if "hydra" in args else "epochs") in run.proc.stdout


def test_hydras_own_usage_errors_are_one_paragraph(tmp_path):
    _refused(run_here(["-m", "seed=1,2", "--cfg", "hydra"], tmp_path),
             "Only one of --run, --multirun, --cfg")


def test_help_is_read_from_conf_without_hydra(tmp_path):
    from dlproj.list import help_text

    text = help_text()
    assert "schema/" not in text and "study" not in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    assert lines["optimizer"].split()[1:] == ["adam,", "adamw,", "momentum,", "rmsprop,", "sgd"]
    assert "overfit" in lines and "quick" in lines  # each preset with what it does
    assert "python -m dlproj.list" in text and "--cfg job" in text
    run = run_here(["--help"], tmp_path)
    assert run.proc.returncode == 0 and run.proc.stdout.strip() == text
    # The process answers before Hydra (or anything heavy) is imported.
    probe = ("import runpy, sys; sys.argv = ['dlproj', '--help']; "
             "runpy.run_module('dlproj', run_name='__main__'); "
             "print(sorted(m for m in ('hydra', 'numpy', 'matplotlib', 'omegaconf', 'yaml') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


@pytest.mark.parametrize("args, drawn", [
    ([], True), (["debug=quick"], False), (["debug=overfit"], False),
    (["debug=quick", "figures=true"], True), (["figures=false"], False)])
def test_figures_only_when_wanted(tmp_path, args, drawn):
    run = run_here([*FAST, *args], tmp_path)
    assert run.proc.returncode == 0, run.output
    assert bool(list(run.run_dir.glob("*.png"))) is drawn
    assert (run.run_dir / "model.npz").is_file()  # the rest of the run is written either way


def test_figures_are_not_a_setting(tmp_path):
    a = run_here(FAST, tmp_path / "a").results()
    b = run_here([*FAST, "figures=false"], tmp_path / "b").results()
    assert a["setting"] == b["setting"] and a["metrics"] == b["metrics"]


# Where the signal comes once training has ended: after the checkpoint (before any figure), or
# while the last figure is drawn (no stop check follows it inside the experiment).
AFTER_TRAINING = {
    "before its figures": ("s.save_checkpoint", "before all its figures and files were written",
                           False),
    "during its last figure": ("dlproj.plots.save.save_figure",
                               "with its figures and files written", True),
}


@pytest.mark.parametrize("when", list(AFTER_TRAINING))
def test_ctrl_c_after_training_leaves_the_run_resumable(tmp_path, when):
    """A signal once training has ended stops the run, whatever it was writing; it is recorded
    interrupted at its last epoch, and the printed resume finishes it."""
    target, said, drawn = AFTER_TRAINING[when]
    owner, name = target.rsplit(".", 1)
    code = ("import os, signal, sys; import dlproj.experiments.section1 as s; "
            f"import dlproj.plots.save; real = {target}; "
            f"{owner}.{name} = lambda *a: (real(*a), os.kill(os.getpid(), signal.SIGINT)); "
            "from dlproj.runtime.app import main; sys.argv = ['dlproj', *sys.argv[1:]]; main()")
    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    env.pop("HYDRA_FULL_ERROR", None)
    started = time.time()
    proc = subprocess.run([sys.executable, "-c", code, *FAST], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    (results,) = tmp_path.rglob("results.json")
    run_dir, record = results.parent, json.loads(results.read_text())
    assert record["status"] == "interrupted" and record["last_epoch"] == 20
    assert f"stopped after training (epoch 20 of 20), {said}" in proc.stderr
    assert (run_dir / "decision_boundary.png").is_file() == drawn
    assert time.time() - started < 120
    resumed = run_here([f"resume={run_dir}"], tmp_path)
    assert resumed.proc.returncode == 0, resumed.output
    done = json.loads(results.read_text())
    assert done["status"] == "completed" and done["resumed_from_epoch"] == 20
    assert (run_dir / "decision_boundary.png").is_file()
    # Nothing was trained again: the resumed run ends with the interrupted run's last epoch.
    assert done["metrics"]["train_loss"] == record["metrics"]["train_loss"]


@pytest.mark.parametrize("args", [
    ["-m", "dlproj", "--help"],
    # Hydra's own flags: what they show, Hydra logs (a "Logging error" per line)
    ["-m", "dlproj", "--info"], ["-m", "dlproj", "--hydra-help"],
    ["-m", "dlproj", "--cfg", "job"], ["-m", "dlproj", "--info", "searchpath"],
    ["-m", "dlproj", "experiment=xor", "train.epochs=300", "figures=false"],  # logs each epoch
    ["-c", "import sys; from dlproj.errors import one_paragraph; "
           "sys.exit(one_paragraph('p', lambda: [print(i) for i in range(10**5)] and 0, ''))"],
])
def test_a_reader_that_goes_away_ends_the_output_not_in_tracebacks(tmp_path, args):
    """`python -m dlproj ... | head`: once a BrokenPipeError (or a "--- Logging error ---" with
    its traceback for every line logged after, and a run still going on)."""
    env = {**os.environ, "DLPROJ_OUTPUTS": str(tmp_path), "DLPROJ_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the interpreter has started: its first write finds no reader
    err = proc.stderr.read()
    assert proc.wait(timeout=120) in (0, 141), err
    assert "Traceback" not in err and "Logging error" not in err and "Broken pipe" not in err, err
    records = [json.loads(r.read_text()) for r in tmp_path.glob("runs/*/results.json")]
    assert [r["status"] for r in records] == (["completed"] if "experiment=xor" in args else [])



ENTRY_POINTS = ["dlproj", "dlproj.report", "dlproj.list", "dlproj.data", "dlproj.bench",
                "dlproj.reproduce.results_doc"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_stops_on_ctrl_c_in_one_line(module, monkeypatch, capsys):
    """A Ctrl-C before a command has taken the signal itself (Hydra's import alone takes 0.2 s;
    a report's reading of the runs) ends it with one line and exit 130, not a traceback: here
    raised where each starts its work (its command line read; `dlproj`: the app imported)."""
    import argparse
    import runpy

    import dlproj.runtime.app

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", ctrl_c)
    monkeypatch.setattr(dlproj.runtime.app, "main", ctrl_c)
    monkeypatch.setattr(sys, "argv", [module])
    monkeypatch.setattr("dlproj.config.compose.config_loader", ctrl_c)  # the listing's Hydra
    with pytest.raises(SystemExit) as stop:
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    err = capsys.readouterr().err
    assert stop.value.code == 130 and err.strip().splitlines()[-1].endswith("stopped (Ctrl-C)")
    assert "Traceback" not in err, err


def test_a_glob_of_a_group_sweeps_the_choices_it_matches(tmp_path):
    """Hydra's `GROUP=glob(...)` sweeps the group's choices that match (the check before Hydra
    expanded it without the group's choices: a traceback)."""
    import json

    run = run_here(["-m", "experiment=sin", "model=glob([mlp_s*,mlp_m*])", "train.epochs=1",
                    "figures=false", "~hydra.callbacks.aggregate"], tmp_path)
    assert run.proc.returncode == 0, run.output
    models = sorted(json.loads(p.read_text())["config"]["model"]["name"]
                    for p in tmp_path.rglob("results.json"))
    assert models == ["mlp_medium", "mlp_small"], run.output


@pytest.mark.parametrize("flag", ["-m", "--multirun"])
@pytest.mark.parametrize("where", [0, 1, 3])
def test_multirun_anywhere_on_the_command_line(tmp_path, flag, where):
    """`python -m dlproj experiment=xor -m seed=0,1`: the flag between overrides, which
    argparse (Hydra's command line) refused ("unrecognized arguments: seed=0,1", exit 2)."""
    import json

    args = ["experiment=xor", "seed=0,1", "train.epochs=2", "figures=false",
            "~hydra.callbacks.aggregate"]
    run = run_here([*args[:where], flag, *args[where:]], tmp_path)
    assert run.proc.returncode == 0, run.output
    seeds = sorted(json.loads(p.read_text())["seed"] for p in tmp_path.rglob("results.json"))
    assert seeds == [0, 1], run.output
