"""The study as configuration: conf/study/*.yaml load, expand into valid jobs, match the docs;
its `conditions:` section parsed (dlproj.config.study) and evaluated on this machine
(dlproj.reproduce.conditions): Section 4 offline on MNIST, with one notice."""

from __future__ import annotations

import re

import pytest

from dlproj import paths
from dlproj.config import study as studies
from dlproj.errors import ConfigError
from dlproj.reproduce.conditions import Situation, assess
from dlproj.reproduce.plan import plan

DOCS = paths.PROJECT_ROOT / "docs" / "report.md"  # where docs_table's table is pasted


def _load(name: str, online: bool = False):
    """The study as it is where its first case holds (`online`), else where its last does."""
    cases = studies.load(name).conditions.cases
    case = cases[0] if online else cases[-1]
    return studies.load(name, when=set(case.enables), substitutions=case.substitutions)


def _jobs(study) -> dict[str, int]:
    return {s.id: len(s.jobs()) for s in study.steps}


def test_course_and_quick_studies_expand_to_the_planned_jobs():
    course, quick = _jobs(_load("course")), _jobs(_load("quick"))
    assert sum(course.values()) == 90 and sum(quick.values()) == 63
    assert (course["activations"], quick["activations"]) == (9, 6)
    assert (course["transfer_scratch"], course["transfer_scratch_resnet18"]) == (3, 3)
    # 3 seeds (quick: 2) wherever the study compares settings.
    assert (course["sin"], course["optimizers"], course["pooling"]) == (9, 27, 6)
    assert (quick["sin"], quick["optimizers"], quick["pooling"]) == (6, 18, 4)
    assert course["mlp"] == quick["mlp"] == 1
    # The dtype claim's arms: float64 and float32 checks, 3 seeds each (quick: 2).
    assert (course["gradcheck"], course["gradcheck_float32"]) == (3, 3)
    assert (quick["gradcheck"], quick["gradcheck_float32"]) == (2, 2)
    online = _jobs(_load("course", online=True))
    assert "pretrain" not in online and online["transfer_imagenet"] == 6


def test_quick_adds_its_limits_over_course_key_by_key():
    course, quick = _load("course"), _load("quick")
    assert quick.step("depth").overrides["model.depth"] == "1,4"
    assert course.step("depth").overrides["model.depth"] == "3,30"
    assert quick.step("depth").overrides["model.width"] == "8"  # kept from course
    assert quick.step("sin").seeds == 2 and course.step("sin").seeds == 3


@pytest.mark.parametrize("name", ["course", "quick"])
def test_every_job_of_the_study_composes_and_validates(tmp_path, name):
    sweep = tmp_path / "multirun" / "s"
    planned = plan(_load(name), tmp_path, sweep_dir=sweep)
    jobs = planned.jobs
    assert [j.reason for j in jobs if j.state == "invalid"] == []
    # The offline transfer reads the pretraining run of this very sweep: a phase later.
    (pretrain,) = [j for j in jobs if j.step.id == "pretrain"]
    transfer = [j for j in jobs if j.step.id == "transfer"]
    assert pretrain.phase == 0 and {j.phase for j in transfer} == {1}
    assert all(f"model.weights={sweep / str(pretrain.num)}/model.pt" in j.overrides
               for j in transfer)
    assert max(j.num for j in planned.todo if j.phase == 0) < min(j.num for j in transfer)
    # The `mlp` step's run is the activation study's ReLU seed 0: planned once.
    twins = [(j.step.id, j.seed) for j in jobs if j.state == "twin"]
    assert twins == ([("activations", 0)] if name == "course" else [])
    assert all(j.state == "run" for j in jobs if j.state != "twin")
    # Seeds of one combination share a setting; combinations do not.
    settings = {(j.step.id, tuple(o for o in j.overrides if not o.startswith("seed="))):
                j.setting for j in jobs}
    shared = 1 if name == "course" else 0  # mlp = activations' relu (quick: other budgets)
    assert len(settings) - len(set(settings.values())) == shared


