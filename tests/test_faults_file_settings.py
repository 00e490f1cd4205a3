"""A file a run reads (`checkpoint=`, Section 4's `model.weights=PATH`) is one setting however its
path is typed: the project-root-relative name, `./name`, the absolute path, a trailing `/`, a
`..` on the way all name one file (paths.resolve_path), so they give one setting id and label
(dlproj/config/setting.py: FILE_KEYS count by the file's name). A run that reads no file keeps
the setting it was recorded with before."""

from __future__ import annotations

import copy
import os

import pytest

from dlproj.config.compose import compose
from dlproj.config.setting import setting_of
from tests.conftest import ROOT

# key -> (the command line, where the key sits in the config, a file name it takes, the config's
# setting id without a file: as recorded before FILE_KEYS, which must stay).
FILE_KEYS = {
    "s1 checkpoint": (["section=1"], ("checkpoint",), "model.npz", "889f8fcc27"),
    "s3 checkpoint": (["section=3"], ("checkpoint",), "model.npz", "932d23d37b"),
    "s4 checkpoint": (["section=4"], ("checkpoint",), "model.pt", "e44cdf2069"),
    "s4 model.weights": (["section=4", "experiment=transfer"], ("model", "weights"),
                         "model.pt", "0fca29ef20"),
    "s4 model.weights .pth": (["section=4", "experiment=transfer"], ("model", "weights"),
                              "resnet18-f37072fd.pth", "0fca29ef20"),
}

# Where the file lies -> the ways of typing its path (a relative one is taken from the project
# root).
TYPINGS = {
    "at the project root": lambda n: [n, f"./{n}", f"{ROOT}/{n}", f"outputs/../{n}", f"{n}/",
                                      f"{ROOT}/./{n}"],
    "in a run directory": lambda n: [f"outputs/runs/r/{n}", f"./outputs/runs/r/{n}",
                                     f"{ROOT}/outputs/runs/r/{n}", f"outputs/runs/r/{n}/",
                                     f"outputs/runs/r/./{n}", f"outputs/x/../runs/r/{n}"],
}


def _with(config: dict, where: tuple[str, ...], value) -> dict:
    config = copy.deepcopy(config)
    node = config
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return config


@pytest.mark.parametrize("where", list(TYPINGS))
@pytest.mark.parametrize("case", list(FILE_KEYS))
def test_one_file_typed_any_way_is_one_setting(case, where):
    overrides, key, name, recorded = FILE_KEYS[case]
    config = compose(overrides)
    settings = {typed: setting_of(_with(config, key, typed), overrides)
                for typed in TYPINGS[where](name)}
    assert len({s.id for s in settings.values()}) == 1, settings
    assert len({s.label for s in settings.values()}) == 1, settings
    assert f"{'.'.join(key)}=.../{name}" in next(iter(settings.values())).label
    # The command without a file (checkpoint=null, model.weights=imagenet): as recorded before.
    assert setting_of(config).id == recorded


def _tiny_model(dlproj_run, section: int):
    """A model file of a tiny run of `section` (1: model.npz, 4: the transfer's model.pt)."""
    if section == 1:
        run = dlproj_run(["section=1", "data.train_limit=300", "data.test_limit=100",
                          "data.val_size=100", "train.epochs=1", "figures=false"])
        return run.run_dir / "model.npz"
    run = dlproj_run(["section=4", "experiment=transfer", "model=resnet", "model.depth=1",
                      "model.width=4", "model.weights=none", "model.finetune=all",
                      "dataset.classes=[0,1]", "dataset.per_class=8", "data.test_limit=32",
                      "data.val_size=32", "train.epochs=1", "figures=false", "threads.blas=1"])
    return run.run_dir / "model.pt"


READS = {
    "checkpoint= (section 1)": (1, lambda typed: ["section=1", "data.test_limit=100",
                                                 "data.val_size=100", "figures=false",
                                                 f"checkpoint={typed}"]),
    "model.weights= (section 4 transfer)": (4, lambda typed: [
        "section=4", "experiment=transfer", "model=resnet", "model.depth=1", "model.width=4",
        "model.finetune=all", "dataset.classes=[5,6]", "dataset.per_class=8",
        "data.test_limit=32", "data.val_size=32", "train.epochs=1", "figures=false",
        "threads.blas=1", f"model.weights={typed}"]),
}


@pytest.mark.parametrize("case", list(READS))
def test_runs_reading_one_file_typed_differently_record_one_setting(dlproj_run, case):
    section, command = READS[case]
    path = _tiny_model(dlproj_run, section)
    relative = os.path.relpath(path, ROOT)
    records = {}
    for typed in (str(path), relative, f"./{relative}", f"{path}/"):
        run = dlproj_run(command(typed))
        record = run.results()
        assert record["status"] == "completed", run.output
        records[typed] = (record["setting"], record["setting_label"])
    assert len(set(records.values())) == 1, records
