"""Block walkthroughs: the classic CNN building blocks, one operation at a time.

For every block kind of :data:`explorer.zoo.BLOCK_KINDS` this module can

* build the block **standalone** from an input shape (H, W, C) and channel settings
  (:func:`standalone_forms`, :func:`build_standalone`), reusing the real classes: torchvision's
  ``Inception``, ``InceptionC``/``InceptionE``, ``BasicBlock``, ``Bottleneck``, ``_DenseBlock``,
  ``_Transition``, ``InvertedResidual`` and ``ASPP``, and the zoo's ``NiNBlock``,
  ``DepthwiseSeparableConv``, ``XceptionBlock`` and ``MBConvBlock``;
* find it **in a real model** (the zoo specs' ``blocks``, plus DeepLab v3's ASPP, which the zoo
  does not have: :func:`real_blocks`);
* list its **steps** in execution order (:func:`trace_module`, :func:`trace_standalone`,
  :func:`trace_real`): every leaf module the forward pass calls, plus the functional operations
  the block's own ``forward`` performs (``torch.cat``, ``out + identity``, ``F.relu``,
  ``F.avg_pool2d``, ``F.interpolate``), each with its input and output shapes, parameters, MACs,
  the tensors it consumed (so the diagram's edges are the real data flow) and its branch;
* **capture** the real activations of each step for an image (:func:`capture_steps`), leaving
  the shared cached model untouched;
* compare the block with its **naive alternative** (:func:`cost_panel`), computed from real
  ``nn.Conv2d`` modules, reproducing the seed documents' figures exactly;
* draw the block as **DOT** text with the current step highlighted (:func:`block_dot`) and show
  the **source** of its class (:func:`block_source`).

Conventions: shapes are written C×H×W (batch dropped). MACs = multiply-accumulates of conv and
linear layers (as torchvision's ``_ops``); FLOPs = 2 × MACs. "Parameters" are ``p.numel()``
summed over ``parameters()`` (batch-norm running statistics are buffers, not parameters).

How steps are found. Hooks on every submodule of the block (a forward pre-hook and a forward
hook) keep a stack of the modules being executed and record each *leaf* module when it returns.
Merges are not modules in torchvision (``torch.cat(outputs, 1)``, ``out += identity``), so a
:class:`torch.overrides.TorchFunctionMode`, active only while the block runs, records the
functions from a short list (concatenation, addition, functional activations and pooling) when
they are called *outside* a leaf module. Each recorded step remembers which earlier step
produced each of its input tensors (by tensor identity), which gives the real data-flow graph;
branches are then named from that graph: the branches of a merge are the steps that feed only
one of its inputs (see :func:`_label_branches`).

Sharing the cached model (STYLE.md). :func:`capture_steps` hooks the model only inside a
context manager that removes every handle in ``finally``. Two guards make the hooks safe on a
model that other browser sessions use at the same time: (1) a lock kept beside the model (a
``WeakKeyDictionary`` from model to lock) serialises captures on that model, and (2) every hook
checks the thread that installed it and does nothing in any other thread, so another session's
forward pass on the same model is neither recorded nor stopped. The function mode is
thread-local in PyTorch, so it never sees other threads. Nothing else is touched: no mode change,
no gradient (``torch.inference_mode``), no parameter or buffer write.
"""
from __future__ import annotations

import inspect
import re
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from explorer import zoo

from explorer.zoo import rng
from explorer.i18n import N_, _, get_language

__all__ = [
    "BlockConfigError",
    "Field",
    "Variant",
    "Step",
    "BlockTrace",
    "StepActivation",
    "Cost",
    "RealBlock",
    "standalone_forms",
    "build_standalone",
    "trace_module",
    "trace_standalone",
    "trace_real",
    "real_blocks",
    "real_block_module",
    "external_model",
    "capture_steps",
    "capture_trace",
    "capture_image",
    "branch_stats",
    "block_dot",
    "cost_panel",
    "cost_same_shapes",
    "block_source",
    "colorize",
    "fmt_shape",
    "fmt_int",
]

MACS_NOTE = N_("MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 × MACs.")
# Step.op stays a short English identifier ("add" and "concat" are compared in code); the page
# and the diagram show it through op_label().
OP_NAMES = {"batch norm": N_("batch norm"), "global avg-pool": N_("global avg-pool"),
            "global max-pool": N_("global max-pool"), "global pool": N_("global pool"),
            "max-pool": N_("max-pool"), "avg-pool": N_("avg-pool"), "concat": N_("concat"),
            "add": N_("add"), "multiply": N_("multiply"), "linear": N_("linear"),
            "dropout": N_("dropout"), "upsample": N_("upsample"), "flatten": N_("flatten"),
            "pad": N_("pad"), "sigmoid": N_("sigmoid"), "conv": N_("conv")}
MAIN_PATH, MERGE, AFTER_MERGE = N_("main path"), N_("merge"), N_("after the merge")


def op_label(op: str) -> str:
    """A step's short operation name in the UI language ("max-pool 3×3/2" -> "最大池化 3×3/2")."""
    for name in sorted(OP_NAMES, key=len, reverse=True):
        if op == name or op.startswith(name + " "):
            return _(OP_NAMES[name]) + op[len(name):]
    return op


class BlockConfigError(ValueError):
    """Settings that cannot make the block (negative channels, an input too small...), with a
    message a user can act on."""


# --------------------------------------------------------------------------------------------
# Small formatting helpers


def fmt_int(n: int | float) -> str:
    return f"{int(n):,}"