def test_docs_table_is_generated_from_the_study_files():
    table = studies.docs_table(studies.load("course"), studies.load("quick"))
    docs = DOCS.read_text()
    assert table in docs, ("docs/report.md is out of date with conf/study/: paste the output of "
                           "`python -m dlproj.reproduce --docs-table`")


def test_the_docs_depth_sweep_is_the_studys():
    depth = studies.load("course").step("depth").overrides["model.depth"]
    assert f"model.depth={depth}" in DOCS.read_text()


def test_unknown_study_names_the_available_ones():
    with pytest.raises(ConfigError, match="Allowed: course, quick"):
        studies.load("nope")


CASES = "conditions:\n  resources: {r: {dirs: [x]}}\n  cases:\n"
LAST = "    - {needs: [], enables: [plain]}\n"


@pytest.mark.parametrize("body, key", [
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    seeds: 0\n", "seeds"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    when: sometimes\n",
     "`when: sometimes`. Allowed: .* none"),
    (CASES + LAST + "steps:\n  a:\n    overrides: {experiment: xor}\n    when: fancy\n",
     "`when: fancy`. Allowed: .*: plain"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    after: b\n", "after"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    sedes: 2\n",
     r"`steps.a.sedes`: unknown field. Allowed: title, section, overrides, seeds"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    seeds: two\n", r"`steps.a.seeds`"),
    (CASES + "    - {needs: [q]}\n" + LAST, r"case 1 needs \['q'\], which are no `resources`"),
    (CASES + "    - {needs: [r]}\n", "must end with one that needs nothing"),
    (CASES.replace("resources", "resorces"),
     r"`conditions.resorces`: unknown field. Allowed: downloads, resources, cases"),
    (CASES.replace("dirs", "folders") + LAST,
     r"`conditions.resources.r.folders`: unknown field. Allowed: files, dirs, host"),
    (CASES + "    - {needs: [r], substitutions: {a: 1}}\n" + LAST, "same `substitutions`"),
    (CASES + LAST + "  downloads: maybe\n", r"`conditions.downloads`: Value 'maybe'"),
    ("steps:\n  a:\n    overrides: {experiment: xor, seed: 7}\n    seeds: 2\n",
     "Step 'a': `seed: 7` in its overrides and 2 seeds"),
])
def test_a_bad_study_file_is_a_clear_error(tmp_path, monkeypatch, body, key):
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text(body)
    with pytest.raises(ConfigError, match=key):
        studies.load("bad")


@pytest.mark.parametrize("value, shown", [
    ("{n_train: 8}", "params={'n_train': 8}"),  # a YAML dict: Python's repr, not Hydra's
    ('"[5,6"', "params=[5,6"),  # a list not closed
    ('"a,,b"', "params=a,,b"),
    ('"{run:first"', "params={run:first"),
])
def test_an_override_hydra_cannot_read_is_a_clear_error(tmp_path, monkeypatch, value, shown):
    """A step's value that is not one Hydra's command line reads: one paragraph naming the step
    and the override (a traceback from Hydra's parser before)."""
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "s.yaml").write_text(f"steps:\n  a:\n    overrides: {{experiment: xor, "
                                     f"params: {value}}}\n    seeds: 2\n")
    with pytest.raises(ConfigError, match=re.escape(f"Step 'a': the override `{shown}` is not")):
        studies.load("s").steps[0].jobs()


def test_more_seeds_for_a_step_that_names_its_seed_is_a_clear_error(tmp_path, monkeypatch):
    """`--seeds N` on a step whose overrides give `seed:` (a ValueError in Hydra's sweep split
    before): the same paragraph as in the file."""
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "s.yaml").write_text("steps:\n  a:\n    overrides: {experiment: xor, seed: 7}\n")
    study = studies.load("s").with_seeds({"a"}, 3)
    with pytest.raises(ConfigError, match="Step 'a': `seed: 7` in its overrides and 3 seeds"):
        study.steps[0].jobs()


