"""Section 4: PyTorch — plain vs residual CNNs with gradient flow, ResNet18 transfer, augmentation.

torch is imported inside the functions (and by dlproj.torchnets), never at module level: the
registry imports this module for every run, and sections 1-3 must not pay for torch.
"""

from __future__ import annotations

from typing import Any

from dlproj.config.validate import check, check_choice
from dlproj.plots.curves import learning_curves
from dlproj.registry import register
from dlproj.runtime.context import RunContext
from dlproj.runtime.threads import torch_threads

MODELS = ("plain", "resnet", "resnet18")
FINETUNE = ("frozen", "layer4", "all")  # as dlproj.torchnets.models.FINETUNE (no torch here)
DATASETS = {"mnist": 10, "pets": 2}


def _validate(cfg) -> None:
    """Section 4's own keys: model.*, dataset.* (ConfigError naming the key)."""
    m = cfg.model
    check(m.get("name") in MODELS and "depth" in m, "model", m.get("name"),
          "a Section 4 model: " + ", ".join(MODELS))
    check(isinstance(m.depth, int) and m.depth >= 1, "model.depth", m.depth, "an integer >= 1")
    check(isinstance(m.width, int) and m.width >= 1, "model.width", m.width, "an integer >= 1")
    check_choice("model.finetune", m.finetune, FINETUNE)
    check(m.num_classes is None or m.num_classes >= 2, "model.num_classes", m.num_classes,
          "null (the dataset's) or an integer >= 2")
    check(m.weights != "imagenet" or m.name == "resnet18", "model.weights", m.weights,
          "imagenet only with model=resnet18; none or the path of a model.pt for "
          f"model={m.name}")
    check(m.finetune == "all" or m.weights != "none", "model.finetune", m.finetune,
          "all when model.weights=none (a frozen random backbone learns nothing); frozen and "
          "layer4 with model.weights=imagenet or PATH")
    ds = cfg.dataset
    check_choice("dataset.name", ds.name, DATASETS)
    check(ds.image_size >= 8, "dataset.image_size", ds.image_size, "an integer >= 8")
    if ds.classes is not None:
        classes = list(ds.classes)
        n = DATASETS[ds.name]
        check(len(classes) >= 2 and len(set(classes)) == len(classes)
              and all(0 <= c < n for c in classes), "dataset.classes", classes,
              f"null (all) or at least two distinct labels in 0..{n - 1}")
    check(ds.per_class is None or ds.per_class >= 1, "dataset.per_class", ds.per_class,
          "null (all) or an integer >= 1")
    check(ds.num_workers >= 0, "dataset.num_workers", ds.num_workers, "an integer >= 0")


def _train(ctx: RunContext, title: str) -> dict[str, Any]:
    """Build data and model from the config, train with the explicit update, record everything."""
    _validate(ctx.cfg)  # before torch is imported: a bad key fails fast
    import torch

    from dlproj.torchnets import checkpoint as ckpt
    from dlproj.torchnets import gradflow
    from dlproj.torchnets.data import load_data
    from dlproj.torchnets.loop import evaluate, fit, resolve_device, seed_everything
    from dlproj.torchnets.models import build_model, freeze
    from dlproj.torchnets.optim import build_optimizer

    cfg = ctx.cfg
    torch.set_num_threads(torch_threads(cfg.threads))
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    m = cfg.model
    data = load_data(cfg, channels=3 if m.name == "resnet18" else None, seed=cfg.seed)
    model = build_model(m, num_classes=data.num_classes, in_channels=data.in_channels,
                        image_size=cfg.dataset.image_size)

    def evaluate_all() -> dict[str, float]:
        out: dict[str, float] = {}
        for split, batches in (("val", data.val), ("test", data.test)):
            if batches is not None:
                out.update(evaluate(model, batches, device, split))
        return out

    if cfg.checkpoint:
        model.load_state_dict(ckpt.load_state_dict(cfg.checkpoint))
        model.to(device)
        final = evaluate_all()
        ctx.log.info("evaluated %s: %s", cfg.checkpoint, final)
        return final

    source = ckpt.initial_weights(model, m.weights, download=cfg.data.download)
    frozen = freeze(model, m.finetune)
    model.to(device)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    ctx.log.info("%s on %s (%d classes: %s; %d training images), weights %s, finetune %s: "
                 "%d of %d parameters train, device %s", m.name, cfg.dataset.name,
                 data.num_classes, " ".join(data.class_names), data.n_train, source,
                 m.finetune, n_trainable, n_total, device)
    optimizer = build_optimizer(model.parameters(), cfg.optimizer)
    layers = gradflow.main_path_weights(model)
    grad_log = ctx.step_log("grad_norms.csv")

    def on_step(step: int, epoch: int) -> None:
        grad_log.append(step=step, epoch=epoch, **gradflow.grad_norms(layers))

    torch.manual_seed(cfg.seed)
    final = fit(ctx, model, data.train, optimizer, evaluate_all, device=device, frozen=frozen,
                on_step=on_step)
    ckpt.save_state_dict(ctx.path("model.pt"), model)
    label = f"{title}: {m.name}" + (f" depth {m.depth}" if m.name != "resnet18" else "")
    ctx.save_figure(learning_curves(ctx.metrics.rows, f"{label} on {cfg.dataset.name}"),
                    "curves.png")
    if grad_log.rows:
        ctx.save_figure(gradflow.first_vs_last(grad_log.rows, f"{label}: first vs last layer"),
                        "gradflow_first_last.png")
        ctx.save_figure(gradflow.by_depth(grad_log.rows, f"{label}: gradient norm by depth"),
                        "gradflow_depth.png")
        first, last = layers[0][0], layers[-1][0]
        rows = [r for r in grad_log.rows if first in r]
        if rows:
            final["grad_first_mean"] = sum(r[first] for r in rows) / len(rows)
            final["grad_last_mean"] = sum(r[last] for r in rows) / len(rows)
    final.update(n_train=data.n_train, trainable_params=n_trainable,
                 weights=source, dataset=cfg.dataset.name)
    return final


@register(4, "compare")
def compare(ctx: RunContext) -> dict[str, Any]:
    """PlainNet vs SmallResNet (model=plain|resnet, model.depth) with per-layer gradient norms."""
    return _train(ctx, "plain vs residual")


@register(4, "transfer")
def transfer(ctx: RunContext) -> dict[str, Any]:
    """ResNet18, new head: model.weights=none|imagenet|PATH, model.finetune=frozen|layer4|all."""
    return _train(ctx, "transfer")

