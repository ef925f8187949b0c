"""The plain data of a block walkthrough: steps, traces, activations, and their short texts.

Conventions: shapes are written C×H×W (batch dropped). MACs = multiply-accumulates of conv and
linear layers (as torchvision's ``_ops``); FLOPs = 2 × MACs. "Parameters" are ``p.numel()``
summed over ``parameters()`` (batch-norm running statistics are buffers, not parameters).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from explorer.i18n import N_, _

__all__ = ["BlockConfigError", "Step", "BlockTrace", "StepActivation", "OP_NAMES", "MAIN_PATH",
           "MERGE", "AFTER_MERGE", "op_label", "token_label", "fmt_shape"]

# Step.op stays a short English identifier ("add" and "concat" are compared in code); the page
# and the diagram show it through op_label().
OP_NAMES = {"batch norm": N_("batch norm"), "global avg-pool": N_("global avg-pool"),
            "global max-pool": N_("global max-pool"), "global pool": N_("global pool"),
            "max-pool": N_("max-pool"), "avg-pool": N_("avg-pool"), "concat": N_("concat"),
            "add": N_("add"), "multiply": N_("multiply"), "linear": N_("linear"),
            "dropout": N_("dropout"), "upsample": N_("upsample"), "flatten": N_("flatten"),
            "pad": N_("pad"), "sigmoid": N_("sigmoid"), "conv": N_("conv")}
MAIN_PATH, MERGE, AFTER_MERGE = N_("main path"), N_("merge"), N_("after the merge")


# A convolution's token is its kernel ("3×3", "3×3/2" with a stride) and its kind: " dw"
# (depthwise), " g32" (32 groups), " r12" (atrous rate 12). In English the op reads "conv 3×3 dw";
# each language writes the whole phrase its own way ("3×3 逐通道卷积"), never word by word.
_CONV_TOKEN = re.compile(r"(?P<kernel>\d+×\d+(?:/\d+)?)(?: dw(?P<dw>)| g(?P<groups>\d+))?"
                         r"(?: r(?P<rate>\d+))?$")
_CONV_FORMS = {"plain": N_("conv {kernel}"), "dw": N_("conv {kernel} dw"),
               "groups": N_("conv {kernel} g{groups}")}
_TOKEN_FORMS = {"plain": "{kernel}", "dw": N_("{kernel} dw"), "groups": N_("{kernel} g{groups}")}
_RATE = N_("{op} r{rate}")
_TOKEN_WORDS = {"fc": N_("fc")}


def _conv_text(token: str, forms: dict[str, str]) -> str | None:
    """A convolution's token through the language's phrase for it (None: not a conv token)."""
    m = _CONV_TOKEN.match(token)
    if m is None:
        return None
    form = "dw" if m.group("dw") is not None else "groups" if m.group("groups") else "plain"
    text = _(forms[form]).format(kernel=m.group("kernel"), groups=m.group("groups"))
    return _(_RATE).format(op=text, rate=m.group("rate")) if m.group("rate") else text


def op_label(op: str) -> str:
    """A step's short operation name in the UI language ("max-pool 3×3/2" -> "最大池化 3×3/2",
    "conv 3×3 dw" -> "3×3 逐通道卷积")."""
    if op.startswith("conv "):
        text = _conv_text(op[len("conv "):], _CONV_FORMS)
        if text is not None:
            return text
    for name in sorted(OP_NAMES, key=len, reverse=True):
        if op == name or op.startswith(name + " "):
            return _(OP_NAMES[name]) + op[len(name):]
    return op


def token_label(token: str) -> str:
    """A kernel token of a branch summary in the UI language ("3×3 dw" -> "3×3 逐通道",
    "max-pool 3×3" -> "最大池化 3×3", "fc" -> "全连接")."""
    if token in _TOKEN_WORDS:
        return _(_TOKEN_WORDS[token])
    text = _conv_text(token, _TOKEN_FORMS)
    return text if text is not None else op_label(token)


class BlockConfigError(ValueError):
    """Settings that cannot make the block (negative channels, an input too small...), with a
    message a user can act on."""


def fmt_shape(shape: Sequence[int]) -> str:
    """A shape without its batch dimension as text: (192, 28, 28) -> "192×28×28"."""
    return "×".join(str(int(s)) for s in shape)


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

    @property
    def shown_name(self) -> str:
        """The name as a page shows it: a module path as it is, a merge's operation (its name
        when no module holds it: "concat", "layer1 · add") in the UI language."""
        if self.kind == "merge" and self.name.endswith(self.op):
            return self.name[:len(self.name) - len(self.op)] + op_label(self.op)
        return self.name


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
            "step": s.index + 1, "name": s.shown_name, "operation": op_label(s.op),
            "branch": s.branch,
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