@pytest.mark.parametrize("yaml_value, written", [
    ("figures: false", "figures=false"), ("+params.flag: true", "+params.flag=true"),
    ("optimizer.lr: '1e-3'", "optimizer.lr=1e-3"), ("params.tolerance: null",
                                                  "params.tolerance=null"),
    ("model.channels: '[4,8]'", "model.channels=[4,8]"),
    ("checkpoint: '{run:pretrain}/model.npz'", "checkpoint={run:pretrain}/model.npz"),
])
def test_a_value_a_step_does_not_sweep_reaches_every_job_as_written(tmp_path, monkeypatch,
                                                                   yaml_value, written):
    """Hydra's sweep expansion writes `false` back as False and 1e-3 as 0.001; a job keeps the
    study's own text, so that its label (what it adds to the step's command) is the sweep's."""
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "s.yaml").write_text(
        f"steps:\n  a:\n    section: 3\n    seeds: 2\n    overrides:\n"
        f"      pooling: max,avg\n      {yaml_value}\n")
    (step,) = studies.load("s").steps
    jobs = step.jobs()
    assert len(jobs) == 4 and all(written in job for job in jobs)
    assert [[o for o in job if o not in step.args()] for job in jobs] == [
        ["pooling=max", "seed=0"], ["pooling=max", "seed=1"], ["pooling=avg", "seed=0"],
        ["pooling=avg", "seed=1"]]


def _section4_args(here: Situation) -> list[str]:
    study = studies.load("course", when=here.when, substitutions=here.substitutions)
    return [a for s in study.steps if s.section == 4 for a in s.args()]


def test_section4_falls_back_to_mnist_offline_with_one_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    course = studies.load("course")
    here = assess(course.conditions, course.steps, probe=False)
    assert here.notice == (
        f"Section 4: Oxford-IIIT Pet is neither in {tmp_path / 'data' / 'oxford-iiit-pet'} nor "
        "downloadable here, so Section 4 runs on its offline dataset, MNIST (transfer: digits "
        "0-4 -> 5-9).")
    assert (here.when, here.substitutions) == ({"no_imagenet"}, {"dataset4": "mnist"})
    args = _section4_args(here)
    assert "dataset=pets" not in args and "dataset=mnist" in args
    assert "model.weights={run:pretrain}/model.pt" in args

    # Pets on disk, no ImageNet weights: Pets where it is the dataset, transfer offline.
    (tmp_path / "data" / "oxford-iiit-pet" / "images").mkdir(parents=True)
    (tmp_path / "data" / "oxford-iiit-pet" / "annotations").mkdir()
    here = assess(course.conditions, course.steps, probe=False)
    assert here.notice == (
        f"Section 4: the ImageNet ResNet18 weights are neither in "
        f"{tmp_path / 'torch' / 'hub' / 'checkpoints'} nor downloadable here, so transfer runs "
        "offline: MNIST digits 0-4 -> 5-9.")
    assert (here.when, here.substitutions) == ({"no_imagenet"}, {"dataset4": "pets"})
    args = _section4_args(here)
    assert "dataset={dataset4}" not in args and "dataset=pets" in args
    assert "model.weights={run:pretrain}/model.pt" in args and "model.weights=imagenet" not in args

    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    here = assess(course.conditions, course.steps, probe=False)
    assert (here.when, here.notice) == ({"imagenet"}, None)
    args = _section4_args(here)
    assert "dataset=pets" in args and "model.weights=imagenet" in args
    assert "model.weights={run:pretrain}/model.pt" not in args


