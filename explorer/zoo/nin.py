"""Network in Network (Lin, Chen & Yan, 2013) for ImageNet, as Dive into Deep Learning builds it.

Seed 002's small MNIST version of the same idea lives in ``mnist.py`` (``mnist_nin``).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from explorer.zoo.registry import ModelSpec, register
from explorer.i18n import N_

__all__ = ["NiNBlock", "NiN", "nin", "init_weights"]

# Architecture as data: (output channels, kernel, stride, padding) of each NiN block, "M" for a
# 3×3 stride-2 max-pool and "D" for dropout; the last block's channels become num_classes.
NIN_CFG = ((96, 11, 4, 0), "M", (256, 5, 1, 2), "M", (384, 3, 1, 1), "M", "D", ("classes", 3, 1, 1))


def init_weights(model: nn.Module) -> None:
    """torchvision's initialisation for its MobileNets, shared by the ImageNet models written
    here (NiN, MobileNet v1, Xception, EfficientNet-Lite0): He-normal (fan-out) convolutions,
    unit batch norm, small normal dense weights, zero biases. PyTorch's default init shrinks the
    signal layer by layer until a deep random network answers the same for every image."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class NiNBlock(nn.Sequential):
    """One spatial convolution followed by two 1×1 convolutions, each with a ReLU: a tiny
    multi-layer perceptron slid over every pixel (the paper's "mlpconv" layer; its Caffe model
    called the 1×1 layers cccp, cascaded cross-channel parametric pooling)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: int):
        super().__init__(OrderedDict([
            ("conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)),
            ("relu", nn.ReLU()),
            ("cccp1", nn.Conv2d(out_ch, out_ch, kernel_size=1)),
            ("relu1", nn.ReLU()),
            ("cccp2", nn.Conv2d(out_ch, out_ch, kernel_size=1)),
            ("relu2", nn.ReLU()),
        ]))


class NiN(nn.Module):
    """Four NiN blocks with max-pooling between them; the last block outputs one map per class
    and global average pooling turns each map into that class's score, so there is no dense
    layer at all (AlexNet's three dense layers held 58 M of its 61 M parameters)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 cfg=NIN_CFG):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = in_channels
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            elif item == "D":
                layers.append(nn.Dropout(dropout))
            else:
                out_ch, k, s, p = item
                out_ch = num_classes if out_ch == "classes" else out_ch
                layers.append(NiNBlock(in_ch, out_ch, k, s, p))
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 224 input: block 1 -> N x 96 x 54 x 54, pool -> 26, block 2 -> N x 256 x 26 x 26,
        # pool -> 12, block 3 -> N x 384 x 12 x 12, pool -> 5, block 4 -> N x 1000 x 5 x 5
        x = self.features(x)
        return self.flatten(self.avgpool(x))  # N x 1000 logits


def nin(num_classes: int = 1000) -> NiN:
    return NiN(num_classes=num_classes)


register(ModelSpec(
    name="nin",
    family="NiN",
    year=2013,
    paper="Lin, Chen & Yan, Network In Network, ICLR 2014 (arXiv:1312.4400); layer sizes as in "
          "Zhang et al., Dive into Deep Learning, §8.3",
    description=N_("Replaces each convolution by a micro network: a convolution followed by two "
                "1×1 convolutions, i.e. a small MLP applied at every pixel across channels. "
                "The last block emits one feature map per class and global average pooling "
                "replaces the dense classifier. The 1×1 convolution reappears in GoogLeNet, "
                "ResNet's bottleneck and MobileNet. No pretrained weights exist for this layout."),
    builder=nin,
    input_size=(3, 224, 224),
    min_size=67,
    dataset="imagenet",
    num_classes=1000,
    weight_sources=(),
    stages={4: "features.0", 8: "features.1", 16: "features.3", 32: "features.5"},
    gradcam_layer="features.7",
    blocks=(
        ("features.0", "nin", N_("features.0: 11×11 stride 4 conv (3 → 96) + two 1×1 convs")),
        ("features.2", "nin", N_("features.2: 5×5 conv (96 → 256) + two 1×1 convs")),
        ("features.7", "nin", N_("features.7: 3×3 conv to one map per class + two 1×1 convs")),
    ),
))
