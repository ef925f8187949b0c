"""Standalone blocks: the real classes, configured from an input shape (H, W, C) and settings.

Each block kind of :data:`explorer.zoo.BLOCK_KINDS` has one or more :class:`Variant` (a default
input, its settings as :class:`Field`, a builder). The builders reuse the real classes:
torchvision's ``Inception``, ``InceptionC``/``InceptionE``, ``BasicBlock``, ``Bottleneck``,
``_DenseBlock``, ``_Transition``, ``InvertedResidual`` and ``ASPP``, and the zoo's ``NiNBlock``,
``DepthwiseSeparableConv``, ``XceptionBlock`` and ``MBConvBlock``. Settings a user types are
checked (:func:`build_standalone` raises :class:`BlockConfigError` with a message to act on).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from explorer.analysis.blocks.steps import BlockConfigError
from explorer.i18n import N_, _
from explorer.zoo import rng

__all__ = ["Field", "Variant", "PointwiseConv", "standalone_forms", "find_variant",
           "build_standalone"]


@dataclass(frozen=True)
class Field:
    """One setting of a standalone block (an int, or a comma-separated list of ints)."""

    name: str
    label: str
    default: int | str
    min: int = 1
    max: int = 4096
    help: str = ""

    @property
    def is_list(self) -> bool:
        return isinstance(self.default, str)


@dataclass(frozen=True)
class Variant:
    name: str
    hwc: tuple[int, int, int]  # default input (H, W, C)
    fields: tuple[Field, ...]
    build: Callable[..., nn.Module]  # build(C, **settings) -> module
    cls: type  # the class whose source the page shows
    note: str = ""


class PointwiseConv(nn.Module):
    """A 1×1 convolution and a ReLU: a fully connected layer applied at every pixel, mixing
    channels without looking at neighbours. With fewer output than input channels it is the
    "reduction" that makes Inception affordable (28×28×192 → 16 costs 2,408,448 MACs and cuts a
    following 5×5 convolution ten-fold, seed 000)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))  # N x out_ch x H x W: same grid, new channels


def _tv():
    """torchvision's model modules (``torchvision.models.googlenet`` is shadowed by the builder
    function of the same name, hence import_module)."""
    from importlib import import_module

    return tuple(import_module(f"torchvision.models.{m}") for m in (
        "googlenet", "inception", "resnet", "densenet", "mobilenetv2", "segmentation.deeplabv3"))


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


def _basic(c, planes, stride):
    resnet = _tv()[2]
    return resnet.BasicBlock(c, planes, stride, _downsample(c, planes, stride))


def _bottleneck(c, planes, stride, groups=1, base_width=64):
    resnet = _tv()[2]
    out = planes * resnet.Bottleneck.expansion
    return resnet.Bottleneck(c, planes, stride, _downsample(c, out, stride), groups, base_width)