def test_hosts_are_probed_only_where_the_study_allows_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    asked: list[str] = []

    def reach(host: str, answers: bool = True) -> bool:
        asked.append(host)
        return answers

    course, quick = studies.load("course"), studies.load("quick")
    assert (course.conditions.downloads, quick.conditions.downloads) == (True, False)
    here = assess(course.conditions, course.steps, reach=reach)
    assert asked == ["thor.robots.ox.ac.uk", "download.pytorch.org"]
    assert (here.when, here.substitutions, here.notice) == ({"imagenet"}, {"dataset4": "pets"},
                                                            None)
    asked.clear()  # unreachable Pets: each host asked once at most, the weights not at all
    here = assess(course.conditions, course.steps, reach=lambda h: reach(h, answers=False))
    assert asked == ["thor.robots.ox.ac.uk"] and here.substitutions == {"dataset4": "mnist"}
    asked.clear()  # quick (`downloads: false`), or a caller that forbids probing: no probe
    assert assess(quick.conditions, quick.steps, reach=reach).substitutions == {"dataset4":
                                                                                 "mnist"}
    assert assess(course.conditions, course.steps, probe=False, reach=reach).notice
    assert asked == []
    # Steps that use no condition (Sections 1-3): nothing is looked at, nothing is said.
    early = [s for s in course.steps if s.section < 4]
    assert assess(course.conditions, early, reach=reach) == Situation()
    assert asked == []


GENERIC = """\
title: conditions of a study of its own
conditions:
  downloads: true
  resources:
    corpus: {dirs: ["{data}/corpus"]}
    vocab: {files: ["{data}/corpus/vocab.txt"], host: vocab.example.org}
  cases:
    - {needs: [corpus, vocab], enables: [full], substitutions: {epochs: 10}}
    - needs: []
      enables: [small]
      substitutions: {epochs: 2}
      notice: "no corpus in {data}/corpus: the small runs only"
steps:
  a: {section: 1, overrides: {experiment: xor, train.epochs: "{epochs}"}}
  b: {section: 1, when: full, overrides: {experiment: xor}}
  c: {section: 1, when: small, overrides: {experiment: sin}}
"""


def test_the_conditions_are_the_study_files_own(tmp_path, monkeypatch):
    """Nothing of Section 4 is built in: another study names its own resources and cases."""
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    (tmp_path / "generic.yaml").write_text(GENERIC)
    written = studies.load("generic")
    assert written.conditions.names == {"full", "small"}
    assert written.conditions.resources["vocab"].host == "vocab.example.org"

    def load(here: Situation) -> dict[str, list[str]]:
        study = studies.load("generic", when=here.when, substitutions=here.substitutions)
        return {s.id: s.args() for s in study.steps}

    here = assess(written.conditions, written.steps, probe=False)
    assert here.notice == f"no corpus in {tmp_path / 'data'}/corpus: the small runs only"
    assert load(here) == {"a": ["experiment=xor", "train.epochs=2"], "c": ["experiment=sin"]}
    (tmp_path / "data" / "corpus").mkdir(parents=True)
    assert assess(written.conditions, written.steps, reach=lambda host: True).when == {"full"}
    (tmp_path / "data" / "corpus" / "vocab.txt").write_text("")
    here = assess(written.conditions, written.steps, probe=False)
    assert here.notice is None
    assert load(here) == {"a": ["experiment=xor", "train.epochs=10"], "b": ["experiment=xor"]}


# -- the study's facts for the report: the course report's numbers and the figures -------------

def test_quick_inherits_the_course_numbers_and_the_figures():
    numbers, figures = studies.course_numbers("course"), studies.figures("course")
    assert len(numbers) == 16 and len(figures) == 8
    assert studies.course_numbers("quick") == numbers and studies.figures("quick") == figures
    sin_big = next(n for n in numbers if n.id == "sin_big")
    assert (sin_big.value, sin_big.table1, sin_big.protocol["train.epochs"]) == (
        0.0101, True, studies.DEFAULT)


@pytest.mark.parametrize("config, described", [
    ({"model.name": "resnet18", "model.weights": "imagenet", "model.finetune": "layer4"}, True),
    ({"model.name": "resnet18", "model.weights": ".../model.pt", "model.finetune": "layer4"},
     True),
    ({"model.name": "resnet18", "model.weights": "none", "model.finetune": "layer4"}, False),
    ({"model.name": "resnet18", "model.weights": None, "model.finetune": "layer4"}, False),
    ({"model.weights": "imagenet", "model.finetune": "layer4", "params.role": "pretrain"}, False),
    ({"model.weights": "imagenet", "model.finetune": "frozen"}, False),
])
def test_which_runs_a_course_number_describes_is_data(config, described):
    layer4 = next(n for n in studies.course_numbers() if n.id == "transfer_layer4")
    assert layer4.applies(4, "transfer", config) is described
    assert not layer4.applies(4, "compare", config)
    assert studies.holds({"model.name": ["plain", "resnet"]}, {"model.name": "resnet"})
    assert not studies.holds({"model.name": ["plain", "resnet"]}, {"model.name": "resnet18"})


