"""Xception (Chollet, 2017): Inception taken to its extreme, as Keras's ``applications.Xception``
builds it (entry, middle and exit flows; 22,910,480 parameters in Keras's count)."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from explorer.zoo.registry import ModelSpec, register
from explorer.zoo.nin import init_weights
from explorer.i18n import N_

__all__ = ["SeparableConv2d", "XceptionBlock", "Xception", "xception"]

# Architecture as data: (output channels of each separable conv, stride, starts with ReLU) of
# the residual modules. Entry flow: three modules that halve the resolution; middle flow: eight
# identical 728-channel modules; exit flow: one module, then two separable convs to 2048.
ENTRY_FLOW = (((128, 128), 2, False), ((256, 256), 2, True), ((728, 728), 2, True))
MIDDLE_FLOW = (((728, 728, 728), 1, True),) * 8
EXIT_FLOW = (((728, 1024), 2, True),)


class SeparableConv2d(nn.Module):
    """Depthwise k×k convolution (one filter per channel) then pointwise 1×1 convolution, with
    no non-linearity between them: Keras's ``SeparableConv2D``. Chollet found an intermediate
    ReLU hurts, unlike MobileNet's depthwise-separable layer which has BN + ReLU on both."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3):
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size, padding=kernel_size // 2,
                                   groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """[ReLU, SeparableConv 3×3, BN] repeated, then a 3×3 stride-2 max-pool when downsampling,
    plus a shortcut: identity, or a 1×1 stride-2 convolution + BN when the shape changes."""

    def __init__(self, in_ch: int, channels: tuple[int, ...], stride: int = 1,
                 start_with_relu: bool = True):
        super().__init__()
        out_ch = channels[-1]
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)),
                ("bn", nn.BatchNorm2d(out_ch)),
            ]))
        layers: list[tuple[str, nn.Module]] = []
        for i, ch in enumerate(channels, start=1):
            # The entry flow's first module follows a ReLU already (the stem's), so it skips it.
            if i > 1 or start_with_relu:
                layers.append((f"relu{i}", nn.ReLU()))
            layers.append((f"sepconv{i}", SeparableConv2d(in_ch, ch)))
            layers.append((f"bn{i}", nn.BatchNorm2d(ch)))
            in_ch = ch
        if stride != 1:
            # Keras pools with padding="same": out = ceil(in / 2), as padding 1 gives here.
            layers.append(("pool", nn.MaxPool2d(3, stride, padding=1)))
        self.residual = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return self.residual(x) + shortcut


def _flow(in_ch: int, cfg) -> tuple[nn.Sequential, int]:
    blocks = []
    for channels, stride, start_with_relu in cfg:
        blocks.append(XceptionBlock(in_ch, channels, stride, start_with_relu))
        in_ch = channels[-1]
    return nn.Sequential(*blocks), in_ch


class Xception(nn.Module):
    """Entry flow (stem + three downsampling modules, 299 → 19), middle flow (eight residual
    modules at 19×19×728), exit flow (one downsampling module and two separable convolutions to
    10×10×2048), global average pooling and a dense classifier."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 32, 3, 2, bias=False)),  # N x 32 x 149 x 149
            ("bn1", nn.BatchNorm2d(32)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(32, 64, 3, bias=False)),  # N x 64 x 147 x 147
            ("bn2", nn.BatchNorm2d(64)),
            ("relu2", nn.ReLU()),
        ]))
        self.entry_flow, ch = _flow(64, ENTRY_FLOW)  # N x 728 x 19 x 19
        self.middle_flow, ch = _flow(ch, MIDDLE_FLOW)  # N x 728 x 19 x 19
        exit_block, ch = _flow(ch, EXIT_FLOW)  # N x 1024 x 10 x 10
        self.exit_flow = nn.Sequential(OrderedDict([
            ("block", exit_block[0]),
            ("sepconv3", SeparableConv2d(ch, 1536)),
            ("bn3", nn.BatchNorm2d(1536)),
            ("relu3", nn.ReLU()),
            ("sepconv4", SeparableConv2d(1536, 2048)),
            ("bn4", nn.BatchNorm2d(2048)),
            ("relu4", nn.ReLU()),  # N x 2048 x 10 x 10
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2048, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.entry_flow(x)
        x = self.middle_flow(x)
        x = self.exit_flow(x)
        return self.fc(self.flatten(self.avgpool(x)))


def xception(num_classes: int = 1000) -> Xception:
    return Xception(num_classes=num_classes)


register(ModelSpec(
    name="xception",
    family="Xception",
    year=2016,
    paper="Chollet, Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017 "
          "(arXiv:1610.02357)",
    description=N_("The 'extreme Inception' hypothesis: cross-channel and spatial correlations can "
                "be mapped completely separately, so every Inception module becomes a "
                "depthwise-separable convolution. 36 of them in 14 modules, all but the first "
                "and last with residual connections, as many parameters as Inception v3 "
                "(22.9 M) used more efficiently (79.0 % top-1 in the paper; no weights ship "
                "with the explorer)."),
    builder=xception,
    input_size=(3, 299, 299),
    min_size=71,
    dataset="imagenet",
    num_classes=1000,
    weight_sources=(),
    stages={2: "stem", 4: "entry_flow.0", 8: "entry_flow.1", 16: "middle_flow",
            32: "exit_flow"},
    gradcam_layer="exit_flow.relu4",
    blocks=(
        ("entry_flow.1", "xception",
         N_("entry_flow.1: two separable convs 128 → 256, max-pool, 1×1 stride-2 shortcut")),
        ("middle_flow.0", "xception",
         N_("middle_flow.0: three separable convs at 19×19×728, identity shortcut")),
        ("exit_flow.block", "xception",
         N_("exit_flow.block: separable convs 728 → 728 → 1024, max-pool, 1×1 shortcut")),
    ),
))