def _inception_v1(c, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    return _tv()[0].Inception(c, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)


def _inception_c(c, channels_7x7):
    return _tv()[1].InceptionC(c, channels_7x7)


def _inception_e(c):
    return _tv()[1].InceptionE(c)


def _dense(c, num_layers, growth_rate, bn_size):
    return _tv()[3]._DenseBlock(num_layers, c, bn_size, growth_rate, drop_rate=0.0)


def _transition(c, out_channels):
    return _tv()[3]._Transition(c, out_channels)


def _inverted_residual(c, out_channels, stride, expand_ratio):
    return _tv()[4].InvertedResidual(c, out_channels, stride, expand_ratio)


def _mbconv(c, out_channels, expand_ratio, kernel_size, stride):
    from explorer.zoo.efficientnet_lite import MBConvBlock

    return MBConvBlock(c, out_channels, expand_ratio, kernel_size, stride)


def _depthwise_separable(c, out_channels, stride):
    from explorer.zoo.mobilenet import DepthwiseSeparableConv

    return DepthwiseSeparableConv(c, out_channels, stride)


def _xception(c, channels, stride):
    from explorer.zoo.xception import XceptionBlock

    return XceptionBlock(c, tuple(channels), stride, start_with_relu=True)


def _nin(c, out_channels, kernel_size, stride):
    from explorer.zoo.nin import NiNBlock

    return NiNBlock(c, out_channels, kernel_size, stride, kernel_size // 2)


def _aspp(c, atrous_rates, out_channels):
    return _tv()[5].ASPP(c, tuple(atrous_rates), out_channels)


def standalone_forms() -> dict[str, list[Variant]]:
    """For each block kind, its standalone variants: default input, settings and builder."""
    googlenet, inception, resnet, densenet, mobilenetv2, deeplabv3 = _tv()
    from explorer.zoo.efficientnet_lite import MBConvBlock
    from explorer.zoo.mobilenet import DepthwiseSeparableConv
    from explorer.zoo.nin import NiNBlock
    from explorer.zoo.xception import XceptionBlock

    # Variant names and field labels are marked with N_ and shown with _(): the English name
    # is the widget's value, so a language switch keeps the choice.
    out = lambda d, lab=N_("Output channels"): Field("out_channels", lab, d)  # noqa: E731
    stride = lambda d=1: Field("stride", N_("Stride"), d, 1, 4)  # noqa: E731
    return {
        "nin": [
            Variant(N_("NiN block (k×k conv + two 1×1 convs, nin features.2)"), (26, 26, 96),
                    (out(256), Field("kernel_size", N_("Kernel size k"), 5, 1, 11),
                     stride()), _nin, NiNBlock),
            Variant(N_("1×1 convolution (channel reduction, 192 → 16)"), (28, 28, 192),
                    (out(16),), lambda c, out_channels: PointwiseConv(c, out_channels),
                    PointwiseConv),
        ],
        "inception_v1": [
            Variant(N_("GoogLeNet inception3a (192 → 64, 96→128, 16→32, pool→32)"),
                    (28, 28, 192),
                    (Field("ch1x1", N_("Branch 1: 1×1 channels"), 64),
                     Field("ch3x3red", N_("Branch 2: 1×1 reduce to"), 96),
                     Field("ch3x3", N_("Branch 2: 3×3 channels"), 128),
                     Field("ch5x5red", N_("Branch 3: 1×1 reduce to"), 16),
                     Field("ch5x5", N_("Branch 3: 3×3 channels (paper: 5×5)"), 32),
                     Field("pool_proj", N_("Branch 4: pool then 1×1 channels"), 32)),
                    _inception_v1, googlenet.Inception,
                    N_("torchvision's GoogLeNet uses a 3×3 convolution where the paper has "
                       "5×5.")),
        ],
        "inception_v3": [
            Variant(N_("1×7 then 7×1 (InceptionC, Mixed_6b)"), (17, 17, 768),
                    (Field("channels_7x7", N_("Channels inside the 7×7 branches"), 128),),
                    _inception_c, inception.InceptionC),
            Variant(N_("1×3 and 3×1 in parallel (InceptionE, Mixed_7b)"), (8, 8, 1280), (),
                    _inception_e, inception.InceptionE,
                    N_("InceptionE's branch widths (320, 384, 448, 192) are fixed by "
                       "torchvision.")),
        ],
        "basic": [
            Variant(N_("identity shortcut (resnet18 layer1.0)"), (56, 56, 64),
                    (Field("planes", N_("Output channels"), 64), stride()), _basic,
                    resnet.BasicBlock,
                    N_("A 1×1 projection shortcut is added automatically when stride ≠ 1 or "
                       "the channels change.")),
            Variant(N_("projection shortcut (resnet18 layer2.0, stride 2)"), (56, 56, 64),
                    (Field("planes", N_("Output channels"), 128), stride(2)), _basic,
                    resnet.BasicBlock),
        ],
        "bottleneck": [
            Variant(N_("ResNet-50 convolutional block (layer1.0, 64 → 256)"), (56, 56, 64),
                    (Field("planes", N_("Bottleneck width (output = 4 ×)"), 64), stride()),
                    _bottleneck, resnet.Bottleneck),
            Variant(N_("ResNet-50 identity block (layer1.1, 256 → 256)"), (56, 56, 256),
                    (Field("planes", N_("Bottleneck width (output = 4 ×)"), 64), stride()),
                    _bottleneck, resnet.Bottleneck),
            Variant(N_("ResNeXt grouped bottleneck (32 groups × width 4)"), (56, 56, 64),
                    (Field("planes", N_("Planes (output = 4 ×)"), 64), stride(),
                     Field("groups", N_("Cardinality (groups)"), 32, 1, 256),
                     Field("base_width", N_("Width per group"), 4, 1, 256)),
                    _bottleneck, resnet.Bottleneck),
        ],
        "dense": [
            Variant(N_("DenseNet-121 dense block 1 (6 layers, growth 32)"), (56, 56, 64),
                    (Field("num_layers", N_("Layers"), 6, 1, 48),
                     Field("growth_rate", N_("Growth rate k"), 32),
                     Field("bn_size", N_("Bottleneck factor (1×1 conv to factor × k)"), 4, 1,
                           16)),
                    _dense, densenet._DenseBlock),
        ],
        "transition": [
            Variant(N_("DenseNet-121 transition 1 (256 → 128, 56 → 28)"), (56, 56, 256),
                    (out(128),), _transition, densenet._Transition),
        ],
        "depthwise_separable": [
            Variant(N_("MobileNet v1 layer (32 → 64, mobilenet_v1 features.1)"),
                    (112, 112, 32),
                    (out(64), stride()), _depthwise_separable, DepthwiseSeparableConv),
            Variant(N_("the Q&A notes' example (16 → 32)"), (56, 56, 16),
                    (out(32), stride()), _depthwise_separable, DepthwiseSeparableConv),
        ],
        "xception": [
            Variant(N_("middle flow (three separable convs, identity shortcut)"),
                    (19, 19, 728),
                    (Field("channels", N_("Separable conv output channels (comma-separated)"),
                           "728, 728, 728"), stride()),
                    _xception, XceptionBlock),
            Variant(N_("entry flow (two separable convs, max-pool, 1×1 stride-2 shortcut)"),
                    (74, 74, 128),
                    (Field("channels", N_("Separable conv output channels (comma-separated)"),
                           "256, 256"), stride(2)),
                    _xception, XceptionBlock),
        ],
        "inverted_residual": [
            Variant(N_("MobileNet v2 (features.3: 24 → 144 → 24, residual)"), (56, 56, 24),
                    (out(24), stride(), Field("expand_ratio", N_("Expansion t"), 6, 1, 16)),
                    _inverted_residual, mobilenetv2.InvertedResidual),
            Variant(N_("EfficientNet-Lite0 MBConv (features.3.1: 5×5 depthwise)"),
                    (28, 28, 40),
                    (out(40), Field("expand_ratio", N_("Expansion t"), 6, 1, 16),
                     Field("kernel_size", N_("Depthwise kernel"), 5, 1, 9), stride()),
                    _mbconv, MBConvBlock),
        ],
        "aspp": [
            Variant(N_("DeepLab v3 ASPP (rates 12, 24, 36, image pooling)"), (33, 33, 256),
                    (Field("atrous_rates", N_("Atrous rates (comma-separated)"), "12, 24, 36"),
                     out(256)),
                    _aspp, deeplabv3.ASPP,
                    N_("The zoo has no DeepLab; the real ASPP comes from torchvision's "
                       "deeplabv3_mobilenet_v3_large with random weights.")),
        ],
    }


def find_variant(kind: str, variant: str | int | None) -> Variant:
    """The variant of ``kind`` named ``variant`` (its English name) or at that index; the first
    when ``variant`` is None. :class:`BlockConfigError` for an unknown kind or variant."""
    forms = standalone_forms()
    if kind not in forms:
        raise BlockConfigError(f"Unknown block kind {kind!r}; choose one of {', '.join(forms)}.")
    variants = forms[kind]
    if variant is None:
        return variants[0]
    if isinstance(variant, int):
        return variants[variant]
    for v in variants:
        if v.name == variant:
            return v
    raise BlockConfigError(f"{kind} has no variant {variant!r}.")


def _parse_settings(var: Variant, settings: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in var.fields:
        raw = settings.get(f.name, f.default)
        if f.is_list:
            try:
                items = [int(s) for s in str(raw).replace(";", ",").split(",") if s.strip()]
            except ValueError:
                raise BlockConfigError(
                    _("{field}: write whole numbers separated by commas, e.g. {example}.")
                    .format(field=_(f.label), example=f.default)) from None
            if not items:
                raise BlockConfigError(_("{field}: give at least one number.").format(
                    field=_(f.label)))
            bad = [i for i in items if not f.min <= i <= f.max]
            if bad:
                raise BlockConfigError(_("{field}: every value must be between {lo} and {hi} "
                                         "(got {bad}).").format(
                    field=_(f.label), lo=f.min, hi=f.max, bad=", ".join(map(str, bad))))
            values[f.name] = items
        else:
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise BlockConfigError(_("{field} must be a whole number (got {value}).").format(
                    field=_(f.label), value=repr(raw))) from None
            if not f.min <= value <= f.max:
                raise BlockConfigError(_("{field} must be between {lo} and {hi} (got {value}).")
                                       .format(field=_(f.label), lo=f.min, hi=f.max,
                                               value=value))
            values[f.name] = value
    return values


def _check_input(h: int, w: int, c: int) -> None:
    for name, v, hi in (("H", h, 1024), ("W", w, 1024), (_("C (input channels)"), c, 4096)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise BlockConfigError(_("{field} must be a whole number (got {value}).").format(
                field=name, value=repr(v)))
        if not 1 <= v <= hi:
            raise BlockConfigError(_("{field} must be between {lo} and {hi} (got {value}).")
                                   .format(field=name, lo=1, hi=hi, value=v))


def build_standalone(kind: str, variant: str | int | None = None, h: int | None = None,
                     w: int | None = None, c: int | None = None, device: str | torch.device = "cpu",
                     **settings) -> tuple[nn.Module, tuple[int, int, int]]:
    """The block ``kind`` (in its ``variant``), built from the real class for an input of
    C×H×W, in eval mode with random weights. Returns ``(module, (C, H, W))``; raises
    :class:`BlockConfigError` for settings that cannot make a block."""
    var = find_variant(kind, variant)
    dh, dw, dc = var.hwc
    h, w, c = (dh if h is None else h), (dw if w is None else w), (dc if c is None else c)
    _check_input(h, w, c)
    values = _parse_settings(var, settings)
    try:
        with torch.device(device), rng.seeded(0):  # reproducible, global generator untouched
            module = var.build(c, **values)
    except (ValueError, RuntimeError, AssertionError, ZeroDivisionError) as exc:
        raise BlockConfigError(f"These settings cannot make a {kind} block: {exc}") from None
    return module.eval(), (c, h, w)


