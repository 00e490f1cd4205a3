"""Section 4's `train.precision` (dlproj/training/precision.py): bf16 autocast trains the same
network to bfloat16's round-off, float16's loss scaling skips an overflowing step and recovers,
and the modes a device cannot run are refused in one paragraph."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dlproj.errors import ConfigError  # noqa: E402
from dlproj.torchnets.models import SmallResNet  # noqa: E402
from dlproj.torchnets.optim import Adam  # noqa: E402
from dlproj.training.loop import Evaluation  # noqa: E402
from dlproj.training.precision import LossScaler, Precision  # noqa: E402
from dlproj.training.torch_stack import TorchStack, evaluate  # noqa: E402

CPU = torch.device("cpu")


def _stack(precision: str, batches):
    torch.manual_seed(1)
    model = SmallResNet(depth=3, width=8, num_classes=10, in_channels=1, image_size=28)
    opt = Adam(model.parameters(), lr=1e-3)
    return TorchStack(model, batches, opt, Evaluation(dict, ()), CPU,
                      precision=Precision(precision, CPU))


def test_bf16_mixed_trains_like_float32_to_bfloat16_round_off(torch_one_thread):
    torch.manual_seed(0)
    batches = [(torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))) for _ in range(4)]
    runs = {}
    for mode in ("32", "bf16-mixed"):
        stack = _stack(mode, batches)
        losses = [stack.train_step(b).loss for b in batches for _ in range(2)]
        runs[mode] = (losses, stack)
    full, half = runs["32"][0], runs["bf16-mixed"][0]
    # bfloat16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%): 8 steps stay within 5%.
    assert half == pytest.approx(full, rel=5e-2)
    assert half[1] < half[0]  # it learns: the same batch again, after one step
    assert half != full  # and autocast was on: not the float32 numbers bit for bit
    stack = runs["bf16-mixed"][1]
    # "Mixed": the weights, their gradients and the optimizer's state stay float32.
    assert {p.dtype for p in stack.model.parameters()} == {torch.float32}
    assert {v.dtype for s in stack.optimizer.state for v in s.values()} == {torch.float32}
    metrics = evaluate(stack.model, batches, CPU, "val", precision=stack.precision)
    plain = evaluate(stack.model, batches, CPU, "val")
    assert metrics["val_loss"] == pytest.approx(plain["val_loss"], rel=5e-2)


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_the_loss_scaler_skips_a_step_whose_gradients_overflowed(bad):
    w = torch.nn.Parameter(torch.ones(3))
    scaler = LossScaler(scale=8.0, growth_interval=2)
    (w * torch.tensor([1.0, bad, 1.0])).sum().backward()
    assert scaler.unscale([w]) is False
    assert (scaler.scale, scaler.skipped, scaler.good_steps) == (4.0, 1, 0)


def test_the_loss_scaler_unscales_and_grows_after_good_steps():
    w = torch.nn.Parameter(torch.ones(2))
    scaler = LossScaler(scale=4.0, growth_interval=2)
    for _ in range(2):
        w.grad = None
        scaler.backward((w * torch.tensor([1.0, 2.0])).sum())
        assert torch.equal(w.grad, torch.tensor([4.0, 8.0]))  # scaled by 4
        assert scaler.unscale([w]) is True
        assert torch.equal(w.grad, torch.tensor([1.0, 2.0]))  # unscaled: the true gradient
    assert (scaler.scale, scaler.good_steps) == (8.0, 0)  # doubled after 2 good steps
    restored = LossScaler()
    restored.load(scaler.state())
    assert restored.state() == scaler.state()


def test_float16_gradients_that_underflow_survive_with_the_scale():
    """Why 16-mixed scales the loss: a gradient of 1e-8 is 0 in float16, 1e-8 * 2^16 is not."""
    tiny = torch.tensor(1e-8)
    assert tiny.half().item() == 0.0
    assert (tiny * 2 ** 16).half().float().item() / 2 ** 16 == pytest.approx(1e-8, rel=1e-2)


@pytest.mark.parametrize(("name", "device", "allowed"), [
    ("16-mixed", CPU, "Allowed here: 32, bf16-mixed."),
    ("bf16", CPU, "Allowed: 32, bf16-mixed, 16-mixed."),
    ("64", CPU, "Allowed: 32, bf16-mixed, 16-mixed."),
    ("16", torch.device("cuda"), "Allowed: 32, bf16-mixed, 16-mixed."),
])
def test_a_precision_the_device_cannot_run_is_refused(name, device, allowed):
    with pytest.raises(ConfigError, match="train.precision") as err:
        Precision(name, device)
    assert allowed in str(err.value) and "\n" not in str(err.value)


def test_a_bf16_mixed_run_records_its_precision_and_its_own_setting(dlproj_run):
    budget = ["section=4", "model=resnet", "model.depth=2", "model.width=4", "train.epochs=1",
              "data.train_limit=64", "data.test_limit=64", "train.batch_size=32", "figures=false",
              "threads.blas=1"]
    full, mixed = (dlproj_run([*budget, *extra]) for extra in ([], ["train.precision=bf16-mixed"]))
    assert full.proc.returncode == mixed.proc.returncode == 0, mixed.output
    a, b = full.results(), mixed.results()
    assert (a["config"]["train"]["precision"], b["config"]["train"]["precision"]) == (
        "32", "bf16-mixed")
    assert "precision bf16-mixed" in mixed.output
    assert b["status"] == "completed" and a["setting"] != b["setting"]
    assert "train.precision=bf16-mixed" in b["setting_label"]
    assert b["metrics"]["train_loss"] == pytest.approx(a["metrics"]["train_loss"], rel=5e-2)


NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


@pytest.mark.parametrize("args, key", [
    (["section=1", "train.precision=bf16-mixed"], "'train.precision'"),
    (["section=3", "train.precision=16-mixed"], "'train.precision'"),
    (["section=4", "train.precision=fp16"], "'train.precision'"),
    (["section=4", "train.precision=16-mixed", "device=cpu"], "'train.precision'"),
    # a device the machine lacks: refused with the config, not inside the experiment after the
    # run announced its folder
    pytest.param(["section=4", "device=cuda"], "'device'", marks=NO_GPU),
    pytest.param(["section=4", "experiment=transfer", "model=plain", "device=cuda",
                  "train.precision=16-mixed"], "'device'", marks=NO_GPU)])
def test_a_precision_or_device_a_run_cannot_use_is_one_paragraph_and_exit_2(dlproj_run, args,
                                                                            key):
    run = dlproj_run([*args, "train.epochs=1", "data.train_limit=64", "data.test_limit=64"])
    assert run.proc.returncode == 2, run.output
    said = run.proc.stderr.strip()
    assert key in said and "Allowed" in said and "Traceback" not in said
    assert said.count("dlproj: ") == 1 and " -> " not in run.output, run.output
    assert not list(run.outputs.rglob("results.json"))
    assert not list(run.outputs.rglob("dlproj.log"))  # refused before the run started


def test_the_config_allows_exactly_the_precisions_training_knows():
    from dlproj.config.schema import PRECISIONS
    from dlproj.training.precision import AUTOCAST

    assert PRECISIONS == tuple(AUTOCAST)


def test_a_stack_with_a_loss_scaler_skips_the_overflowing_step_and_checkpoints_its_scale():
    """16-mixed's path through TorchStack, on the CPU: a scale so large that the gradients
    overflow float32 leaves the weights untouched, halves the scale, and the snapshot carries it
    to a resumed stack."""
    torch.manual_seed(0)
    batch = (torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    stack = _stack("32", [batch])
    # What 16-mixed builds, with a scale past float32's range (3.4e38): the gradients overflow.
    stack.precision.scaler = LossScaler(scale=2.0 ** 130)
    before = {k: v.clone() for k, v in stack.model.state_dict().items() if "weight" in k}
    stack.train_step(batch)
    after = stack.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the step was skipped
    assert stack.precision.scaler.state() == {"scale": 2.0 ** 129, "good_steps": 0, "skipped": 1}
    snap = stack.snapshot()
    resumed = _stack("32", [batch])
    resumed.precision.scaler = LossScaler()
    resumed.restore(snap)
    assert resumed.precision.scaler.state() == stack.precision.scaler.state()


def test_a_power_of_two_loss_scale_changes_no_bit_of_the_update():
    """Scaling by 2^k and unscaling again is exact in floating point (no overflow, no
    underflow): with a scaler the step is the float32 step, bit for bit."""
    torch.manual_seed(0)
    batch = (torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    plain, scaled = _stack("32", [batch]), _stack("32", [batch])
    scaled.precision.scaler = LossScaler(scale=2.0 ** 8)
    for _ in range(2):
        assert plain.train_step(batch).loss == scaled.train_step(batch).loss
    a, b = plain.model.state_dict(), scaled.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
