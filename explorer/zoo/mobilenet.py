"""MobileNet v1 (Howard et al., 2017), written here, and MobileNet v2 (Sandler et al., 2018) from
torchvision: depthwise-separable convolutions, the lineage seed 004 describes."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
from torchvision import models

from explorer.zoo.registry import ModelSpec, register
from explorer.zoo.nin import init_weights
from explorer.i18n import N_

__all__ = ["DepthwiseSeparableConv", "MobileNetV1", "mobilenet_v1"]

# Architecture as data: Table 1 of Howard et al., (output channels, stride) of the 13
# depthwise-separable layers after the 32-channel stride-2 stem. The paper's table gives the
# last one stride 2 at 7×7, a misprint: its output is still 7×7, so every implementation
# (including the authors' TF-Slim model) uses stride 1.
MOBILENET_V1_CFG: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2), (128, 1),
    (256, 2), (256, 1),
    (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                  groups: int = 1) -> list[tuple[str, nn.Module]]:
    return [
        ("conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2,
                           groups=groups, bias=False)),
        ("bn", nn.BatchNorm2d(out_ch)),
        ("relu", nn.ReLU()),
    ]


class DepthwiseSeparableConv(nn.Module):
    """A standard k×k convolution split in two: a depthwise 3×3 convolution filters each channel
    on its own (groups = channels), then a pointwise 1×1 convolution mixes channels. Each is
    followed by batch norm and ReLU. For 3×3 and 16 → 32 channels: 16·9 + 16·32 = 656 weights
    instead of 16·32·9 = 4,608 (seed 004), about 1/9 + 1/C_out of the cost."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False)
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU()
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.depthwise(x)))  # N x C_in x H/s x W/s
        return self.relu2(self.bn2(self.pointwise(x)))  # N x C_out x H/s x W/s


class MobileNetV1(nn.Module):
    """MobileNet v1: a 3×3 stride-2 stem, 13 depthwise-separable layers, global average pooling
    and a fully connected classifier. ``width_mult`` is the paper's width multiplier α."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 cfg=MOBILENET_V1_CFG, stem: int = 32):
        super().__init__()
        in_ch = int(stem * width_mult)
        layers: list[nn.Module] = [nn.Sequential(OrderedDict(_conv_bn_relu(3, in_ch, 3, 2)))]
        for channels, stride in cfg:
            out_ch = int(channels * width_mult)
            layers.append(DepthwiseSeparableConv(in_ch, out_ch, stride))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)  # 224 input: N x 1024 x 7 x 7
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_ch, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.fc(self.flatten(self.avgpool(x)))


def mobilenet_v1(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV1:
    return MobileNetV1(num_classes=num_classes, width_mult=width_mult)


register(ModelSpec(
    name="mobilenet_v1",
    family="MobileNet",
    year=2017,
    paper="Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile "
          "Vision Applications, arXiv:1704.04861, 2017",
    description=N_("Every convolution after the first is depthwise-separable: a 3×3 filter per "
                "channel, then a 1×1 convolution across channels, for 8 to 9 times fewer "
                "multiply-accumulates than standard 3×3 convolutions at a small loss in "
                "accuracy. 4.2 M parameters and 0.57 G MACs at 224 (70.6 % top-1 in the paper; "
                "no weights ship with the explorer)."),
    builder=mobilenet_v1,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    weight_sources=(),
    stages={2: "features.1", 4: "features.3", 8: "features.5", 16: "features.11",
            32: "features.13"},
    gradcam_layer="features.13",
    blocks=(
        ("features.1", "depthwise_separable", N_("features.1: depthwise 3×3 + pointwise 32 → 64")),
        ("features.2", "depthwise_separable",
         N_("features.2: depthwise 3×3 stride 2 + pointwise 64 → 128")),
    ),
))

register(ModelSpec(
    name="mobilenet_v2",
    family="MobileNet",
    year=2018,
    paper="Sandler, Howard, Zhu, Zhmoginov & Chen, MobileNetV2: Inverted Residuals and Linear "
          "Bottlenecks, CVPR 2018 (arXiv:1801.04381)",
    description=N_("Inverted residual blocks: a 1×1 convolution expands a narrow tensor six-fold, a "
                "depthwise 3×3 filters it, and a linear 1×1 convolution projects it back, with "
                "the shortcut between the narrow ends. No ReLU after the projection: in a narrow "
                "space it would destroy information."),
    builder=models.mobilenet_v2,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="mobilenet_v2",
    tv_weights="MobileNet_V2_Weights.IMAGENET1K_V2",
    published_top1=72.154,
    stages={2: "features.1", 4: "features.3", 8: "features.6", 16: "features.13",
            32: "features.18"},
    gradcam_layer="features.18",
    blocks=(
        ("features.1", "depthwise_separable",
         N_("features.1: t = 1, depthwise 3×3 + linear 1×1 (32 → 16), no expansion")),
        ("features.2", "inverted_residual",
         N_("features.2: expand 16 → 96, depthwise 3×3 stride 2, project → 24, no residual")),
        ("features.3", "inverted_residual",
         N_("features.3: expand 24 → 144, depthwise 3×3, project → 24, with residual")),
    ),
))
