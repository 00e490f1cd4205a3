"""A Section 4 model.pt whose head has another number of outputs than the data has classes (one
written before 2026-12-07, when model.num_classes could exceed them) is evaluated, or told in
one paragraph how: `checkpoint=` says which model.num_classes (more outputs) or dataset.classes
(fewer) evaluates it, and model.num_classes above the data's classes is allowed beside
checkpoint= (dlproj/config/models.py, dlproj/torchnets/checkpoint.py::load_model). To train,
the head stays the data's: tests/test_bad_inputs.py refuses any other model.num_classes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

_EVAL = ["data.test_limit=64", "data.val_size=64", "figures=false", "threads.blas=1"]

# network -> (the command line, a builder of the model.pt's network with `heads` outputs)
NETWORKS = {
    "PlainNet": (["section=4", "model=plain", "model.depth=1", "model.width=4"],
                 lambda heads: _small("PlainNet", heads)),
    "SmallResNet": (["section=4", "model=resnet", "model.depth=1", "model.width=4"],
                    lambda heads: _small("SmallResNet", heads)),
    "ResNet18 (transfer)": (["section=4", "experiment=transfer", "model=resnet18"],
                            lambda heads: _resnet18(heads)),
}
# data -> (its overrides, its number of classes)
DATA = {"MNIST": ([], 10), "MNIST digits 5-9": (["dataset.classes=[5,6,7,8,9]"], 5)}


def _small(name: str, heads: int):
    from dlproj.torchnets import models

    return getattr(models, name)(depth=1, width=4, num_classes=heads, in_channels=1,
                                 image_size=28)


def _resnet18(heads: int):
    from dlproj.torchnets.models import resnet18

    return resnet18(num_classes=heads)


def _model_pt(tmp_path, network: str, heads: int):
    from dlproj.torchnets.checkpoint import save_state_dict

    torch.manual_seed(0)
    return save_state_dict(tmp_path / f"{heads}-outputs" / "model.pt", NETWORKS[network][1](heads))


@pytest.mark.parametrize("more", [1, 5])
@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_model_pt_with_a_larger_head_is_evaluated_with_its_own(dlproj_run, tmp_path, network,
                                                                 data, more):
    command, _ = NETWORKS[network]
    overrides, classes = DATA[data]
    heads = classes + more
    path = _model_pt(tmp_path, network, heads)
    plain = dlproj_run([*command, *overrides, *_EVAL, f"checkpoint={path}"])
    err = plain.proc.stderr
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert plain.proc.returncode == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert f"has a head of {heads} outputs" in err and f"`model.num_classes={heads}`" in err, err
    assert plain.results()["status"] == "failed"

    own = dlproj_run([*command, *overrides, *_EVAL, f"checkpoint={path}",
                      f"model.num_classes={heads}"])
    record = own.results()
    assert (own.proc.returncode, record["status"]) == (0, "completed"), own.output
    assert 0 <= record["metrics"]["test_acc"] <= 1 and record["metrics"]["test_loss"] > 0


@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_model_pt_with_a_smaller_head_is_told_the_classes_to_evaluate_it_on(dlproj_run,
                                                                              tmp_path,
                                                                              network):
    command, _ = NETWORKS[network]
    path = _model_pt(tmp_path, network, 5)
    run = dlproj_run([*command, *_EVAL, f"checkpoint={path}"])  # MNIST: 10 classes
    err = run.proc.stderr
    assert run.proc.returncode == 1 and "Traceback" not in err, err
    assert "has a head of 5 outputs, fewer than the 10 classes" in err, err
    assert "dataset.classes=[...] with the 5 labels" in err, err
    fits = dlproj_run([*command, *_EVAL, f"checkpoint={path}", "dataset.classes=[0,1,2,3,4]"])
    assert fits.results()["status"] == "completed", fits.output


@pytest.mark.parametrize("given", [12, 6])
@pytest.mark.parametrize("network", ["PlainNet", "ResNet18 (transfer)"])
def test_a_head_made_larger_than_the_data_names_model_num_classes(dlproj_run, tmp_path, network,
                                                                   given):
    """model.num_classes above the classes of the data and of the file's head: the key is at
    fault, not the data (it was told to evaluate on the 5 labels it already had)."""
    command, _ = NETWORKS[network]
    path = _model_pt(tmp_path, network, 5)
    digits = ["dataset.classes=[5,6,7,8,9]"]
    run = dlproj_run([*command, *digits, *_EVAL, f"checkpoint={path}",
                      f"model.num_classes={given}"])
    err = run.proc.stderr
    assert run.proc.returncode == 1 and "Traceback" not in err, err
    name = NETWORKS[network][1](5).__class__.__name__
    assert (f"has a head of 5 outputs, and this config's {name} {given} (model.num_classes="
            f"{given}) for data of 5 classes. Allowed: model.num_classes=5 or null (one output "
            f"per class of the data)") in err, err
    fits = dlproj_run([*command, *digits, *_EVAL, f"checkpoint={path}", "model.num_classes=5"])
    assert fits.results()["status"] == "completed", fits.output