def fmt_shape(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _chw(t: torch.Tensor) -> tuple[int, ...]:
    """Shape without the batch dimension: (C, H, W) for images, (F,) for vectors."""
    return tuple(int(s) for s in t.shape[1:])


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


# --------------------------------------------------------------------------------------------
# Data


@dataclass
class Step:
    """One operation of a block, in execution order."""

    index: int  # 0-based position in execution order
    name: str  # module path inside the block ("branch2.0.conv") or "<where> · F.relu"
    path: str  # module path of the leaf, or of the module whose forward called the function
    op: str  # short name: "conv 3×3", "batch norm", "ReLU", "concat", "add", ...
    kind: str  # "module", "function" or "merge"
    type: str  # class name ("Conv2d") or function ("torch.cat")
    hyper: dict[str, Any]  # kernel, stride, padding, dilation, groups, channels, ...
    detail: str  # one line of text describing the operation and its settings
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    inputs: list[int]  # index of the step that produced each input; -1 = the block's input
    token: str = ""  # compact kernel description for branch labels ("3×3/2", "1×1")
    merge_text: str | None = None  # shape arithmetic at a merge
    branch: str = MAIN_PATH  # translated when the trace is made


@dataclass
class BlockTrace:
    """The steps of one block for one input shape."""

    kind: str
    title: str
    class_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    steps: list[Step]
    params_total: int  # sum(p.numel() for p in block.parameters())
    macs_total: int
    branches: list[str]  # branch labels in order of appearance
    source_class: type | None = None  # the block's class, for block_source
    notes: list[str] = field(default_factory=list)

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per step, for a table."""
        return [{
            "step": s.index + 1, "name": s.name, "operation": op_label(s.op), "branch": s.branch,
            "input": " + ".join(fmt_shape(x) for x in s.input_shapes),
            "output": fmt_shape(s.output_shape), "params": s.params, "MACs": s.macs,
        } for s in self.steps]


@dataclass
class StepActivation:
    """What one step produced for a real image: a few channels, the channel mean, statistics."""

    index: int
    name: str
    branch: str
    shape: tuple[int, ...]
    channels: list[tuple[int, np.ndarray]]  # (channel index, H×W map), most varied first
    mean_map: np.ndarray  # H×W, mean over channels
    stats: dict[str, float]  # mean, std, min, max, zero (fraction of exact zeros)


# --------------------------------------------------------------------------------------------
# Standalone blocks: the real classes, configured from (H, W, C) and channel settings


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


def _variant(kind: str, variant: str | int | None) -> Variant:
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
    var = _variant(kind, variant)
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


# --------------------------------------------------------------------------------------------
# Tracing: leaf modules by hooks, functional merges by a TorchFunctionMode

_ADD = {"add", "add_", "__add__", "__radd__", "__iadd__"}
_CAT = {"cat", "concat", "concatenate"}
_MUL = {"mul", "mul_", "__mul__", "__rmul__", "__imul__"}
_FUNCS = {
    "relu": "ReLU", "relu_": "ReLU", "relu6": "ReLU6", "hardtanh": "ReLU6 (hardtanh)",
    "hardtanh_": "ReLU6 (hardtanh)", "sigmoid": "sigmoid", "silu": "SiLU", "gelu": "GELU",
    "hardswish": "hard-swish", "hardsigmoid": "hard-sigmoid",
    "avg_pool2d": "avg-pool", "max_pool2d": "max-pool", "adaptive_avg_pool2d": "global avg-pool",
    "adaptive_max_pool2d": "global max-pool", "interpolate": "upsample", "flatten": "flatten",
    "dropout": "dropout", "pad": "pad", "conv2d": "conv", "batch_norm": "batch norm",
    "linear": "linear",
}


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the block's input is known."""

    def __init__(self, value):
        super().__init__("stop")
        self.value = value


def _flat_tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _flat_tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _flat_tensors(o)]
    return []


def _conv_token(m: nn.Conv2d) -> str:
    kh, kw = _pair(m.kernel_size)
    tok = f"{kh}×{kw}"
    if _pair(m.stride)[0] > 1:
        tok += f"/{_pair(m.stride)[0]}"
    if m.groups > 1 and m.groups == m.in_channels:
        tok += " dw"
    elif m.groups > 1:
        tok += f" g{m.groups}"
    if _pair(m.dilation)[0] > 1:
        tok += f" r{_pair(m.dilation)[0]}"
    return tok


