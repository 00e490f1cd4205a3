"""Plain and residual CNNs of the same shape, and torchvision's ResNet18 with a new head.

`PlainNet` (model=plain) and `SmallResNet` (model=resnet) are one `SmallNet` without and with the
identity shortcut around each block; they share the stem, the widths and the depth:

    stem:    conv3x3(in -> w) BN ReLU  [max-pool by image_size // 32 for images over 32 px:
             224 px -> 32, 100 -> 33, 48 -> 48]
    stages:  3 stages of width w, 2w, 4w; `depth` blocks split between them, the first block of
             stages 2 and 3 halving the resolution
    block:   conv3x3 BN ReLU conv3x3 BN (+ shortcut) ReLU
    head:    global average pool -> linear(4w -> classes)

A block's shortcut is the identity, or conv1x1 + BN where the block changes width/resolution
(He et al.'s option B). Weighted layers: 2 * depth + 2.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """Two 3x3 conv + BN layers, with (residual) or without (plain) a shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, residual: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.residual = residual
        self.shortcut: nn.Module = nn.Identity()
        if residual and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In place where autograd allows it (as torchvision's ResNet): batch norm's backward
        # needs its input, not its output, so ReLU and the shortcut's sum may overwrite that.
        out = torch.relu_(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out += self._shortcut(x)
        return torch.relu_(out)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The shortcut; its conv1x1 with stride 2 taken as a conv1x1 of every second pixel where
        torch 2.14.1's CPU kernel for its weight gradient corrupts the heap (docs/section4.md,
        "The crash and the hang": channels-last, fewer than 16 input channels, a batch the
        intra-op threads do not divide). The same sums; elsewhere the kernel as it is, so that
        no result that ran before changes."""
        conv = self.shortcut[0] if isinstance(self.shortcut, nn.Sequential) else None
        if conv is None or not crashes_torch(x, conv):
            return self.shortcut(x)
        s = conv.stride[0]
        return self.shortcut[1](nn.functional.conv2d(x[:, :, ::s, ::s], conv.weight))


def crashes_torch(x: torch.Tensor, conv: nn.Conv2d) -> bool:
    """Whether training `conv` (a 1x1, stride-2 convolution) on `x` runs into torch 2.14.1's
    channels-last fault: seen for 4-15 input channels, 14 px and more, batches that the intra-op
    thread count does not divide (2 threads: 3, 5, 105; 3: 128; 4: 2, 6); taken here for any
    count below 16 and any such batch (`python scripts/channels_last_crash.py` maps it)."""
    threads = torch.get_num_threads()
    return (torch.is_grad_enabled() and conv.kernel_size == (1, 1) and conv.stride != (1, 1)
            and conv.in_channels < 16 and threads > 1 and x.shape[0] % threads != 0
            and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())


def stage_sizes(depth: int, stages: int = 3) -> list[int]:
    """`depth` blocks split as evenly as possible, earlier stages first: 8 -> [3, 3, 2]."""
    return [depth // stages + (1 if i < depth % stages else 0) for i in range(stages)]


class SmallNet(nn.Module):
    """PlainNet (`residual=False`) or SmallResNet (`residual=True`) on (N, C, H, W) images."""

    def __init__(self, *, depth: int, width: int, num_classes: int, in_channels: int = 3,
                 image_size: int = 32, residual: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        if image_size > 32:
            layers.append(nn.MaxPool2d(image_size // 32))
        self.stem = nn.Sequential(*layers)
        blocks: list[nn.Module] = []
        c_in = width
        for i, n in enumerate(stage_sizes(depth)):
            c_out = width * 2**i
            for j in range(n):
                blocks.append(Block(c_in, c_out, 2 if (i > 0 and j == 0) else 1, residual))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class PlainNet(SmallNet):
    """SmallNet without shortcuts (model=plain)."""

    def __init__(self, *, depth: int, width: int, num_classes: int, in_channels: int = 3,
                 image_size: int = 32):
        super().__init__(depth=depth, width=width, num_classes=num_classes,
                         in_channels=in_channels, image_size=image_size, residual=False)


class SmallResNet(SmallNet):
    """SmallNet with identity shortcuts (model=resnet)."""

    def __init__(self, *, depth: int, width: int, num_classes: int, in_channels: int = 3,
                 image_size: int = 32):
        super().__init__(depth=depth, width=width, num_classes=num_classes,
                         in_channels=in_channels, image_size=image_size, residual=True)


def head_prefix(model: nn.Module) -> str:
    """The state-dict prefix of the classifier a transfer replaces."""
    return "head." if isinstance(model, SmallNet) else "fc."


def resnet18(*, num_classes: int, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """torchvision's ResNet18 (random init) with a `num_classes` head (model=resnet18). It takes
    3-channel images of any size (its global pooling adapts); `image_size` is not needed."""
    from torchvision.models import resnet18 as tv_resnet18

    if in_channels != 3:
        raise ValueError(f"ResNet18 takes 3-channel images, got in_channels={in_channels}")
    model = tv_resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def trainable_part(model: nn.Module, finetune: str) -> list[nn.Module]:
    """The sub-modules that train under `finetune`: the head only (frozen), the last stage and
    the head (layer4: ResNet18's layer4, SmallNet's last stage) or everything (all)."""
    if finetune == "all":
        return [model]
    head = model.head if isinstance(model, SmallNet) else model.fc
    if finetune == "frozen":
        return [head]
    if isinstance(model, SmallNet):
        last_width = model.head.in_features
        return [b for b in model.blocks if b.conv2.out_channels == last_width] + [head]
    return [model.layer4, head]


def freeze(model: nn.Module, finetune: str) -> list[nn.Module]:
    """Turn off gradients outside `trainable_part`; returns the frozen leaf modules.

    The loop keeps the frozen modules in eval mode, so their batch-norm statistics stay put too
    and a frozen backbone is left bit-identical."""
    train = trainable_part(model, finetune)
    keep = {id(p) for m in train for p in m.parameters()}
    keep_modules = {id(sub) for m in train for sub in m.modules()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    return [m for m in model.modules()
            if id(m) not in keep_modules and not list(m.children())]


def one_value_norms(model: nn.Module, frozen: list[nn.Module], in_channels: int,
                    image_size: int) -> list[str]:
    """The batch-norm layers that train (not in `frozen`) and see a 1x1 map from one image of
    `image_size` px (ResNet18 at <= 32 px: its layer4): given a training batch of a single image
    they hold one value per channel, from which batch norm cannot train (torch raises
    ValueError mid-epoch). One forward pass of a blank image in eval mode finds them; it moves
    no statistic and draws no random number."""
    frozen_ids = {id(m) for m in frozen}
    seen: dict[str, int] = {}

    def hook(name: str):
        def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            seen.setdefault(name, args[0][0, 0].numel())  # the values of one channel's map
        return record

    hooks = [m.register_forward_pre_hook(hook(name)) for name, m in model.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in frozen_ids]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [name for name, values in seen.items() if values == 1]
