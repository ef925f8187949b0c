"""The plain data of a block walkthrough: steps, traces, activations, and their short texts.

Conventions: shapes are written C×H×W (batch dropped). MACs = multiply-accumulates of conv and
linear layers (as torchvision's ``_ops``); FLOPs = 2 × MACs. "Parameters" are ``p.numel()``
summed over ``parameters()`` (batch-norm running statistics are buffers, not parameters).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from explorer.i18n import N_, _

__all__ = ["BlockConfigError", "Step", "BlockTrace", "StepActivation", "OP_NAMES", "MAIN_PATH",
           "MERGE", "AFTER_MERGE", "op_label", "fmt_shape"]

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

