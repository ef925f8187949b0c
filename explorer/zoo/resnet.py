"""ResNet (He et al., 2015), ResNeXt (Xie et al., 2016) and seed 001's CIFAR-10 ResNet-18."""
from __future__ import annotations

import torch
import torch.nn as nn
from torchvision import models

from explorer.zoo.registry import ModelSpec, register
from explorer.i18n import N_

_PAPER = ("He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition, CVPR 2016 "
          "(arXiv:1512.03385)")
_STAGES = {2: "relu", 4: "layer1", 8: "layer2", 16: "layer3", 32: "layer4"}


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: H(x) = F(x) + x, or F(x) + W(x) when the shape
    changes (stride 2 or more channels), W being a 1×1 convolution with batch norm (seed 001)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class CifarResNet18(nn.Module):
    """ResNet-18 for 32×32 CIFAR-10 images as seed 001 builds it: a 3×3 stride-1 stem (no
    7×7 conv, no max-pool), four stages of two basic blocks with 64/128/256/512 filters,
    global average pooling and a 10-way dense layer."""

    def __init__(self, num_classes: int = 10, block_list=(2, 2, 2, 2), width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)  # N x 64 x 32 x 32
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        in_channels = width
        for i, n_blocks in enumerate(block_list):
            out_channels = width * 2 ** i
            blocks = []
            for j in range(n_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(in_channels, out_channels, stride))
                in_channels = out_channels
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)  # N x 64 x 32 x 32
        x = self.layer2(x)  # N x 128 x 16 x 16
        x = self.layer3(x)  # N x 256 x 8 x 8
        x = self.layer4(x)  # N x 512 x 4 x 4
        return self.fc(self.flatten(self.avgpool(x)))


def cifar_resnet18(num_classes: int = 10) -> CifarResNet18:
    return CifarResNet18(num_classes=num_classes)


_BASIC_BLOCKS = (
    ("layer1.0", "basic", N_("layer1.0: identity shortcut (56×56×64)")),
    ("layer2.0", "basic", N_("layer2.0: projection shortcut (1×1 conv, stride 2, 64 → 128)")),
)

register(ModelSpec(
    name="resnet18",
    family="ResNet",
    year=2015,
    paper=_PAPER,
    description=N_("Residual learning: each block adds its input back to its output, so very deep "
                "networks train. 18 layers of basic blocks [2, 2, 2, 2]."),
    builder=models.resnet18,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="resnet18",
    tv_weights="ResNet18_Weights.IMAGENET1K_V1",
    published_top1=69.758,
    stages=_STAGES,
    gradcam_layer="layer4",
    blocks=_BASIC_BLOCKS,
))

register(ModelSpec(
    name="resnet34",
    family="ResNet",
    year=2015,
    paper=_PAPER,
    description=N_("Basic blocks [3, 4, 6, 3]: the 34-layer network of the paper's comparison "
                "with its plain twin."),
    builder=models.resnet34,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="resnet34",
    tv_weights="ResNet34_Weights.IMAGENET1K_V1",
    published_top1=73.314,
    stages=_STAGES,
    gradcam_layer="layer4",
    blocks=_BASIC_BLOCKS,
))

register(ModelSpec(
    name="resnet50",
    family="ResNet",
    year=2015,
    paper=_PAPER,
    description=N_("Bottleneck blocks [3, 4, 6, 3]: 1×1 reduce, 3×3, 1×1 expand. A block whose "
                "input and output shapes match adds its input back unchanged (the deeplearning.ai "
                "course notes call it an identity block); the first block of a stage changes the "
                "shape and adds a 1×1 projection of its input instead (a convolutional block)."),
    builder=models.resnet50,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="resnet50",
    tv_weights="ResNet50_Weights.IMAGENET1K_V2",
    published_top1=80.858,
    stages=_STAGES,
    gradcam_layer="layer4",
    blocks=(
        ("layer1.0", "bottleneck", N_("layer1.0: convolutional block (projection, 64 → 256)")),
        ("layer1.1", "bottleneck", N_("layer1.1: identity block (256 → 256)")),
    ),
))

register(ModelSpec(
    name="resnext50_32x4d",
    family="ResNet",
    year=2016,
    paper="Xie, Girshick, Dollár, Tu & He, Aggregated Residual Transformations for Deep "
          "Neural Networks, CVPR 2017 (arXiv:1611.05431)",
    description=N_("ResNet-50's bottleneck with a grouped 3×3 convolution: 32 paths of width 4 "
                "(cardinality 32) for about the same cost."),
    builder=models.resnext50_32x4d,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="resnext50_32x4d",
    tv_weights="ResNeXt50_32X4D_Weights.IMAGENET1K_V2",
    published_top1=81.198,
    stages=_STAGES,
    gradcam_layer="layer4",
    blocks=(("layer1.0", "bottleneck", N_("layer1.0: grouped bottleneck, cardinality 32")),),
))

register(ModelSpec(
    name="cifar_resnet18",
    family="ResNet",
    year=2015,
    paper=_PAPER + "; CIFAR-10 variant as built in the TensorFlow 2 notes on Inception and ResNet",
    description=N_("ResNet-18 for 32×32 CIFAR-10 images, as the TensorFlow 2 notes build it: "
                "3×3 stem, basic blocks "
                "[2, 2, 2, 2], projection shortcuts at the first block of stages 2–4."),
    builder=cifar_resnet18,
    input_size=(3, 32, 32),
    min_size=8,
    dataset="cifar10",
    num_classes=10,
    stages={1: "relu", 2: "layer2", 4: "layer3", 8: "layer4"},
    gradcam_layer="layer4",
    blocks=(
        ("layer1.0", "basic", N_("layer1.0: identity shortcut (32×32×64)")),
        ("layer2.0", "basic", N_("layer2.0: projection shortcut (stride 2, 64 → 128)")),
    ),
))