def test_a_protocol_names_what_differs():
    max_pooling = next(n for n in studies.course_numbers() if n.id == "max_pooling")
    config = {"train.epochs": 1, "data.train_limit": 500, "data.test_limit": None}
    assert max_pooling.mismatch(config) == ["1 of 5 epochs", "500 train images"]
    assert max_pooling.mismatch({**config, "train.epochs": 5, "data.train_limit": None}) == []
    # A transfer run of 20 images a class: its train limit bounds what it read, it is no count
    # ("512 of 10000 train images" of a run of 100); per_class caps the training images alone.
    layer4 = next(n for n in studies.course_numbers() if n.id == "transfer_layer4")
    few = {"dataset.name": "mnist", "dataset.per_class": 20, "train.epochs": 3,
           "data.train_limit": 512, "data.test_limit": 256}
    assert layer4.mismatch(few)[1:] == ["at most 512 of 10000 train images",
                                        "256 test images"]


@pytest.mark.parametrize("body, key", [
    ("figures:\n  f: {section: 1, experiment: mlp, vary: [model.activation]}\n", "draw"),
    ("figures:\n  f: {section: 1, experiment: mlp, vary: [a], draw: x, colour: red}\n",
     "colour"),
    ("course:\n  numbers:\n    n: {section: 1, experiment: sin, label: x, metric: m, value: 1,"
     " shown: '1', protocol: nope}\n", "protocol: nope"),
    ("course:\n  numbers:\n    n: {section: 1, experiment: sin, label: x, metric: m, value: 1,"
     " shown: '1', protocol: {train.epochs: 3}}\n", r"protocol: \{'train.epochs': 3\}` names no"),
    ("course:\n  numbers:\n    n: {section: 1, experiment: sin, label: x, metric: m}\n",
     "value"),
])
def test_a_bad_course_number_or_figure_is_a_clear_error(tmp_path, monkeypatch, body, key):
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text("steps: {}\n" + body)
    with pytest.raises(ConfigError, match=key):
        studies.course_numbers("bad")
        studies.figures("bad")


# -- the course report's claims ----------------------------------------------------------------

def test_quick_inherits_the_claims_and_each_names_steps_of_the_study():
    claims = studies.claims("course")
    assert [c.id for c in claims] == [
        "sin_size", "dtype_gradcheck", "adaptive_optimizers", "max_pooling", "skip_gradient_flow",
        "residual_accuracy", "transfer_order", "transfer_vs_scratch", "augmentation_slows"]
    assert studies.claims("quick") == claims
    steps = {s.id for s in studies.load("course").steps}
    assert {s for claim in claims for s in claim.steps} <= steps
    sections = " ".join(c.report_section for c in claims)
    assert all(f in sections for f in ("6.1", "4.4.1", "4.4.3", "4.4.4"))
    adaptive = next(c for c in claims if c.id == "adaptive_optimizers")
    assert (adaptive.measure(), list(adaptive.arms), adaptive.pairs) == (
        "val_acc at epoch 1", ["SGD", "RMSprop", "Adam"], "first")


def test_more_seeds_for_the_claim_steps_keep_the_seeds_there_are():
    study = _load("quick").with_seeds({"pooling", "gradcheck"}, 3)
    pooling, gradcheck = study.step("pooling"), study.step("gradcheck")
    assert (pooling.seeds, gradcheck.seeds, study.step("sin").seeds) == (3, 3, 2)
    assert len(pooling.jobs()) == 6 and pooling.jobs()[0][-1] == "seed=0"
    assert _load("quick").with_seeds({"pooling"}, 1).step("pooling").seeds == 2  # never fewer


