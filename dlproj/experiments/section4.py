"""Section 4: PyTorch — plain vs residual CNNs with gradient flow, ResNet18 transfer, augmentation.

torch is imported inside the functions (and by dlproj.torchnets), never at module level: the
registry imports this module for every run, and sections 1-3 must not pay for torch.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from dlproj import plots
from dlproj.build import build
from dlproj.experiments import footprint
from dlproj.experiments.common import evaluate_checkpoint, figure
from dlproj.experiments.registry import TORCH_DEVICES, TRAINING, Param, register
from dlproj.training.context import RunContext
from dlproj.training.loop import Evaluation

# The `_target_`s of Section 4's models, as strings: importing the classes would import torch.
PLAIN, RESNET = "dlproj.torchnets.models.PlainNet", "dlproj.torchnets.models.SmallResNet"
RESNET18 = "dlproj.torchnets.models.resnet18"
# Keys of the model node that are not the network's arguments: where its starting weights come
# from and what trains (dlproj.torchnets.checkpoint, dlproj.torchnets.models.freeze), and the
# memory layout of its tensors.
TRANSFER_KEYS = ("weights", "finetune", "channels_last")


def check_device(cfg) -> None:
    """`device=cuda`, and `train.precision=16-mixed`, need a CUDA device: refused before the run
    starts (nothing announced, nothing written), not after its data is loaded."""
    if cfg.device == "cuda" or cfg.train.precision == "16-mixed":
        from dlproj.training.precision import Precision
        from dlproj.training.torch_stack import resolve_device

        Precision(cfg.train.precision, resolve_device(cfg.device))


def _spec(models: tuple[str, ...], **params: Param) -> dict[str, Any]:
    return {"models": models, "checkpoint": ".pt", "devices": TORCH_DEVICES,
            "reads": (*TRAINING, "augmentation", "dataset", "data"), "data": footprint.images,
            # checkpoint=: the val/test data (dataset=pets batches them by train.batch_size)
            # in train.precision; augmentation= only draws training batches.
            "evaluates": ("dataset", "data", "train.batch_size", "train.precision"),
            # checkpoint= loads the whole model: where training would start from and what
            # would train change nothing then.
            "trains_with": ("model.weights", "model.finetune"),
            "params": params,
            "check": check_device}


# The course report's names for the networks, and the data its Section 4 ran on: any other
# dataset is the offline stand-in (`stand_in` in results.json).
NETWORKS = {"plain": "PlainNet", "resnet": "SmallResNet", "resnet18": "ResNet18"}
STUDY_DATASET = "pets"

# A label only the report reads (reproduce's offline pretraining run: `+params.role=pretrain`).
ROLE = Param(None, lambda v: v is None or isinstance(v, str) and bool(v.strip()),
             "a label for the report, e.g. `+params.role=pretrain`")


def _train(ctx: RunContext, title: str) -> dict[str, Any]:
    """Build data and model from the config, train with the explicit update, record everything."""
    import torch

    from dlproj.torchnets import checkpoint as ckpt
    from dlproj.torchnets import gradflow
    from dlproj.torchnets.models import freeze
    from dlproj.torchnets.optim import torch_twin
    from dlproj.training.loop import has_last_checkpoint
    from dlproj.training.precision import Precision
    from dlproj.training.torch_stack import evaluate, fit, resolve_device, seed_everything

    cfg = ctx.cfg
    torch.set_num_threads(ctx.torch_threads)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    m = cfg.model
    data = build(cfg.dataset)(**OmegaConf.to_container(cfg.data, resolve=True),
                              batch_size=cfg.train.batch_size,
                              channels=3 if m.name == "resnet18" else 1,
                              augment=build(cfg.augmentation)(), seed=cfg.seed)
    model = build(m, skip=TRANSFER_KEYS)(num_classes=m.num_classes or data.num_classes,
                                         in_channels=data.in_channels,
                                         image_size=cfg.dataset.image_size)

    layout = torch.channels_last if m.channels_last else torch.contiguous_format
    precision = Precision(cfg.train.precision, device)

    splits = [(split, batches) for split, batches in (("val", data.val), ("test", data.test))
              if batches is not None]

    def evaluate_splits() -> dict[str, float]:
        return {k: v for split, batches in splits
                for k, v in evaluate(model, batches, device, split, layout, precision).items()}

    evaluate_all = Evaluation(evaluate_splits, tuple(f"{split}_{m}" for split, _ in splits
                                                     for m in ("loss", "acc")))

    if cfg.checkpoint:
        def load(path, model, *, given):  # the file as evaluate_checkpoint resolved it
            ckpt.load_model(model, ckpt.load_state_dict(path, checkpoint=given), path,
                            data_classes=data.num_classes)
            model.to(device, memory_format=layout)

        return evaluate_checkpoint(ctx, model, evaluate_all, load)

    if ctx.resuming and has_last_checkpoint(ctx.run_dir):
        # Its last.pt holds every weight: the file it started from is not read again (it may
        # be gone since; the config check lets such a resume through). What the run said of
        # that file as it started comes back with last.pt too (fit sets ctx.provenance from
        # it); until then, and for a last.pt written before checkpoints kept it, the run's own
        # record stands in, else what model.weights names now.
        ctx.provenance.update(recorded_origin(ctx.run_dir) or origin(m.weights))
    else:
        sized = [f"model.{k}" for k in ("depth", "width") if k in m]  # what sizes the net
        ckpt.initial_weights(
            model, m.weights, download=cfg.data.download, network=NETWORKS.get(m.name, m.name),
            fix=f"Use weights that a run of model={m.name}"
                + (f" with the same {' and '.join(sized)}" if sized else "")
                + " wrote (its model.pt), or train it from scratch: model.weights=none "
                  "model.finetune=all.")
        ctx.provenance.update(origin(m.weights))
    source = ctx.provenance["weights"]
    frozen = freeze(model, m.finetune)
    check_batches(model, frozen, data, cfg)
    model.to(device, memory_format=layout)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    ctx.log.info("%s on %s (%d classes: %s; %d training images), weights %s, finetune %s: "
                 "%d of %d parameters train, device %s, precision %s", m.name,
                 cfg.dataset.name, data.num_classes, " ".join(data.class_names), data.n_train,
                 source, m.finetune, n_trainable, n_total, device, precision.name)
    optimizer = build(cfg.optimizer, _target_=torch_twin(cfg.optimizer._target_))(
        model.parameters())
    layers = gradflow.main_path_weights(model)
    grad_log = ctx.step_log("grad_norms.csv")

    def on_step(step: int, epoch: int) -> None:
        grad_log.append(step=step, epoch=epoch, **gradflow.grad_norms(layers))

    torch.manual_seed(cfg.seed)
    final = fit(ctx, model, data.train, optimizer, evaluate_all, device=device, frozen=frozen,
                on_step=on_step, layout=layout, precision=precision)
    ckpt.save_state_dict(ctx.path("model.pt"), model)
    label = f"{title}: {NETWORKS[m.name]}" + (f" depth {m.depth}" if m.name != "resnet18" else "")
    figure(ctx, "curves.png", lambda: plots.curves.learning_curves(
        ctx.metrics.rows, f"{label} on {cfg.dataset.name}"))
    if grad_log.rows:
        figure(ctx, "gradflow_first_last.png", lambda: plots.grad_norms.first_vs_last(
            grad_log.rows, f"{label}: first vs last layer"))
        figure(ctx, "gradflow_depth.png", lambda: plots.grad_norms.by_depth(
            grad_log.rows, f"{label}: gradient norm by depth"))
        # Each where that layer trained: model.finetune=frozen or layer4 leaves the first
        # layer without gradients, not the head.
        for key, (name, _) in (("grad_first_mean", layers[0]), ("grad_last_mean", layers[-1])):
            norms = [r[name] for r in grad_log.rows if name in r]
            if norms:
                final[key] = sum(norms) / len(norms)
    if precision.scaler is not None:
        final["skipped_steps"] = precision.scaler.skipped  # float16 overflows
    final.update(n_train=data.n_train, trainable_params=n_trainable,
                 **describe_setting(cfg, ctx.provenance))
    return final


def check_batches(model, frozen, data, cfg) -> None:
    """A ConfigError, before the first step, if a training batch would hold a single image and
    a batch-norm layer that trains sees a 1x1 map (ResNet18 at <= 32 px): batch norm cannot
    train on one value per channel, and torch would stop the run mid-epoch with a traceback.
    The batches: train.batch_size images each, the last one the rest (n_train % batch_size)."""
    from dlproj.errors import ConfigError
    from dlproj.torchnets.models import one_value_norms

    n, size = data.n_train, cfg.train.batch_size
    if 1 not in (min(n, size), n % size):
        return
    layers = one_value_norms(model, frozen, data.in_channels, cfg.dataset.image_size)
    if not layers:
        return
    fits = [b for b in range(2, n + 1) if n % b != 1]
    suggest = f" (e.g. {min(fits, key=lambda b: (abs(b - size), b))})" if fits else ""
    which = "every training batch is" if min(n, size) == 1 else "the last training batch is"
    raise ConfigError(
        f"Invalid value for 'train.batch_size': {size}: with {n} training images {which} a "
        f"single image, and {NETWORKS[cfg.model.name]}'s batch norm {layers[0]} sees a 1x1 map "
        f"at dataset.image_size={cfg.dataset.image_size}: one value per channel, from which it "
        f"cannot train. Allowed: a train.batch_size that leaves no batch of one image{suggest}, "
        f"more training images (data.train_limit, dataset.per_class), or a larger "
        f"dataset.image_size" + (", or model.finetune=frozen (batch norm then keeps its "
                                 "statistics)" if cfg.model.weights != "none" else "") + ".")


def describe_setting(cfg, start: dict[str, Any]) -> dict[str, Any]:
    """What a report needs to tell Section 4's settings apart and to say what they stand for:
    the network (the course report's name), where its weights came from and what they were
    trained on (`start`: origin's keys, as the run found them when it started), what trains,
    the data in words, and whether that data is the offline stand-in (MNIST) for the course
    report's Oxford-IIIT Pet."""
    from dlproj.data.images import describe

    m = cfg.model
    return {"network": NETWORKS[m.name], "weights": start["weights"],
            "pretrained_on": start["pretrained_on"], "finetune": m.finetune,
            "dataset": cfg.dataset.name, "data": describe(cfg.dataset),
            "stand_in": cfg.dataset.name != STUDY_DATASET}


def origin(weights: str) -> dict[str, Any]:
    """Where `model.weights` starts a network from: `weights` (in words, or the file's path)
    and `pretrained_on` (what those weights were trained on)."""
    from dlproj.torchnets.checkpoint import weights_source

    return {"weights": weights_source(weights), "pretrained_on": pretrained_on(weights)}


def recorded_origin(run_dir) -> dict[str, Any] | None:
    """origin's keys as the run in `run_dir` recorded them in its results.json's metrics (a run
    that completed), or None where that record does not hold them."""
    import json
    from pathlib import Path

    try:
        metrics = json.loads((Path(run_dir) / "results.json").read_text())["metrics"]
        return {key: metrics[key] for key in ("weights", "pretrained_on")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pretrained_on(weights: str) -> str | None:
    """What `model.weights` was trained on, in words: None (random init), "ImageNet", or for a
    model.pt the data of the run that wrote it (its results.json beside it, e.g. "MNIST digits
    0-4"; a relative path is taken from the project root, as data.root is); "a checkpoint"
    when that record is missing or unreadable."""
    if weights == "none":
        return None
    if weights == "imagenet":
        return "ImageNet"
    import json

    from dlproj.data.images import describe
    from dlproj.paths import resolve_path

    try:
        record = json.loads((resolve_path(weights).parent / "results.json").read_text())
        return describe(record["config"]["dataset"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "a checkpoint"


@register(4, "compare", **_spec((PLAIN, RESNET)))
def compare(ctx: RunContext) -> dict[str, Any]:
    """PlainNet vs SmallResNet (model=plain|resnet, model.depth) with per-layer gradient norms."""
    return _train(ctx, "plain vs residual")


@register(4, "transfer", **_spec((RESNET18, PLAIN, RESNET), role=ROLE))
def transfer(ctx: RunContext) -> dict[str, Any]:
    """A new head on ResNet18 (model=resnet: SmallResNet); weights and finetune from the model.

    model.weights=none|imagenet|PATH, model.finetune=frozen|layer4|all. The course report's
    from-scratch baseline is `model=resnet` (SmallResNet, weights none, finetune all)."""
    return _train(ctx, "transfer")

