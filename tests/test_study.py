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