def _describe_module(m: nn.Module, x_in: tuple | None, out_shape: tuple) -> tuple[str, dict, str, str]:
    """(short op name, hyper-parameters, one-line detail, token) of a leaf module."""
    name = type(m).__name__
    if isinstance(m, nn.Conv2d):
        kh, kw = _pair(m.kernel_size)
        hyper = {"kernel": f"{kh}×{kw}", "stride": _pair(m.stride)[0] if _pair(m.stride)[0] ==
                 _pair(m.stride)[1] else _pair(m.stride), "padding": m.padding if
                 isinstance(m.padding, str) else (_pair(m.padding)[0] if _pair(m.padding)[0] ==
                 _pair(m.padding)[1] else _pair(m.padding)),
                 "dilation": _pair(m.dilation)[0], "groups": m.groups,
                 "in_channels": m.in_channels, "out_channels": m.out_channels,
                 "bias": m.bias is not None}
        kind = ""
        if m.groups > 1 and m.groups == m.in_channels:
            kind = " " + _("depthwise (one filter per channel)")
        elif m.groups > 1:
            kind = " " + _("grouped ({groups} groups of {channels} channels)").format(
                groups=m.groups, channels=m.in_channels // m.groups)
        elif (kh, kw) == (1, 1):
            kind = " " + _("pointwise (mixes channels at each pixel)")
        detail = (_("Conv2d {kernel}, stride {stride}, padding {padding}").format(
                      kernel=f"{kh}×{kw}", stride=hyper["stride"], padding=hyper["padding"])
                  + (_(", dilation {dilation}").format(dilation=hyper["dilation"])
                     if hyper["dilation"] > 1 else "")
                  + (_(", groups {groups}").format(groups=m.groups) if m.groups > 1 else "")
                  + _(", {cin} → {cout} channels").format(cin=m.in_channels, cout=m.out_channels)
                  + kind + ("" if m.bias is not None else _(", no bias")))
        op = f"conv {_conv_token(m)}"
        return op, hyper, detail, _conv_token(m)
    if isinstance(m, nn.BatchNorm2d):
        return ("batch norm", {"channels": m.num_features, "eps": m.eps},
                _("BatchNorm2d over {channels} channels: normalise with the running "
                  "statistics, then scale γ and shift β per channel").format(
                    channels=m.num_features), "")
    if isinstance(m, (nn.ReLU6, nn.Hardtanh)):
        return "ReLU6", {}, "ReLU6: max(0, min(x, 6))", ""
    if isinstance(m, nn.ReLU):
        return "ReLU", {}, _("ReLU: max(0, x), negative values become 0"), ""
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
        what = "max-pool" if isinstance(m, nn.MaxPool2d) else "avg-pool"
        hyper = {"kernel": f"{k[0]}×{k[1]}", "stride": s[0], "padding": p[0],
                 "ceil_mode": m.ceil_mode}
        return (f"{what} {k[0]}×{k[1]}" + (f"/{s[0]}" if s[0] > 1 else ""), hyper,
                _("{type} {kernel}, stride {stride}, padding {padding}").format(
                    type=type(m).__name__, kernel=f"{k[0]}×{k[1]}", stride=s[0], padding=p[0])
                + (_(", ceil mode") if m.ceil_mode else "") + " " + _("(per channel, no weights)"),
                f"{what} {k[0]}×{k[1]}" + (f"/{s[0]}" if s[0] > 1 else ""))
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return ("global pool", {"output_size": m.output_size},
                _("{type} to {size}: one number per channel (image-level context)").format(
                    type=name, size=m.output_size),
                "global pool")
    if isinstance(m, nn.Linear):
        return ("linear", {"in_features": m.in_features, "out_features": m.out_features},
                f"Linear {m.in_features} → {m.out_features}", "fc")
    if isinstance(m, nn.Dropout):
        return "dropout", {"p": m.p}, _("Dropout p = {p} (does nothing in eval mode)").format(
            p=m.p), ""
    extra = m.extra_repr()
    return name, {}, f"{name}({extra})" if extra else name, ""


def _module_macs(m: nn.Module, out: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        kh, kw = _pair(m.kernel_size)
        return int(_numel(out) // out.shape[0] * (m.in_channels // m.groups) * kh * kw)
    if isinstance(m, nn.Linear):
        return int(_numel(out) // out.shape[0] * m.in_features)
    return 0


def _numel(t: torch.Tensor) -> int:
    n = 1
    for s in t.shape:
        n *= int(s)
    return n


def _arg(args, kwargs, i, name, default=None):
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _summarise(t: torch.Tensor, k: int = 4) -> tuple[list, np.ndarray, dict]:
    """A few channels, the channel mean and statistics of one activation, computed at once (an
    in-place operation may overwrite the tensor next). NumPy, single-threaded: tiny tensors
    reduce faster there than through torch's thread pool on a busy CPU."""
    a = t.detach()[0].float().cpu().numpy()
    if a.ndim == 1:
        a = a[:, None, None]
    elif a.ndim == 2:
        a = a[None]
    flat = a.reshape(a.shape[0], -1)
    spread = flat.std(1) if flat.shape[1] > 1 else np.abs(flat[:, 0])
    order = np.argsort(-spread, kind="stable")
    chans = [(int(i), a[int(i)].copy()) for i in order[:k]]
    stats = {"mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()),
             "max": float(flat.max()), "zero": float(np.count_nonzero(flat == 0) / flat.size)}
    return chans, a.mean(0), stats


class _Tracer(TorchFunctionMode):
    """Records the steps of one block's forward pass (see the module docstring)."""

    def __init__(self, block: nn.Module, summarise: bool = False):
        super().__init__()
        self.block = block
        self.summarise = summarise
        self.thread = threading.get_ident()
        self.steps: list[Step] = []
        self.acts: list[tuple[list, np.ndarray, dict]] = []
        self.producer: dict[int, int] = {}
        self._alive: list[torch.Tensor] = []  # keeps ids unique while tracing
        self.stack: list[str] = []
        self.leaf_depth = 0
        self.busy = False
        self.counted: set[int] = set()

    # hooks ----------------------------------------------------------------------------------
    def pre(self, path: str, leaf: bool, module, args):
        if threading.get_ident() != self.thread:
            return None
        self.stack.append(path)
        if leaf:
            self.leaf_depth += 1
        return None

    def post(self, path: str, leaf: bool, module, args, output):
        if threading.get_ident() != self.thread:
            return None
        if self.stack:
            self.stack.pop()
        if not leaf:
            return None
        self.leaf_depth -= 1
        out = _flat_tensors(output)
        if not out:
            return None
        self.busy = True
        try:
            ins = _flat_tensors(args)
            op, hyper, detail, token = _describe_module(module, None, _chw(out[0]))
            params = 0
            if id(module) not in self.counted:
                self.counted.add(id(module))
                params = sum(p.numel() for p in module.parameters())
            self._record(path or type(module).__name__, path, op, "module", type(module).__name__,
                         hyper, detail, ins, out[0], params, _module_macs(module, out[0]), token)
        finally:
            self.busy = False
        return None

    # functions ------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if self.leaf_depth or self.busy or not (name in _FUNCS or name in _ADD or name in _CAT
                                                 or name in _MUL):
            return func(*args, **kwargs)
        ins = _flat_tensors(args[0]) if name in _CAT else _flat_tensors(list(args))
        ins_shapes = [tuple(t.shape) for t in ins]  # before an in-place op changes anything
        result = func(*args, **kwargs)
        out = _flat_tensors(result)
        if not out or not ins:
            return result
        self.busy = True
        try:
            where = self.stack[-1] if self.stack else ""
            self._record_function(name, where, args, kwargs, ins, ins_shapes, out[0])
        finally:
            self.busy = False
        return result

    def _record_function(self, name, where, args, kwargs, ins, ins_shapes, out):
        shapes = [s[1:] for s in ins_shapes]
        hyper: dict[str, Any] = {}
        token = ""
        merge_text = None
        if name in _CAT and len(ins) >= 1:
            dim = _arg(args, kwargs, 1, "dim", 0)
            kind, op, ftype = "merge", "concat", "torch.cat"
            hyper = {"dim": dim, "inputs": len(ins)}
            if dim in (1, -3) and all(len(s) == 3 for s in shapes):
                parts = "+".join(str(s[0]) for s in shapes)
                spatial = {fmt_shape(s[1:]) for s in shapes}
                merge_text = (_("concat: {parts} = {channels} channels").format(
                    parts=parts, channels=_chw(out)[0])
                              + (" " + _("(every input {shape}: spatial sizes must match)")
                                 .format(shape=spatial.pop()) if len(spatial) == 1 else ""))
            else:
                merge_text = _("concat along dim {dim}: {inputs} → {output}").format(
                    dim=dim, inputs=" ‖ ".join(map(fmt_shape, shapes)),
                    output=fmt_shape(_chw(out)))
            detail = _("Concatenate along the channel axis: the branches' feature maps are "
                       "stacked, nothing is added or mixed")
        elif name in _ADD and len(ins) >= 2:
            kind, op, ftype = "merge", "add", "torch.add" if "_" not in name[:2] else "+"
            ftype = "in-place +=" if name in ("add_", "__iadd__") else "+"
            merge_text = _("add: {inputs} → {output} (shapes must match)").format(
                inputs=" + ".join(map(fmt_shape, shapes)), output=fmt_shape(_chw(out)))
            detail = _("Element-wise sum of the two paths (the residual connection)")
        elif name in _MUL and len(ins) >= 2:
            kind, op, ftype = "merge", "multiply", "*"
            merge_text = _("multiply: {inputs} → {output} (broadcast)").format(
                inputs=" × ".join(map(fmt_shape, shapes)), output=fmt_shape(_chw(out)))
            detail = _("Element-wise product (gating)")
        elif name in _FUNCS:
            kind, ftype = "function", f"F.{name}"
            op = _FUNCS[name]
            if name in ("avg_pool2d", "max_pool2d"):
                k = _pair(_arg(args, kwargs, 1, "kernel_size"))
                s = _arg(args, kwargs, 2, "stride", None)
                s = _pair(s if s not in (None, []) else k)[0]
                p = _pair(_arg(args, kwargs, 3, "padding", 0))[0]
                hyper = {"kernel": f"{k[0]}×{k[1]}", "stride": s, "padding": p}
                op = f"{op} {k[0]}×{k[1]}" + (f"/{s}" if s > 1 else "")
                token = op
                detail = _("F.{function}, kernel {kernel}, stride {stride}, padding {padding} "
                           "(called in the block's forward, not a module)").format(
                    function=name, kernel=f"{k[0]}×{k[1]}", stride=s, padding=p)
            elif name == "interpolate":
                hyper = {"size": _arg(args, kwargs, 1, "size"),
                         "mode": _arg(args, kwargs, 3, "mode", "nearest")}
                detail = _("F.interpolate to {size} ({mode}): spread the pooled vector back "
                           "over the whole grid").format(size=fmt_shape(_chw(out)[1:]),
                                                         mode=hyper["mode"])
                token = "upsample"
            else:
                detail = _("F.{function} (called in the block's forward, not a module)").format(
                    function=name)
        else:  # an add or multiply with a scalar: a plain function step
            kind, op, ftype = "function", name.strip("_"), name
            detail = _("{function} with a constant").format(function=name)
        label = f"{where} · {op if kind == 'merge' else 'F.' + name}" if where else (
            op if kind == "merge" else f"F.{name}")
        self._record(label, where, op, kind, ftype, hyper, detail, ins, out, 0, 0, token,
                     merge_text, shapes)

    def _record(self, name, path, op, kind, ftype, hyper, detail, ins, out, params, macs, token,
                merge_text=None, in_shapes=None):
        inputs = [self.producer[id(t)] for t in ins if id(t) in self.producer]
        step = Step(index=len(self.steps), name=name, path=path, op=op, kind=kind, type=ftype,
                    hyper=hyper, detail=detail,
                    input_shapes=in_shapes if in_shapes is not None else [_chw(t) for t in ins],
                    output_shape=_chw(out), params=int(params), macs=int(macs), inputs=inputs,
                    token=token, merge_text=merge_text)
        self.steps.append(step)
        self.producer[id(out)] = step.index
        self._alive.append(out)
        if self.summarise and out.device.type != "meta":
            self.acts.append(_summarise(out))


@contextmanager
def _tracing(block: nn.Module, summarise: bool = False) -> Iterator[_Tracer]:
    """Hooks on every submodule of ``block`` and the function mode, removed in ``finally``."""
    tracer = _Tracer(block, summarise)
    handles = []
    try:
        for path, m in block.named_modules():
            leaf = next(iter(m.children()), None) is None
            handles.append(m.register_forward_pre_hook(partial(tracer.pre, path, leaf)))
            handles.append(m.register_forward_hook(partial(tracer.post, path, leaf)))
        with tracer:
            yield tracer
    finally:
        for h in handles:
            h.remove()


def _run_block(block: nn.Module, x: torch.Tensor, summarise: bool) -> tuple[_Tracer, torch.Tensor]:
    with torch.inference_mode(), _tracing(block, summarise) as tracer:
        tracer.producer[id(x)] = -1
        tracer._alive.append(x)
        out = block(x)
    return tracer, out


# --------------------------------------------------------------------------------------------
# Branches, from the data-flow graph


def _ancestors(steps: list[Step]) -> list[set[int]]:
    anc: list[set[int]] = []
    for s in steps:
        a: set[int] = set()
        for i in s.inputs:
            if i >= 0:
                a.add(i)
                a |= anc[i]
        anc.append(a)
    return anc


def _common_name(paths: list[str]) -> str:
    paths = [p for p in paths if p]
    if not paths:
        return ""
    parts = [p.split(".") for p in paths]
    common = []
    for comps in zip(*parts):
        if all(c == comps[0] for c in comps):
            common.append(comps[0])
        else:
            break
    if common:
        return ".".join(common)
    first = [p[0] for p in parts]
    pre = first[0]
    for f in first[1:]:
        while not f.startswith(pre):
            pre = pre[:-1]
    pre = re.sub(r"[_.][0-9]*$", "", pre)  # branch7x7_1, branch7x7_2 -> branch7x7
    return pre if len(pre) >= 3 else ""


def _summary(steps: list[Step], members: list[int], anc: list[set[int]]) -> str:
    """"1×1 → 3×3", with ‖ between operations that run side by side."""
    tokens = [i for i in members if steps[i].token]
    text = ""
    for k, i in enumerate(tokens):
        if k:
            text += " → " if tokens[k - 1] in anc[i] else " ‖ "
        text += steps[i].token
    return text


def _label_branches(steps: list[Step]) -> list[str]:
    """Name every step's branch; returns the branch labels in order of appearance."""
    anc = _ancestors(steps)
    label: dict[int, str] = {}
    last_merge = -1
    for m in steps:
        if m.kind != "merge" or len(m.input_shapes) < 2:
            continue
        last_merge = m.index
        feeds = []
        for i in m.inputs:
            feeds.append(({i} | anc[i]) - {-1} if i >= 0 else set())
        n_in = len(m.input_shapes)
        for k, own in enumerate(feeds):
            others = set().union(*(f for j, f in enumerate(feeds) if j != k))
            members = sorted(own - others)
            name = _common_name([steps[i].path for i in members])
            summary = _summary(steps, members, anc)
            if m.op == "add" and n_in == 2:
                other = feeds[1 - k] - own
                where = f"{name}: " if name and name not in ("conv", "residual", "shortcut") else ""
                if not members:
                    name, summary = _("identity shortcut"), _("x unchanged")
                elif "shortcut" in name or "downsample" in name or len(members) < len(other):
                    name, summary = _("projection shortcut"), where + summary
                else:
                    name, summary = _("residual path"), where + summary
            elif not members:
                name, summary = _("block input"), _("reused unchanged")
            elif not name:
                name = _("branch {n}").format(n=k + 1)
            text = f"{name} ({summary})" if summary else name
            for i in members:
                label[i] = text
    labels: list[str] = []
    for s in steps:
        if s.index in label:
            s.branch = label[s.index]
        elif last_merge >= 0 and s.index >= last_merge:
            s.branch = _(MERGE) if s.index == last_merge else _(AFTER_MERGE)
        else:
            s.branch = _(MAIN_PATH)
        if s.branch not in labels:
            labels.append(s.branch)
    return labels


# --------------------------------------------------------------------------------------------
# Tracing entry points


def _trace(block: nn.Module, x: torch.Tensor, kind: str, title: str, summarise: bool = False
           ) -> tuple[BlockTrace, list[tuple[list, np.ndarray, dict]]]:
    tracer, out = _run_block(block, x, summarise)
    steps = tracer.steps
    branches = _label_branches(steps)
    trace = BlockTrace(
        kind=kind, title=title, class_name=type(block).__name__, input_shape=_chw(x),
        output_shape=_chw(_flat_tensors(out)[0]), steps=steps,
        params_total=sum(p.numel() for p in block.parameters()),
        macs_total=sum(s.macs for s in steps), branches=branches, source_class=type(block))
    return trace, tracer.acts


def trace_module(block: nn.Module, input_shape: Sequence[int], kind: str = "",
                 title: str = "") -> BlockTrace:
    """The steps of ``block`` for an input of ``input_shape`` (C, H, W), traced on the meta
    device when the block lives there, otherwise on a zero tensor (no gradients)."""
    device = next((p.device for p in block.parameters()), torch.device("cpu"))
    x = torch.zeros((1, *input_shape), device=device)
    try:
        trace, _acts = _trace(block, x, kind, title or type(block).__name__)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise BlockConfigError(_("The input {shape} does not fit this block: {error}").format(
            shape=fmt_shape(input_shape), error=exc)) from None
    return trace


@lru_cache(maxsize=64)
def _standalone_cached(kind, variant, h, w, c, items, lang) -> BlockTrace:  # texts per language
    module, shape = build_standalone(kind, variant, h, w, c, device="meta", **dict(items))
    var = _variant(kind, variant)
    trace = trace_module(module, shape, kind, _("{variant}, standalone, input {shape}").format(
        variant=_(var.name), shape=f"{h}×{w}×{c}"))
    trace.source_class = var.cls
    if var.note:
        trace.notes.append(_(var.note))
    return trace


def trace_standalone(kind: str, variant: str | int | None = None, h: int | None = None,
                     w: int | None = None, c: int | None = None, **settings) -> BlockTrace:
    """Steps of the standalone block (built on the meta device: instant, no memory)."""
    var = _variant(kind, variant)
    dh, dw, dc = var.hwc
    items = tuple(sorted((k, str(v) if isinstance(v, (list, tuple)) else v)
                         for k, v in settings.items()))
    return _standalone_cached(kind, var.name, dh if h is None else h, dw if w is None else w,
                              dc if c is None else c, items, get_language())


# --------------------------------------------------------------------------------------------
# Real models


@dataclass(frozen=True)
class RealBlock:
    model: str
    path: str
    kind: str
    label: str
    external: bool = False  # not in the zoo (DeepLab v3's ASPP from torchvision)


DEEPLAB = "deeplabv3_mobilenet_v3_large"
_DEEPLAB_BLOCK = RealBlock(DEEPLAB, "classifier.0", "aspp",
                           "classifier.0: ASPP of torchvision's deeplabv3_mobilenet_v3_large "
                           "(960 → 256, rates 12, 24, 36; random weights, not in the zoo)", True)


def real_blocks(kind: str | None = None) -> list[RealBlock]:
    """The blocks the zoo specs declare (and DeepLab's ASPP), optionally of one kind."""
    found = [RealBlock(name, path, k, label)
             for name in zoo.list_models() for path, k, label in zoo.get_spec(name).blocks]
    found.append(_DEEPLAB_BLOCK)
    return [b for b in found if kind is None or b.kind == kind]


def _build_external(name: str) -> nn.Module:
    if name != DEEPLAB:
        raise BlockConfigError(f"unknown model {name!r}")
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=False)


def _input_size(name: str) -> tuple[int, int, int]:
    return (3, 520, 520) if name == DEEPLAB else zoo.get_spec(name).input_size


@lru_cache(maxsize=4)
def _meta_model(name: str) -> nn.Module:
    with torch.device("meta"):
        model = _build_external(name) if name == DEEPLAB else zoo.build(name)
    return model.eval()


def real_block_module(model: nn.Module, path: str) -> nn.Module:
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise BlockConfigError(f"the model has no module {path!r}") from None


def _block_input(model: nn.Module, path: str, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` on ``x`` up to the block ``path`` and return the block's input; the
    forward pass stops there (a hook raises, the context below catches it)."""
    block = real_block_module(model, path)
    me = threading.get_ident()

    def stop(module, args):
        if threading.get_ident() == me:
            raise _StopForward(args[0])

    handle = block.register_forward_pre_hook(stop)
    try:
        with torch.inference_mode():
            model(x)
    except _StopForward as s:
        return s.value
    finally:
        handle.remove()
    raise BlockConfigError(f"the forward pass never reached {path!r}")


@lru_cache(maxsize=64)
def trace_real(name: str, path: str, input_size: tuple[int, int, int] | None = None
               ) -> BlockTrace:
    """Steps of the block ``path`` of model ``name`` at the model's input size (or
    ``input_size``), traced on a meta-device copy (the cached model is not used)."""
    model = _meta_model(name)
    size = tuple(input_size or _input_size(name))
    x_in = _block_input(model, path, torch.zeros((1, *size), device="meta"))
    block = real_block_module(model, path)
    kind = next((b.kind for b in real_blocks() if b.model == name and b.path == path), "")
    trace, _acts = _trace(block, x_in, kind, f"{name}.{path}")
    return trace


# --------------------------------------------------------------------------------------------
# Activation capture on a shared model

_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_for(model: nn.Module) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.Lock()
        return lock


def capture_trace(model: nn.Module, block_path: str, x: torch.Tensor, channels: int = 4,
                  kind: str = "", title: str = "") -> tuple[BlockTrace, list[StepActivation]]:
    """:func:`capture_steps`, also returning the block's trace for this input (the shapes of
    the image actually used)."""
    with _lock_for(model):
        x = x.detach()
        x_in = _block_input(model, block_path, x)
        block = real_block_module(model, block_path)
        trace, acts = _trace(block, x_in, kind, title or block_path, summarise=True)
    result = []
    for step, (chans, mean_map, stats) in zip(trace.steps, acts):
        result.append(StepActivation(step.index, step.name, step.branch, step.output_shape,
                                     chans[:channels], mean_map, stats))
    return trace, result


def capture_steps(model: nn.Module, block_path: str, x: torch.Tensor, channels: int = 4
                  ) -> list[StepActivation]:
    """Run ``model`` on ``x`` up to and through the block ``block_path`` (and no further) and
    return each step's activations: the ``channels`` most varied channels, the channel-mean map
    and statistics. The model is used read-only: hooks exist only inside this call (removed in
    ``finally``, even when a step raises), under a lock beside the model, and act only in the
    calling thread; no mode change, no gradients."""
    return capture_trace(model, block_path, x, channels)[1]


def capture_image(loaded: Any, block_path: str, image, kind: str = ""
                  ) -> tuple[BlockTrace, list[StepActivation]]:
    """:func:`capture_trace` for a PIL image and anything with ``.model`` and ``.preprocess``
    (a ``LoadedModel``, or :func:`external_model`'s result)."""
    x = loaded.preprocess(image)
    return capture_trace(loaded.model, block_path, x, kind=kind,
                         title=f"{getattr(loaded, 'name', '')}.{block_path}")


@dataclass
class ExternalModel:
    name: str
    model: nn.Module
    preprocess: Callable
    label: str


def external_model(name: str = DEEPLAB) -> ExternalModel:
    """A model outside the zoo (DeepLab v3 for its ASPP), with random weights: no weights for it
    ship with the explorer. Eval mode, parameters frozen."""
    with rng.seeded(0):  # the same weights every time, without touching the global generator
        model = _build_external(name).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def preprocess(image) -> torch.Tensor:
        img = image.convert("RGB").resize((520, 520))
        t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return ((t - mean) / std)[None]

    return ExternalModel(name, model, preprocess,
                         N_("torchvision deeplabv3_mobilenet_v3_large, random weights (not in "
                            "the zoo; activations show the data flow, not learned features)"))


def branch_stats(trace: BlockTrace, acts: list[StepActivation]) -> list[dict[str, Any]]:
    """Statistics of each branch's output (its last step) and of the block's output."""
    rows = []
    by_index = {a.index: a for a in acts}
    for label in trace.branches:
        members = [s for s in trace.steps if s.branch == label]
        if not members:
            continue
        last = members[-1]
        a = by_index.get(last.index)
        if a is None:
            continue
        rows.append({"branch": label, "output of step": f"{last.index + 1}. {last.name}",
                     "shape": fmt_shape(a.shape), **a.stats})
    return rows


# --------------------------------------------------------------------------------------------
# Diagram


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def block_dot(trace: BlockTrace, current: int | None = None) -> str:
    """The block as a DOT graph: one node per step, edges = real data flow, branches boxed,
    steps already executed shaded and the ``current`` step highlighted."""
    lines = ["digraph block {", "  rankdir=TB; nodesep=0.25; ranksep=0.3;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, '
             'fillcolor="white", color="#555555", height=0.3];',
             '  edge [color="#777777", arrowsize=0.6];',
             "  input [label=" + _q(_("input") + " " + fmt_shape(trace.input_shape))
             + ', shape=oval, fillcolor="#eeeeee"];']

    def node(s: Step) -> str:
        label = f"{s.index + 1}. {op_label(s.op)}\\n{fmt_shape(s.output_shape)}"
        attrs = {"label": label}
        if s.kind == "merge":
            # "rounded" has no meaning for an ellipse, and Graphviz then drew it without its
            # outline: plain "filled" keeps the border.
            attrs.update(shape="ellipse", style="filled")
        if current is not None and s.index == current:
            attrs.update(fillcolor="#ff9f43", penwidth="2.5", color="#c0392b")
        elif current is not None and s.index < current:
            attrs["fillcolor"] = "#d6e9f8"
        body = ", ".join(f'{k}={_q(v) if k != "label" else chr(34) + v.replace(chr(34), "") + chr(34)}'
                         for k, v in attrs.items())
        return f"    s{s.index} [{body}];"

    clusters: dict[str, list[Step]] = {}
    for s in trace.steps:
        clusters.setdefault(s.branch, []).append(s)
    for k, (label, members) in enumerate(clusters.items()):
        if label in (_(MAIN_PATH), _(MERGE), _(AFTER_MERGE)):
            lines += [node(s) for s in members]
            continue
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f'    label={_q(label)}; style="dashed,rounded"; color="#999999"; '
                     'fontname="Helvetica"; fontsize=10;')
        lines += [node(s) for s in members]
        lines.append("  }")
    for s in trace.steps:
        srcs = s.inputs or ([-1] if s.index == 0 else [])
        for i in dict.fromkeys(srcs):
            label = ' [label=' + _q(_("identity")) + ', fontsize=10, fontname="Helvetica"]' if (
                i < 0 and s.op == "add") else ""
            lines.append(f"  {'input' if i < 0 else f's{i}'} -> s{s.index}{label};")
    if trace.steps:
        lines.append("  output [label=" + _q(_("output") + " " + fmt_shape(trace.output_shape))
                     + ', shape=oval, fillcolor="#eeeeee"];')
        lines.append(f"  s{trace.steps[-1].index} -> output;")
    lines.append("}")
    return "\n".join(lines)


def step_facts(step: Step) -> list[tuple[str, str]]:
    """(label, value) rows describing one step, for the page."""
    rows = [(_("Operation"), step.detail), (_("Module / function"), f"{step.name} ({step.type})"),
            (_("Branch"), step.branch),
            (_("Input shape"), " + ".join(map(fmt_shape, step.input_shapes)) or "—"),
            (_("Output shape"), fmt_shape(step.output_shape)),
            (_("Parameters"), fmt_int(step.params)), ("MACs", fmt_int(step.macs))]
    for k, v in step.hyper.items():
        rows.append((k.replace("_", " "), str(v)))
    if step.merge_text:
        rows.insert(1, (_("Shape arithmetic"), step.merge_text))
    return rows


# --------------------------------------------------------------------------------------------
# Cost panel: the naive alternative, computed from real modules


@dataclass
class Cost:
    title: str
    unit: str  # "multiplications (MACs)" or "weights"
    naive_label: str
    naive: int
    block_label: str
    block: int
    parts: list[int]  # the block's number as a sum of its convolutions
    seed: str = ""  # where the figure comes from
    note: str = ""
    versus: str = ""  # "of the naive cost" unless set (texts are made in the UI language)

    def __post_init__(self):
        self.versus = self.versus or _("of the naive cost")

    @property
    def ratio(self) -> float:
        return self.block / self.naive if self.naive else float("inf")

    def comparison(self) -> str:
        """"3.2× fewer" when the block is cheaper, "3.1× more" when it costs more, never
        "0.3× fewer" (issue 14)."""
        if self.block == self.naive:
            return _("the same")
        if self.block < self.naive:
            return (_("{times}× fewer").format(times=f"{self.naive / self.block:.1f}")
                    if self.block else _("none at all"))
        return (_("{times}× more").format(times=f"{self.block / self.naive:.1f}")
                if self.naive else _("more than none"))

    def text(self) -> str:
        parts = " + ".join(fmt_int(p) for p in self.parts)
        sum_text = f"{parts} = {fmt_int(self.block)}" if len(self.parts) > 1 else fmt_int(self.block)
        return (f"{self.naive_label}: {fmt_int(self.naive)} {self.unit}; {self.block_label}: "
                f"{sum_text} {self.unit} ({self.ratio:.1%} {self.versus})")


def _meta_conv(*args, **kwargs) -> nn.Conv2d:
    with torch.device("meta"):
        return nn.Conv2d(*args, bias=False, **kwargs)


def _weights(*convs: nn.Module) -> list[int]:
    return [sum(p.numel() for p in c.parameters()) for c in convs]


def _macs_chain(convs: Sequence[nn.Conv2d], shape: tuple[int, int, int]) -> list[int]:
    """MACs of each conv when applied one after another to an input of shape (C, H, W)."""
    x = torch.empty((1, *shape), device="meta")
    macs = []
    for c in convs:
        x = c(x)
        macs.append(_module_macs(c, x))
    return macs


def _yi(n: int) -> str:
    """Seed 000 writes large counts in 亿 (yi, 10^8)."""
    return f"{n / 1e8:.2g} 亿"


def _mults() -> str:
    return _("multiplications")


def _weights_unit() -> str:
    return _("weights")


def _seed(n: str) -> str:
    from explorer.i18n.notes import cite

    if "/" in n:  # two notes give the same figure
        a, b = (part.strip() for part in n.split("/"))
        return _("{a} and {b}").format(a=cite(a), b=cite(b))
    return cite(n)


def cost_inception_reduction() -> Cost:
    """Seed 000: 5×5 conv 28×28×192 → 32 vs 1×1 reduction to 16 first."""
    naive = _macs_chain([_meta_conv(192, 32, 5, padding=2)], (192, 28, 28))
    parts = _macs_chain([_meta_conv(192, 16, 1), _meta_conv(16, 32, 5, padding=2)], (192, 28, 28))
    return Cost(_("1×1 reduction before a 5×5 convolution (Inception)"), _mults(),
                _("5×5 conv, 28×28×192 → 28×28×32"), sum(naive),
                _("1×1 conv to 16 channels, then 5×5 conv to 32"), sum(parts), parts,
                _("{notes}: {naive} vs {block} (亿 = 10⁸)").format(
                    notes=_seed("000"), naive=_yi(sum(naive)), block=_yi(sum(parts))),
                _("(28·28·32)·(5·5·192) vs (28·28·16)·(1·1·192) + (28·28·32)·(5·5·16)"))


def cost_bottleneck() -> Cost:
    """Seed 004: plain 3×3 conv 512 → 512 on 26×26 vs 1×1 → 128, 3×3 → 128, 1×1 → 512."""
    naive = _weights(_meta_conv(512, 512, 3, padding=1))
    parts = _weights(_meta_conv(512, 128, 1), _meta_conv(128, 128, 3, padding=1),
                     _meta_conv(128, 512, 1))
    return Cost(_("Bottleneck: 1×1 reduce, 3×3, 1×1 expand (ResNet-50)"), _weights_unit(),
                _("plain 3×3 conv, 26×26×512 → 512"), sum(naive),
                "1×1 → 128, 3×3 → 128, 1×1 → 512", sum(parts), parts, _seed("004"),
                _("512·3·3·512 vs 512·128 + 128·9·128 + 128·512 (no biases)"))


def cost_depthwise() -> Cost:
    """Seed 004: standard 3×3 conv 16 → 32 vs depthwise 3×3 + pointwise 1×1."""
    naive = _weights(_meta_conv(16, 32, 3, padding=1))
    parts = _weights(_meta_conv(16, 16, 3, padding=1, groups=16), _meta_conv(16, 32, 1))
    return Cost(_("Depthwise-separable convolution (MobileNet)"), _weights_unit(),
                _("standard 3×3 conv, 16 → 32 channels"), sum(naive),
                _("depthwise 3×3 (16 filters) + pointwise 1×1 (16 → 32)"), sum(parts), parts,
                _seed("004"), "16·32·3·3 vs 16·3·3 + 16·32")


def cost_factorised(n: int, channels: int = 128) -> Cost:
    """Seed 004: n×n vs 1×n then n×1 (same receptive field), C → C channels."""
    naive = _weights(_meta_conv(channels, channels, n, padding=n // 2))
    parts = _weights(_meta_conv(channels, channels, (1, n), padding=(0, n // 2)),
                     _meta_conv(channels, channels, (n, 1), padding=(n // 2, 0)))
    return Cost(_("Factorised {n}×{n}: 1×{n} then {n}×1 (Inception v3)").format(n=n),
                _weights_unit(),
                f"{n}×{n} conv, {channels} → {channels}", sum(naive),
                _("1×{n} conv then {n}×1 conv").format(n=n), sum(parts), parts, _seed("004"),
                _("({n}+{n})/{nn} = {ratio}; both see {n}×{n} pixels").format(
                    n=n, nn=n * n, ratio=f"{sum(parts) / sum(naive):.1%}"))


def _receptive_field(convs: Sequence[nn.Conv2d]) -> int:
    rf, jump = 1, 1
    for c in convs:
        k, s, d = _pair(c.kernel_size)[0], _pair(c.stride)[0], _pair(c.dilation)[0]
        rf += (d * (k - 1)) * jump
        jump *= s
    return rf


def cost_two_3x3(channels: int = 64) -> Cost:
    """Seed 004 / VGG: one 5×5 vs two stacked 3×3 convs (same receptive field, 25C² vs 18C²)."""
    big = [_meta_conv(channels, channels, 5, padding=2)]
    small = [_meta_conv(channels, channels, 3, padding=1) for _ in range(2)]
    rf_big, rf_small = _receptive_field(big), _receptive_field(small)
    parts = _weights(*small)
    return Cost(_("Two stacked 3×3 convolutions instead of one 5×5 (VGG)"), _weights_unit(),
                _("5×5 conv, {c} → {c} (receptive field {rf})").format(c=channels, rf=rf_big),
                sum(_weights(*big)),
                _("two 3×3 convs (receptive field {rf})").format(rf=rf_small), sum(parts), parts,
                _seed("004"),
                _("25·C² vs 18·C² with C = {c}; same receptive field {rf}×{rf}, and one more "
                  "non-linearity").format(c=channels, rf=rf_small))


def cost_projection(in_ch: int = 64, out_ch: int = 128) -> Cost:
    conv = _meta_conv(in_ch, out_ch, 1, stride=2)
    body = _weights(_meta_conv(in_ch, out_ch, 3, stride=2, padding=1),
                    _meta_conv(out_ch, out_ch, 3, padding=1))
    return Cost(_("What the shortcut costs (ResNet basic block)"), _weights_unit(),
                _("the residual path's two 3×3 convs ({cin} → {cout} → {cout})").format(
                    cin=in_ch, cout=out_ch), sum(body),
                _("projection shortcut, 1×1 stride-2 conv {cin} → {cout} (identity: 0)").format(
                    cin=in_ch, cout=out_ch),
                sum(_weights(conv)), _weights(conv), _seed("000 / 001"),
                _("An identity shortcut is free; a projection is needed only where the shape "
                  "changes."), versus=_("of the residual path"))


def cost_aspp(rate: int = 12, channels: int = 256) -> Cost:
    atrous = _meta_conv(channels, channels, 3, dilation=rate, padding=rate)
    dense = _meta_conv(channels, channels, 2 * rate + 1, padding=rate)
    rf_a, rf_d = _receptive_field([atrous]), _receptive_field([dense])
    return Cost(_("Atrous (dilated) 3×3 at rate {rate} vs a dense kernel of the same reach")
                .format(rate=rate),
                _weights_unit(), _("dense {rf}×{rf} conv, {c} → {c}").format(rf=rf_d, c=channels),
                sum(_weights(dense)), _("3×3 conv with dilation {rate} (field {rf}×{rf})").format(
                    rate=rate, rf=rf_a),
                sum(_weights(atrous)), _weights(atrous), "DeepLab v3",
                _("Dilation spreads 9 taps over the field of view: context without weights."))


def cost_dense(in_ch: int = 992, growth: int = 32, bn_size: int = 4, hw: int = 14) -> Cost:
    """DenseNet-B's 1×1 bottleneck, at the last layer of densenet121's dense block 3 (input
    256 + 23·32 = 992 channels at 14×14), where the concatenated input is widest."""
    direct = [_meta_conv(in_ch, growth, 3, padding=1)]
    bottle = [_meta_conv(in_ch, bn_size * growth, 1), _meta_conv(bn_size * growth, growth, 3,
                                                                  padding=1)]
    naive = _macs_chain(direct, (in_ch, hw, hw))
    parts = _macs_chain(bottle, (in_ch, hw, hw))
    return Cost(_("DenseNet-B: 1×1 to {f}·k = {mid} channels before the 3×3 (input {shape}, "
                  "densenet121's widest dense layer)").format(
                    f=bn_size, mid=bn_size * growth, shape=f"{hw}×{hw}×{in_ch}"),
                _mults(), _("3×3 conv {cin} → {k} directly").format(cin=in_ch, k=growth),
                sum(naive),
                _("1×1 conv {cin} → {mid}, then 3×3 → {k}").format(cin=in_ch, mid=bn_size * growth,
                                                                  k=growth), sum(parts), parts,
                _("DenseNet paper"),
                _("Growth: each layer adds k = {k} channels. The 1×1 bottleneck pays off once the "
                  "concatenated input is wider than about {wide} channels (deeper in the block).")
                .format(k=growth, wide=bn_size * growth * 9 // 8 + 1))


def cost_transition(in_ch: int = 256, out_ch: int = 128, hw: int = 56) -> Cost:
    naive = _macs_chain([_meta_conv(in_ch, out_ch, 3, stride=2, padding=1)], (in_ch, hw, hw))
    parts = _macs_chain([_meta_conv(in_ch, out_ch, 1)], (in_ch, hw, hw))
    return Cost(_("Transition: 1×1 conv + 2×2 average pool vs a strided 3×3 conv"),
                _mults(), _("3×3 stride-2 conv {cin} → {cout}").format(cin=in_ch, cout=out_ch),
                sum(naive),
                _("1×1 conv {cin} → {cout}, then 2×2 average pool (no weights)").format(
                    cin=in_ch, cout=out_ch), sum(parts),
                parts, _("DenseNet paper"),
                _("Both halve the channels and the resolution: {before} → {after}.").format(
                    before=f"{hw}×{hw}×{in_ch}", after=f"{hw // 2}×{hw // 2}×{out_ch}"))


def cost_same_shapes(trace: BlockTrace) -> Cost | None:
    """The block against one plain convolution with the same input and output shapes, with
    the block's largest kernel (and its stride): the naive way to get from one shape to the
    other. MACs are compared; the parameter counts are in the note. A block may cost more than
    the plain convolution (a dense block, an inverted residual's expansion): it buys depth,
    non-linearity or feature reuse, not savings."""
    if len(trace.input_shape) != 3 or len(trace.output_shape) != 3:
        return None
    (c_in, h_in, w_in), (c_out, h_out, _w_out) = trace.input_shape, trace.output_shape
    kernels = [int(s.hyper["kernel"].split("×")[0]) for s in trace.steps
               if s.type == "Conv2d" and "kernel" in s.hyper]
    k = max(kernels, default=1)
    stride = max(1, round(h_in / max(h_out, 1)))
    conv = _meta_conv(c_in, c_out, k, stride=stride, padding=k // 2)
    naive = _macs_chain([conv], (c_in, h_in, w_in))
    params = sum(_weights(conv))
    shapes = f"{fmt_shape(trace.input_shape)} → {fmt_shape(trace.output_shape)}"
    return Cost(_("This block vs one plain {k}×{k} convolution with the same shapes").format(k=k),
                _mults(),
                (_("one {k}×{k} conv, stride {stride}, {shapes}") if stride > 1 else
                 _("one {k}×{k} conv, {shapes}")).format(k=k, stride=stride, shapes=shapes),
                sum(naive),
                _("the block ({n} steps)").format(n=len(trace.steps)), trace.macs_total,
                [trace.macs_total],
                _("computed for the block shown"),
                _("Parameters: plain conv {plain}, block {block}. A block is not always cheaper "
                  "than the plain convolution: what it buys may be depth, non-linearities or "
                  "feature reuse.").format(plain=fmt_int(params), block=fmt_int(trace.params_total)))


_COSTS: dict[str, list[Callable[[], Cost]]] = {
    "nin": [cost_inception_reduction],
    "inception_v1": [cost_inception_reduction, cost_two_3x3],
    "inception_v3": [partial(cost_factorised, 7), partial(cost_factorised, 3), cost_two_3x3],
    "basic": [cost_projection, cost_two_3x3],
    "bottleneck": [cost_bottleneck],
    "dense": [cost_dense],
    "transition": [cost_transition],
    "depthwise_separable": [cost_depthwise],
    "xception": [cost_depthwise],
    "inverted_residual": [cost_depthwise],
    "aspp": [cost_aspp, partial(cost_aspp, 36)],
}


def cost_panel(kind: str) -> list[Cost]:
    """The naive-alternative comparisons that explain why the block ``kind`` exists."""
    return [f() for f in _COSTS.get(kind, [])]


# --------------------------------------------------------------------------------------------
# Source and colours


def block_source(kind_or_module: str | nn.Module | type) -> str:
    """Source code of the block's class: a kind's first standalone variant, a module's class, or
    a class. A plain ``nn.Sequential`` has no interesting source: its layers are listed."""
    if isinstance(kind_or_module, str):
        cls = _variant(kind_or_module, None).cls
    elif isinstance(kind_or_module, nn.Module):
        if type(kind_or_module) in (nn.Sequential, nn.ModuleList, nn.ModuleDict):
            return (f"# A plain {type(kind_or_module).__name__}: its layers, in order\n"
                    f"{kind_or_module!r}")
        cls = type(kind_or_module)
    else:
        cls = kind_or_module
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return f"# source of {cls.__module__}.{cls.__qualname__} is not available"


# viridis anchors (matplotlib's), interpolated to 256 colours
_VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
                     [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44],
                     [253, 231, 37]], dtype=np.float32)
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_VIRIDIS)),
                           _VIRIDIS[:, k]) for k in range(3)], axis=1).astype(np.uint8)


def colorize(a: np.ndarray, size: int = 160) -> np.ndarray:
    """A 2-D map as an RGB uint8 image (viridis, scaled to its own min..max), enlarged with
    nearest-neighbour to about ``size`` pixels so single activations stay visible."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    idx = np.zeros(a.shape, np.uint8) if hi - lo < 1e-12 else \
        ((a - lo) / (hi - lo) * 255).round().astype(np.uint8)
    rgb = _LUT[idx]
    rep = max(1, size // max(a.shape))
    return np.repeat(np.repeat(rgb, rep, axis=0), rep, axis=1)
