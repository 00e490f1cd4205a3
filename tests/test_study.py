"""The study as configuration: conf/study/*.yaml load, expand into valid jobs, match the docs."""

from __future__ import annotations

import pytest

from dlproj.config import study as studies
from dlproj.errors import ConfigError
from dlproj.reproduce import Section4Data, plan

OFFLINE = Section4Data(False, False, "offline")
ONLINE = Section4Data(True, True, None)


def _load(name: str, s4: Section4Data = OFFLINE):
    return studies.load(name, when=s4.conditions, substitutions=s4.substitutions)


def _jobs(study) -> dict[str, int]:
    return {s.id: len(s.jobs()) for s in study.steps}


def test_course_and_quick_studies_expand_to_the_planned_jobs():
    course, quick = _jobs(_load("course")), _jobs(_load("quick"))
    assert sum(course.values()) == 85 and sum(quick.values()) == 60
    assert (course["activations"], quick["activations"]) == (9, 6)
    assert (course["transfer_scratch"], course["transfer_scratch_resnet18"]) == (3, 3)
    # 3 seeds (quick: 2) wherever the study compares settings.
    assert (course["sin"], course["optimizers"], course["pooling"]) == (9, 27, 6)
    assert (quick["sin"], quick["optimizers"], quick["pooling"]) == (6, 18, 4)
    assert course["mlp"] == quick["mlp"] == 1
    online = _jobs(_load("course", ONLINE))
    assert "pretrain" not in online and online["transfer_imagenet"] == 6


def test_quick_adds_its_limits_over_course_key_by_key():
    course, quick = _load("course"), _load("quick")
    assert quick.step("depth").overrides["model.depth"] == "1,4"
    assert course.step("depth").overrides["model.depth"] == "3,30"
    assert quick.step("depth").overrides["model.width"] == "8"  # kept from course
    assert quick.step("sin").seeds == 2 and course.step("sin").seeds == 3


@pytest.mark.parametrize("name", ["course", "quick"])
def test_every_job_of_the_study_composes_and_validates(tmp_path, name):
    jobs = plan(_load(name), tmp_path)
    assert [j.reason for j in jobs if j.state == "invalid"] == []
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
    docs = studies.docs_path().read_text()
    assert table in docs, ("docs/report.md is out of date with conf/study/: paste the output of "
                           "`python -m dlproj.reproduce --docs-table`")


def test_the_docs_depth_sweep_is_the_studys():
    depth = studies.load("course").step("depth").overrides["model.depth"]
    assert f"model.depth={depth}" in studies.docs_path().read_text()


def test_unknown_study_names_the_available_ones():
    with pytest.raises(ConfigError, match="Allowed: course, quick"):
        studies.load("nope")


@pytest.mark.parametrize("body, key", [
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    seeds: 0\n", "seeds"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    when: sometimes\n", "when"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    after: b\n", "after"),
    ("steps:\n  a:\n    overrides: {experiment: xor}\n    sedes: 2\n", "unknown field"),
])
def test_a_bad_study_file_is_a_clear_error(tmp_path, monkeypatch, body, key):
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text(body)
    with pytest.raises(ConfigError, match=key):
        studies.load("bad")


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


@pytest.mark.parametrize("body, key", [
    ("figures:\n  f: {section: 1, experiment: mlp, vary: [model.activation]}\n", "draw"),
    ("figures:\n  f: {section: 1, experiment: mlp, vary: [a], draw: x, colour: red}\n",
     "colour"),
    ("course:\n  numbers:\n    n: {section: 1, experiment: sin, label: x, metric: m, value: 1,"
     " shown: '1', protocol: nope}\n", "protocol: nope"),
    ("course:\n  numbers:\n    n: {section: 1, experiment: sin, label: x, metric: m}\n",
     "value"),
])
def test_a_bad_course_number_or_figure_is_a_clear_error(tmp_path, monkeypatch, body, key):
    monkeypatch.setattr(studies, "STUDY_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text("steps: {}\n" + body)
    with pytest.raises(ConfigError, match=key):
        studies.course_numbers("bad")
        studies.figures("bad")