CLAIM = ("claims:\n  c:\n    quote: q\n    report_section: '6.1'\n    section: 3\n"
         "    experiment: cnn\n    metric: test_acc\n    direction: higher\n")
ARMS = "    arms: {a: {pooling.name: avg}, b: {pooling.name: max}}\n"


@pytest.mark.parametrize("body, key", [
    (CLAIM + ARMS + "    colour: red\n",
     r"`claims.c.colour`: unknown field. Allowed: quote, report_section, section"),
    (CLAIM.replace("higher", "better") + ARMS, r"`direction: better`. Allowed: higher or lower"),
    (CLAIM + ARMS + "    effect: odds\n", r"`effect: odds`. Allowed: difference or ratio"),
    (CLAIM + ARMS + "    pairs: all\n", r"`pairs: all`. Allowed: chain or first"),
    (CLAIM + "    arms: {a: {pooling.name: avg}}\n", r"1 arm\(s\). Allowed: two or more"),
    (CLAIM + ARMS + "    epoch: 1\n    reach: 0.9\n", "both `epoch` and `reach`"),
    (CLAIM.replace("test_acc", "rf") + ARMS + "    reach: 3\n",
     "does not say whether higher or lower"),
    (CLAIM + ARMS + "    steps: [pooling]\n", r"`steps: \['pooling'\]` names no step"),
    (CLAIM, r"`claims.c.arms`"),
])
def test_a_bad_claim_is_a_clear_error(tmp_path, monkeypatch, body, key):
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text("steps: {}\n" + body)
    with pytest.raises(ConfigError, match=key):
        studies.claims("bad")


def test_a_study_file_is_parsed_once_per_content(tmp_path, monkeypatch):
    """read() keeps what it parsed and checked by the bytes of the study files: each caller
    gets a copy of its own (course_numbers and claims fill in ids), a file edited, its base's
    too, is read again, also where its size and mtime stay the same, and the same files in
    another folder are that folder's."""
    import os

    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    base, study = tmp_path / "base.yaml", tmp_path / "s.yaml"
    base.write_text("title: one\nsteps:\n  a:\n    section: 1\n")
    study.write_text("base: base\nsteps:\n  a:\n    seeds: 2\n")
    first = studies.read("s")
    assert (first.title, first.steps["a"].seeds) == ("one", 2)
    first.title, first.steps["a"].seeds = "changed by a caller", 7
    again = studies.read("s")
    assert (again.title, again.steps["a"].seeds) == ("one", 2) and again is not first
    for path, text in ((base, "title: two\nsteps:\n  a:\n    section: 1\n"),
                       (study, "base: base\nsteps:\n  a:\n    seeds: 3\n")):
        before = path.stat()
        path.write_text(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert path.stat().st_size == before.st_size
    assert (studies.read("s").title, studies.read("s").steps["a"].seeds) == ("two", 3)
    assert studies.files("s") == [study, base]
    # The same files in another folder read the same, their paths that folder's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for path in (base, study):
        (elsewhere / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(studies, "STUDY_DIR", elsewhere)
    assert studies.read("s") == studies.read("s") and studies.read("s").title == "two"
    assert studies.files("s") == [elsewhere / "s.yaml", elsewhere / "base.yaml"]
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    study.write_text("base: base\nsteps:\n  a:\n    seedz: 3\n")  # an error, every time
    for _ in range(2):
        with pytest.raises(ConfigError, match="unknown field"):
            studies.read("s")


@pytest.mark.parametrize("name", studies.available())
def test_a_step_title_states_the_labels_its_jobs_train_on(name):
    """A title that says how many labels each class has says what the step's overrides give
    (the quick study said `100 labels each` over jobs of dataset.per_class=20)."""
    said = [(s, re.search(r"(\d+) labels each", s.title or "")) for s in _load(name).steps]
    for step, match in said:
        if match is not None:
            assert int(match.group(1)) == int(step.overrides["dataset.per_class"]), step.id
    assert any(match for _, match in said) or name != "course"
