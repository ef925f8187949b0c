"""Per-layer analysis of a network: shapes, parameters, MACs and receptive field.

MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 × MACs. This is the convention
of torchvision's ``_ops`` ("GFLOPS" in its docs) and of most papers' tables; batch norm,
activations, pooling and additions are not counted.

Everything is computed on the meta device: the model is built with ``torch.device("meta")`` (or,
for a module passed in, copied with its tensors swapped for meta tensors), so parameters take no
memory and one forward pass on a ``1 × C × H × W`` meta tensor costs only shape arithmetic.
During that pass

- forward pre- and post-hooks on every module (leaves and containers) record one row per module
  *call*, in execution order, with the call stack (parent, depth, call index for modules that
  are called more than once, like torchvision ResNet's shared ``relu``);
- a ``TorchDispatchMode`` sees every aten op: convolutions and matrix products are costed with
  the formulas of ``torch.utils.flop_counter`` (the registry ``FlopCounterMode`` uses; MACs =
  its FLOPs / 2) and charged to every module on the call stack, and every tensor carries its
  receptive field (size, jump = effective stride, start = centre of the first unit), propagated
  through the real dataflow: a conv or pool grows it by ``(k - 1) · dilation · jump``; an add,
  concat or multiply takes the largest over the paths into it; a global pool, a flatten or a
  mean over the spatial axes makes it cover the whole feature map (``rf_global``);
- every tensor also remembers which leaf modules produced it (through functional ops such as
  ``torch.cat`` and ``+``), giving each row ``inputs_from``: the edges of the network's DAG.

Parameters follow two conventions, both shown: PyTorch's ``sum(p.numel())`` and Keras's, where
batch norm's running mean and variance are "non-trainable params" (``num_batches_tracked`` is not
counted), trainable = parameters with ``requires_grad``.

Command line, like torchinfo's summary::

    python -m explorer.analysis resnet50 [--input-size 3 160 160] [--json]
    python -m explorer.analysis --list
"""
from __future__ import annotations

import argparse
import copy
import functools
import gc
import json
import math
import sys
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from explorer.i18n import _, ngettext

__all__ = [
    "AnalysisError",
    "LayerInfo",
    "StageInfo",
    "ModelAnalysis",
    "analyze",
    "format_table",
    "main",
]

aten = torch.ops.aten

LEVELS = ("stage", "block", "layer")
# Containers that only hold modules: transparent in the block view (a subclass with a forward of
# its own, like torchvision's Conv2dNormActivation or DenseNet's _Transition, is a block).
_PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_STAT_BUFFERS = ("running_mean", "running_var")  # Keras's non-trainable BN "params"


class AnalysisError(ValueError):
    """The model cannot be analysed at this input size (message is one line, for users)."""


# --------------------------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class LayerInfo:
    """One module call. Shapes include the batch dimension (1). ``params`` counts the module's
    own parameters for a leaf and everything below it for a container, Keras's way (trainable +
    batch-norm statistics), on the module's first call only."""

    index: int  # position in ModelAnalysis.layers (execution order of call start)
    name: str  # named_modules() key; "" for the model itself
    call: int  # 0 for the first call of this module, 1 for the second, ...
    type: str  # class name
    depth: int  # call-stack depth: 0 for the model, 1 for its children, ...
    parent: int  # index of the calling row, -1 for the model
    level: str  # "model", "block", "layer" (leaf) or "group" (any other container)
    block: int  # index of the enclosing block row (itself for a block), -1 if none
    stage: int | None  # output stride of the stage this row belongs to (spec.stages); None: head
    is_leaf: bool  # no module calls inside it
    kernel_size: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    padding: tuple[int, ...] | str | None
    dilation: tuple[int, ...] | None
    groups: int | None
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...] | None  # first tensor output
    output_shapes: tuple[tuple[int, ...], ...]
    params: int  # Keras convention: params_trainable + params_non_trainable
    params_trainable: int
    params_non_trainable: int
    params_pytorch: int  # sum of p.numel() (requires_grad or not)
    macs: int  # inclusive: everything run during this call
    macs_self: int  # run directly by this module (not by modules it calls)
    activations: int  # numel of the output(s)
    receptive_field: int | None  # largest side of the receptive field, input pixels
    receptive_field_hw: tuple[int, int] | None
    jump: float | None  # effective stride (largest axis); int where integral
    jump_hw: tuple[float, float] | None
    start_hw: tuple[float, float] | None  # centre of the first unit's field, input pixels
    rf_global: bool  # output units see the whole input (after global pooling / flatten)
    # Indices of the leaf rows whose outputs reach this call's inputs through functional ops
    # only (torch.cat, +, flatten, ...); -1 is the input image. A merge without a module of its
    # own shows as several sources, and chained ones accumulate: after two identity shortcuts
    # in a row (x + f(x), then + g(...)) the sources are f's and g's last leaves and x's.
    inputs_from: tuple[int, ...]

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class StageInfo:
    """Rows grouped by the spec's stages (``{output stride: module path ending the stage}``)."""

    index: int
    label: str  # "stride 4" or "head"
    stride: int | None
    end: str  # name of the row that ends the stage
    first: int  # first and last leaf row index in the stage
    last: int
    rows: tuple[int, ...]  # leaf row indices
    output_shape: tuple[int, ...] | None
    params: int
    params_trainable: int
    params_non_trainable: int
    macs: int
    activations: int
    receptive_field: int | None
    jump: float | None
    rf_global: bool

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class ModelAnalysis:
    name: str
    input_size: tuple[int, int, int]  # (C, H, W)
    layers: tuple[LayerInfo, ...]
    stages: tuple[StageInfo, ...]
    params_total: int  # Keras: trainable + non-trainable
    params_trainable: int
    params_non_trainable: int
    params_pytorch: int  # sum(p.numel() for p in model.parameters())
    buffers: int  # sum(b.numel() for b in model.buffers()), num_batches_tracked included
    macs: int
    activations: int  # sum of leaf output numels (a rough measure of activation memory)
    # Modules with parameters that the forward pass never calls (inception_v3's AuxLogits in
    # eval mode): counted in the totals, absent from the rows.
    unused_modules: tuple[str, ...] = ()
    params_unused: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def row(self, name: str, call: int = 0) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name and layer.call == call:
                return layer
        raise KeyError(f"{self.name} has no row {name!r} (call {call})")

    def rows(self, level: str = "layer") -> list[LayerInfo]:
        """The rows of one view: ``"layer"`` = leaves; ``"block"`` = outermost blocks plus the
        leaves outside any block; ``"all"`` = every row. (``"stage"``: see :attr:`stages`.)"""
        if level == "layer":
            return [r for r in self.layers if r.is_leaf]
        if level == "block":
            return [r for r in self.layers if r.level == "block" or (r.is_leaf and r.block < 0)]
        if level == "all":
            return list(self.layers)
        raise ValueError(f"level must be 'layer', 'block' or 'all', not {level!r}")

    def representative(self, index: int, level: str) -> int:
        """The row that stands for row ``index`` in a view (its block at block level)."""
        if index < 0 or level == "layer":
            return index
        if level == "block":
            block = self.layers[index].block
            return block if block >= 0 else index
        if level == "stage":
            stage = self.layers[index].stage
            for s in self.stages:
                if s.stride == stage and index in s.rows:
                    return s.index
            return -1
        raise ValueError(f"unknown level {level!r}")

    def edges(self, level: str = "layer") -> list[tuple[int, int]]:
        """DAG edges ``(source, target)`` between the rows of a view (``rows(level)`` indices;
        stage indices at ``"stage"`` level); source -1 is the input image."""
        if level == "stage":
            return [(s.index - 1, s.index) for s in self.stages]
        out: list[tuple[int, int]] = []
        seen = set()
        for row in self.rows(level):
            for src in row.inputs_from:
                edge = (self.representative(src, level), row.index)
                if edge[0] != edge[1] and edge not in seen:
                    seen.add(edge)
                    out.append(edge)
        return out

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("layers", "stages")}
        d["flops"] = self.flops
        d["layers"] = [r.to_dict() for r in self.layers]
        d["stages"] = [s.to_dict() for s in self.stages]
        return _jsonable(d)

    def to_dataframe(self, level: str = "all"):
        """pandas DataFrame of the rows of a view (``"all"``, ``"block"``, ``"layer"`` or
        ``"stage"``); shapes are tuples."""
        import pandas as pd

        if level == "stage":
            return pd.DataFrame([asdict(s) for s in self.stages])
        rows = [asdict(r) for r in self.rows(level)]
        df = pd.DataFrame(rows, columns=[f.name for f in fields(LayerInfo)])
        return df.set_index("index", drop=False).rename_axis(None)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


# --------------------------------------------------------------------------------------------
# Building on the meta device

_INIT_OPS = {aten.normal_, aten.uniform_, aten.fill_, aten.zero_, aten.bernoulli_,
             aten.exponential_, aten.random_, aten.copy_, aten.erfinv_, aten.clamp_}


class _MetaShortcuts(TorchDispatchMode):
    """Skip the Python meta kernels whose result is obvious: in-place initialisers and
    pointwise ops return their first argument unchanged in shape. Building densenet121 on the
    meta device otherwise spends most of its time in ``normal_``."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if _is_inplace_same_shape(func) and isinstance(args[0], torch.Tensor) \
                and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


# Older PyTorch releases (2.11 and before) have no Tag.inplace; ATen names in-place ops "op_".
_INPLACE_TAG = getattr(torch.Tag, "inplace", None)


def _is_inplace(func, tags) -> bool:
    if _INPLACE_TAG is not None:
        return _INPLACE_TAG in tags
    name = func.overloadpacket.__name__
    if name.startswith("__") and name.endswith("__"):  # operators: __iadd__ is in place
        return name.startswith("__i") and name != "__invert__"
    return name.endswith("_")


@functools.lru_cache(maxsize=None)
def _is_inplace_same_shape(func) -> bool:
    tags = func.tags
    if torch.Tag.inplace_view in tags:
        return False
    return func.overloadpacket in _INIT_OPS or (
        _is_inplace(func, tags) and torch.Tag.pointwise in tags)


def _build_meta(name: str) -> nn.Module:
    """The zoo model on the meta device. Every builder in the zoo works there; should a future
    one call an op that has no meta kernel, build it for real once and keep only a meta copy."""
    from explorer import zoo

    try:
        with torch.device("meta"), _MetaShortcuts():
            return zoo.build(name)
    except (NotImplementedError, RuntimeError):
        return _meta_copy(zoo.build(name))


def _meta_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers are meta tensors: the original is only
    read, and no weight memory is copied. Hooks are not carried over."""
    memo: dict[int, object] = {}
    for p in module.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"),
                                   requires_grad=p.requires_grad)
    for b in module.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    clone = copy.deepcopy(module, memo)
    for m in clone.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks,
                      getattr(m, "_backward_pre_hooks", {}), m._forward_hooks_with_kwargs,
                      m._forward_pre_hooks_with_kwargs, m._forward_hooks_always_called):
            hooks.clear()
    return clone


# --------------------------------------------------------------------------------------------
# Receptive-field bookkeeping


@dataclass
class _Field:
    rf: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    glob: bool
    src: frozenset  # leaf row indices (-1 = the input image) this tensor derives from
    hw: tuple[int, int] | None  # spatial size of the tensor, None when it has no spatial axes
    steps: int = 0  # strided convs and pools on the longest path here (for error messages)


def replace(f: _Field, **changes) -> _Field:
    """dataclasses.replace, without its per-call introspection (it shows in the profile)."""
    g = object.__new__(_Field)
    g.__dict__.update(f.__dict__)
    g.__dict__.update(changes)
    return g


def _pair(v, n=2):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    return v * n if len(v) == 1 else v


def _window(f: _Field, k, s, p, d) -> _Field:
    """A sliding window (conv or pool) with kernel k, stride s, padding p, dilation d."""
    rf = tuple(f.rf[i] + (k[i] - 1) * d[i] * f.jump[i] for i in range(2))
    start = tuple(f.start[i] + ((k[i] - 1) * d[i] / 2 - p[i]) * f.jump[i] for i in range(2))
    jump = tuple(f.jump[i] * s[i] for i in range(2))
    return _Field(rf, jump, start, f.glob, f.src, None, f.steps + (max(s) > 1))


def _collapse(f: _Field) -> _Field:
    """Every output unit sees every position of the feature map (global pool, flatten)."""
    if f.hw is None:
        return f
    n = f.hw
    rf = tuple(f.rf[i] + (n[i] - 1) * f.jump[i] for i in range(2))
    start = tuple(f.start[i] + (n[i] - 1) / 2 * f.jump[i] for i in range(2))
    jump = tuple(f.jump[i] * n[i] for i in range(2))
    return _Field(rf, jump, start, True, f.src, None, f.steps)


def _adaptive(f: _Field, out_hw) -> _Field:
    """Adaptive pooling: window i spans [floor(i·n/o), ceil((i+1)·n/o)); use the widest."""
    if f.hw is None:
        return f
    rf, jump, start = [], [], []
    for i in range(2):
        n, o = f.hw[i], out_hw[i]
        k = max(-(-((j + 1) * n) // o) - (j * n) // o for j in range(o))
        rf.append(f.rf[i] + (k - 1) * f.jump[i])
        start.append(f.start[i] + (k - 1) / 2 * f.jump[i])
        jump.append(f.jump[i] * n / o)
    glob = f.glob or tuple(out_hw) == (1, 1)
    return _Field(tuple(rf), tuple(jump), tuple(start), glob, f.src, None, f.steps)


def _merge(inputs: list[_Field], out_hw) -> _Field:
    """Elementwise ops, concatenation, ...: the largest field over the paths in; jump and start
    from the largest-resolution input (an SE gate's 1×1 scale does not set the grid)."""
    best = max(inputs, key=lambda f: (max(f.rf), f.glob))
    grid = best
    if out_hw is not None:
        same = [f for f in inputs if f.hw == out_hw]
        if same:
            grid = max(same, key=lambda f: max(f.rf))
    rf = tuple(max(f.rf[i] for f in inputs) for i in range(2))
    src = frozenset().union(*(f.src for f in inputs))
    return _Field(rf, grid.jump, grid.start, any(f.glob for f in inputs), src, None,
                  max(f.steps for f in inputs))


def _tensors(obj, out=None) -> list:
    """The tensors in (nested lists, tuples and dicts of) op arguments or module outputs;
    torch's pytree is general but costs more than the rest of the trace."""
    if out is None:
        out = []
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _tensors(v, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            _tensors(v, out)
    return out


def _flops(packet, args, kwargs, out) -> int:
    """FLOPs by torch.utils.flop_counter's formula for this op. Its registered wrapper maps
    shapes with pytree, which costs more than the formula; pass the shapes ourselves."""
    formula = flop_registry[packet]
    raw = getattr(formula, "__wrapped__", None)
    if raw is None or kwargs:
        return formula(*args, **kwargs, out_val=out)

    def shape(v):
        if isinstance(v, torch.Tensor):
            return v.shape
        if isinstance(v, (list, tuple)) and any(isinstance(t, torch.Tensor) for t in v):
            return type(v)(shape(t) for t in v)
        return v

    out_shape = shape(out[0] if isinstance(out, (tuple, list)) else out)
    return raw(*(shape(a) for a in args), out_shape=out_shape)


def _conv_out(args) -> torch.Tensor | None:
    """The output of a plain 2-d convolution, from the shape formula (the meta kernel is
    Python and checks what we check here); None to let the real kernel run (and raise)."""
    x, w, _bias, stride, padding, dilation, transposed, _pad, groups = args[:9]
    if transposed or x.dim() != 4 or w.dim() != 4 or x.shape[1] != w.shape[1] * groups:
        return None
    hw = []
    for i in range(2):
        n = (x.shape[2 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1) \
            // stride[i] + 1
        if n < 1:
            return None
        hw.append(n)
    return torch.empty((x.shape[0], w.shape[0], *hw), device="meta")


@functools.lru_cache(maxsize=None)
def _is_pointwise(func) -> bool:
    return torch.Tag.pointwise in func.tags and not _is_inplace(func, func.tags)


def _shape_only(func, packet, args, kwargs) -> torch.Tensor | None:
    """Outputs of elementwise ops and ``cat`` from their shapes alone (their meta kernels are
    Python references that cost more than the whole trace); None where in doubt."""
    if kwargs:
        return None
    if packet is aten.cat:
        ts = args[0]
        dim = args[1] if len(args) > 1 else 0
        if not ts or any(t.dtype != ts[0].dtype or t.dim() != ts[0].dim() for t in ts):
            return None
        dim %= ts[0].dim()
        shape = list(ts[0].shape)
        for t in ts[1:]:
            if any(a != b for i, (a, b) in enumerate(zip(t.shape, shape)) if i != dim):
                return None
            shape[dim] += t.shape[dim]
        return torch.empty(shape, dtype=ts[0].dtype, device="meta")
    if _is_pointwise(func):
        ts = [a for a in args if isinstance(a, torch.Tensor)]
        if not ts or any(t.dtype != ts[0].dtype for t in ts) or not ts[0].is_floating_point():
            return None
        shape = ts[0].shape
        if any(t.shape != shape for t in ts[1:]):
            try:
                shape = torch.broadcast_shapes(*(t.shape for t in ts))
            except RuntimeError:
                return None
        return torch.empty(shape, dtype=ts[0].dtype, device="meta")
    return None


def _hw(t: torch.Tensor):
    return tuple(t.shape[-2:]) if t.dim() == 4 else None


_CONV = {aten.convolution, aten._convolution}
_POOL = {aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d}
_ADAPTIVE = {aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten.adaptive_max_pool2d}
_REDUCE = {aten.mean, aten.sum, aten.amax, aten.amin, aten.max, aten.min, aten.var, aten.std}
_RESHAPE = {aten.view, aten._unsafe_view, aten.reshape, aten.flatten}


def _propagate(func, args, kwargs, ins: list[tuple[torch.Tensor, _Field]], out_t: torch.Tensor):
    packet = func.overloadpacket
    x, f = ins[0]
    f = replace(f, hw=_hw(x))
    out_hw = _hw(out_t)
    if packet in _CONV and f.hw is not None and not args[6]:
        k = tuple(args[1].shape[2:])
        g = _window(f, k, _pair(args[3]), _pair(args[4]), _pair(args[5]))
    elif packet in _POOL and f.hw is not None:
        k = _pair(args[1])
        s = _pair(args[2]) if len(args) > 2 and args[2] else k
        p = _pair(args[3]) if len(args) > 3 else (0, 0)
        d = _pair(args[4]) if packet is not aten.avg_pool2d and len(args) > 4 else (1, 1)
        g = _window(f, k, s, p, d)
    elif packet in _ADAPTIVE and f.hw is not None and out_hw is not None:
        g = _adaptive(f, out_hw)
    elif packet is aten.constant_pad_nd and f.hw is not None:
        pad = list(args[1]) + [0, 0, 0, 0]  # (left, right, top, bottom)
        g = replace(f, start=(f.start[0] - pad[2] * f.jump[0], f.start[1] - pad[0] * f.jump[1]))
    elif len(ins) == 1 and f.hw is not None and (
            out_hw is None or (packet in _REDUCE and out_hw == (1, 1) and f.hw != (1, 1))):
        # flatten / view / mean over H and W: spatial positions are mixed
        g = _collapse(f) if (packet in _REDUCE or packet in _RESHAPE or out_t.dim() < 4) else f
    else:
        fs = []
        for t, fi in ins:
            fs.append(replace(fi, hw=_hw(t)))
        g = _merge(fs, out_hw)
        if out_hw is not None and len(ins) == 1 and f.hw is not None and out_hw != f.hw:
            # resampling (upsample, ...): the grid spacing scales with the size ratio
            g.jump = tuple(f.jump[i] * f.hw[i] / out_hw[i] for i in range(2))
    g.hw = out_hw
    return g


# --------------------------------------------------------------------------------------------
# The tracer


class _Frame:
    __slots__ = ("row", "has_child")

    def __init__(self, row):
        self.row = row
        self.has_child = False


class _Tracer(TorchDispatchMode):
    def __init__(self, model: nn.Module, spec_blocks=()):
        super().__init__()
        self.model = model
        self.rows: list[dict] = []
        self.stack: list[_Frame] = []
        self.fields: dict[int, _Field] = {}
        self.alive: list[torch.Tensor] = []  # keeps ids unique while the trace runs
        self.calls: dict[int, int] = {}
        self.seen_params: set[int] = set()
        self.end_seq = 0

    # -- tensors
    def field(self, t) -> _Field | None:
        return self.fields.get(id(t)) if isinstance(t, torch.Tensor) else None

    def set_field(self, t: torch.Tensor, f: _Field) -> None:
        self.fields[id(t)] = f
        self.alive.append(t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        if (packet is aten.native_batch_norm or packet is aten._native_batch_norm_legit_no_training) \
                and (args[1] is None or args[0].shape[1] == args[1].shape[0]):
            x = args[0]  # the meta kernel is slow Python; the shapes are obvious
            out = (torch.empty(x.shape, dtype=x.dtype, device="meta"),
                   torch.empty((0,), device="meta"), torch.empty((0,), device="meta"))
        elif _is_inplace_same_shape(func) and isinstance(args[0], torch.Tensor):
            out = args[0]
        elif packet is aten.convolution and not kwargs and len(args) == 9 and (
                (out := _conv_out(args)) is not None):
            pass
        elif (out := _shape_only(func, packet, args, kwargs)) is not None:
            pass
        else:
            out = func(*args, **kwargs)
        fields_ = self.fields
        ins = [(t, fields_[id(t)]) for t in _tensors((args, kwargs)) if id(t) in fields_]
        flat_out = _tensors(out)
        if packet in flop_registry and self.stack:
            macs = _flops(packet, args, kwargs, out) // 2
            self.stack[-1].row["macs_self"] += macs
            for frame in self.stack:
                frame.row["macs"] += macs
        if ins and flat_out:
            g = _propagate(func, args, kwargs, ins, flat_out[0])
            for t in flat_out:
                self.set_field(t, g)
        return out

    # -- module hooks
    def pre_hook(self, name: str, module: nn.Module, args, kwargs):
        call = self.calls.get(id(module), 0)
        self.calls[id(module)] = call + 1
        parent = self.stack[-1].row if self.stack else None
        if self.stack:
            self.stack[-1].has_child = True
        tensors = _tensors((args, kwargs))
        src = set()
        for t in tensors:
            f = self.field(t)
            if f is not None:
                src |= f.src
        trainable = non_trainable = pytorch = 0
        if call == 0:
            # _parameters / _buffers: named_parameters(recurse=False) costs more than the trace
            for p in module._parameters.values():
                if p is not None and id(p) not in self.seen_params:
                    self.seen_params.add(id(p))
                    pytorch += p.numel()
                    if p.requires_grad:
                        trainable += p.numel()
                    else:
                        non_trainable += p.numel()
            for bname, b in module._buffers.items():
                if bname in _STAT_BUFFERS and b is not None:
                    non_trainable += b.numel()
        row = dict(
            index=len(self.rows), name=name, call=call, type=type(module).__name__,
            depth=len(self.stack), parent=parent["index"] if parent else -1,
            module=module,
            kernel_size=_attr(module, "kernel_size"), stride=_attr(module, "stride"),
            padding=_attr(module, "padding"), dilation=_attr(module, "dilation"),
            groups=getattr(module, "groups", None) if isinstance(module, nn.modules.conv._ConvNd)
            else None,
            input_shapes=tuple(tuple(t.shape) for t in tensors), inputs=tensors,
            params_trainable=trainable, params_non_trainable=non_trainable,
            params_pytorch=pytorch, macs=0, macs_self=0,
            inputs_from=tuple(sorted(src)), end=-1, out=None,
        )
        self.rows.append(row)
        self.stack.append(_Frame(row))

    def post_hook(self, name: str, module: nn.Module, args, kwargs, output):
        frame = self.stack.pop()
        row = frame.row
        row["is_leaf"] = not frame.has_child
        outs = _tensors(output)
        row["output_shapes"] = tuple(tuple(t.shape) for t in outs)
        row["activations"] = sum(t.numel() for t in outs)
        fld = self.field(outs[0]) if outs else None
        if outs and fld is None:  # an output made outside the dispatcher: inherit from inputs
            ins = [self.field(t) for t in _tensors((args, kwargs))]
            ins = [f for f in ins if f is not None]
            if ins:
                fld = _merge(ins, _hw(outs[0]))
                fld.hw = _hw(outs[0])
        if fld is not None and row["is_leaf"]:
            # downstream edges point at this leaf, not at whatever produced the tensor before
            for t in outs:
                f = self.field(t) or fld
                self.set_field(t, replace(f, src=frozenset({row["index"]})))
        row["out"] = fld
        row["end"] = self.end_seq
        self.end_seq += 1


def _attr(module, attr):
    v = getattr(module, attr, None)
    if v is None or not isinstance(module, (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd,
                                            nn.modules.pooling._AvgPoolNd)):
        return None
    if isinstance(v, str):
        return v
    return _pair(v)


def _num(v: float):
    return int(v) if float(v).is_integer() else round(float(v), 4)


# --------------------------------------------------------------------------------------------
# Analysis


def analyze(model_or_name: str | nn.Module, input_size=None) -> ModelAnalysis:
    """Analyse a zoo model by name (cached per input size) or any ``nn.Module`` (analysed on a
    meta copy, never touched). ``input_size`` is (C, H, W), (H, W) or a side length; a zoo
    model's default is its spec's. Raises ``zoo.UnknownModelError`` for unknown names and
    :class:`AnalysisError` for input sizes the network cannot take."""
    if isinstance(model_or_name, nn.Module):
        if input_size is None:
            raise AnalysisError("input_size (C, H, W) is needed to analyse a module")
        size = _normalise_size(input_size, None)
        with _gc_paused():
            return _analyze(_meta_copy(model_or_name), type(model_or_name).__name__, size, None)
    from explorer import zoo

    spec = zoo.get_spec(model_or_name)  # UnknownModelError with the valid names
    size = _normalise_size(input_size, spec.input_size)
    with _gc_paused():
        return _analyze_cached(spec.name, size)


class _gc_paused:
    """The trace makes thousands of short-lived objects in a process that holds torch's
    millions: the cyclic collector's full passes would take a third of the time. Nothing the
    trace makes is cyclic garbage that must go before it ends."""

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()


analyze_model = analyze  # an alias that reads better for modules


def _normalise_size(size, default) -> tuple[int, int, int]:
    if size is None:
        if default is None:
            raise AnalysisError("input_size is needed")
        return tuple(int(v) for v in default)
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(v) for v in size)
    if len(size) == 2:
        if default is None:
            raise AnalysisError("input_size must be (C, H, W) for a module")
        size = (default[0], *size)
    if len(size) != 3 or min(size) < 1:
        raise AnalysisError(_("input size must be three positive numbers C H W, not {size}")
                            .format(size=size))
    return size


@functools.lru_cache(maxsize=128)
def _analyze_cached(name: str, size: tuple[int, int, int]) -> ModelAnalysis:
    from explorer import zoo

    spec = zoo.get_spec(name)
    c, h, w = size
    want = spec.input_size
    if c != want[0]:
        raise AnalysisError(_("{model} takes {want}-channel input, not {c} (input size is C H "
                              "W: {shape})").format(model=name, want=want[0], c=c,
                                                    shape=f"{want[0]} {want[1]} {want[2]}"))
    if spec.min_size is None and (h, w) != tuple(want[1:]):
        raise AnalysisError(_("{model} takes only {want} input (its dense layers fix the "
                              "size), not {size}").format(model=name, want=_fmt_size(want),
                                                          size=_fmt_size(size)))
    model = _build_meta(name)
    result = _analyze(model, name, size, spec)
    if spec.min_size is not None and min(h, w) < spec.min_size:
        raise AnalysisError(_("{model} needs at least {min}×{min} input, not {size}").format(
            model=name, min=spec.min_size, size=f"{h}×{w}"))
    return result


def _fmt_size(size) -> str:
    return "×".join(str(v) for v in size)


def _analyze(model: nn.Module, name: str, size, spec) -> ModelAnalysis:
    model.eval()  # a private meta copy or build: aux heads off, dropout and BN in eval form
    tracer = _Tracer(model)
    modules = list(model.named_modules())
    handles = []
    x = torch.empty((1, *size), device="meta")
    try:
        for path, module in modules:
            handles.append(module.register_forward_pre_hook(
                functools.partial(tracer.pre_hook, path), with_kwargs=True))
            handles.append(module.register_forward_hook(
                functools.partial(tracer.post_hook, path), with_kwargs=True))
        tracer.set_field(x, _Field((1, 1), (1, 1), (0.0, 0.0), False, frozenset({-1}), size[1:]))
        with torch.no_grad(), tracer:
            model(x)
    except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as err:
        raise _size_error(name, size, spec, tracer, err) from None
    finally:
        for handle in handles:
            handle.remove()
    return _assemble(model, modules, name, size, spec, tracer)


def _size_error(name, size, spec, tracer: _Tracer, err: Exception) -> AnalysisError:
    """Turn a failing forward into one line that says where the input became too small."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if not tracer.stack:
        return AnalysisError(_("{model} cannot take {size} input: {error}").format(
            model=name, size=_fmt_size(size), error=msg))
    row = tracer.stack[-1].row
    module = row["module"]
    where = f"{row['name'] or name} ({row['type']})"
    shape = row["input_shapes"][0] if row["input_shapes"] else None
    k, s = _attr(module, "kernel_size"), _attr(module, "stride")
    if isinstance(module, nn.modules.conv._ConvNd) and shape is not None and len(shape) > 1 \
            and shape[1] != module.in_channels:
        return AnalysisError(_("{model} cannot take {size} input: {where} expects {want} input "
                               "channels, gets {got}").format(
            model=name, size=_fmt_size(size), where=where, want=module.in_channels,
            got=shape[1]))
    if shape is not None and len(shape) == 4 and k is not None and not isinstance(
            row["padding"], str):
        p = row["padding"] or (0, 0)
        d = row["dilation"] or (1, 1)
        s = s or k
        ceil = getattr(module, "ceil_mode", False)
        rnd = math.ceil if ceil else math.floor
        out = [max(rnd((shape[2 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1), 0)
               for i in range(2)]
        if min(out) < 1:
            fin = tracer.field(row["inputs"][0]) if row["inputs"] else None
            steps = (fin.steps if fin else 0) + (1 if max(s) > 1 else 0)
            need = (_("{model} needs at least {min}×{min} input").format(
                        model=name, min=spec.min_size)
                    if spec is not None and spec.min_size else
                    _("{model} cannot take {size} input").format(model=name,
                                                                 size=_fmt_size(size)))
            return AnalysisError(ngettext(
                "{need}: after {steps} downsampling step {size} becomes {out} at {where}",
                "{need}: after {steps} downsampling steps {size} becomes {out} at {where}",
                steps).format(
                need=need, steps=steps, size=f"{size[1]}×{size[2]}", out=f"{out[0]}×{out[1]}",
                where=where))
    got = f" on a {_fmt_size(shape[1:])} input" if shape else ""
    return AnalysisError(_("{model} cannot take {size} input: {where} fails{got}: {error}").format(
        model=name, size=_fmt_size(size), where=where, got=got, error=msg))


def _assemble(model, modules, name, size, spec, tracer: _Tracer) -> ModelAnalysis:
    raw = tracer.rows
    blocks = {path for path, _, _ in spec.blocks} if spec is not None else set()
    # levels and enclosing blocks, parents before children
    for r in raw:
        parent = raw[r["parent"]] if r["parent"] >= 0 else None
        inherited = parent["block"] if parent is not None else -1
        if r["parent"] < 0:
            r["level"], r["block"] = "model", -1
        elif inherited >= 0:
            r["level"] = "layer" if r["is_leaf"] else "group"
            r["block"] = inherited
        elif not r["is_leaf"] and (type(r["module"]) not in _PLAIN_CONTAINERS
                                   or r["name"] in blocks):
            r["level"], r["block"] = "block", r["index"]
        else:
            r["level"] = "layer" if r["is_leaf"] else "group"
            r["block"] = -1
    # container params: everything below, on the first call only
    for r in reversed(raw):
        if r["parent"] >= 0 and r["call"] == 0:
            p = raw[r["parent"]]
            if p["call"] == 0:
                for key in ("params_trainable", "params_non_trainable", "params_pytorch"):
                    p[key] += r[key]
    # stages: a leaf belongs to the first stage whose end row has not finished before it
    ends = []
    if spec is not None:
        for stride, path in sorted(spec.stages.items()):
            end = next((r for r in raw if r["name"] == path), None)
            if end is not None:
                ends.append((stride, end))
    for r in raw:
        r["stage"] = next((s for s, e in ends if r["end"] <= e["end"]), None)
    kids: dict[int, set] = {}
    for r in reversed(raw):  # a container is in a stage only if all its leaves are
        if not r["is_leaf"]:
            stages = kids.get(r["index"], set())
            r["stage"] = stages.pop() if len(stages) == 1 else None
        if r["parent"] >= 0:
            kids.setdefault(r["parent"], set()).add(r["stage"])
    layers = tuple(_layer(r) for r in raw)
    stages = _stages(layers, ends)

    # one walk over the modules (each parameters()/buffers() call walks them all again)
    params: dict[int, torch.Tensor] = {}
    buffers: dict[int, tuple[str, torch.Tensor]] = {}
    for _path, m in modules:
        for p in m._parameters.values():
            if p is not None:
                params.setdefault(id(p), p)
        for bname, b in m._buffers.items():
            if b is not None:
                buffers.setdefault(id(b), (bname, b))
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    frozen = sum(p.numel() for p in params.values() if not p.requires_grad)
    stats = sum(b.numel() for n, b in buffers.values() if n in _STAT_BUFFERS)
    called = {id(r["module"]) for r in raw}
    unused = []
    params_unused = 0
    for path, m in modules:
        if id(m) in called or any(path.startswith(u + ".") for u in unused):
            continue
        n_params = sum(p.numel() for p in m.parameters())
        if n_params:  # the outermost module that never ran and holds parameters
            unused.append(path)
            params_unused += n_params + sum(
                b.numel() for n, b in m.named_buffers() if n.rsplit(".", 1)[-1] in _STAT_BUFFERS)
    return ModelAnalysis(
        name=name, input_size=tuple(size), layers=layers, stages=stages,
        params_total=trainable + frozen + stats, params_trainable=trainable,
        params_non_trainable=frozen + stats,
        params_pytorch=trainable + frozen,
        buffers=sum(b.numel() for _, b in buffers.values()),
        macs=raw[0]["macs"] if raw else 0,
        activations=sum(r.activations for r in layers if r.is_leaf),
        unused_modules=tuple(unused), params_unused=params_unused,
    )


def _layer(r: dict) -> LayerInfo:
    f: _Field | None = r["out"]
    return LayerInfo(
        index=r["index"], name=r["name"], call=r["call"], type=r["type"], depth=r["depth"],
        parent=r["parent"], level=r["level"], block=r["block"], stage=r["stage"],
        is_leaf=r["is_leaf"], kernel_size=r["kernel_size"], stride=r["stride"],
        padding=r["padding"], dilation=r["dilation"], groups=r["groups"],
        input_shapes=r["input_shapes"],
        output_shape=r["output_shapes"][0] if r["output_shapes"] else None,
        output_shapes=r["output_shapes"],
        params=r["params_trainable"] + r["params_non_trainable"],
        params_trainable=r["params_trainable"], params_non_trainable=r["params_non_trainable"],
        params_pytorch=r["params_pytorch"], macs=r["macs"], macs_self=r["macs_self"],
        activations=r["activations"],
        receptive_field=_num(max(f.rf)) if f else None,
        receptive_field_hw=tuple(_num(v) for v in f.rf) if f else None,
        jump=_num(max(f.jump)) if f else None,
        jump_hw=tuple(_num(v) for v in f.jump) if f else None,
        start_hw=tuple(_num(v) for v in f.start) if f else None,
        rf_global=bool(f.glob) if f else False,
        inputs_from=r["inputs_from"],
    )


def _stages(layers: tuple[LayerInfo, ...], ends) -> tuple[StageInfo, ...]:
    if not ends:
        return ()
    leaves = [r for r in layers if r.is_leaf]
    out = []
    end_rows = {stride: e for stride, e in ends}
    for stride in [s for s, _ in ends] + [None]:
        rows = [r for r in leaves if r.stage == stride]
        if not rows:
            continue
        last = layers[end_rows[stride]["index"]] if stride is not None else rows[-1]
        out.append(StageInfo(
            index=len(out), label=f"stride {stride}" if stride is not None else "head",
            stride=stride, end=last.name, first=rows[0].index, last=rows[-1].index,
            rows=tuple(r.index for r in rows), output_shape=last.output_shape,
            params=sum(r.params for r in rows),
            params_trainable=sum(r.params_trainable for r in rows),
            params_non_trainable=sum(r.params_non_trainable for r in rows),
            macs=sum(r.macs for r in rows), activations=sum(r.activations for r in rows),
            receptive_field=last.receptive_field, jump=last.jump, rf_global=last.rf_global,
        ))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Command line


def _human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))


def format_table(a: ModelAnalysis, level: str = "all") -> str:
    """A torchinfo-like text table of one view and the totals."""
    head = f"{'Layer (type)':<48} {'Output shape':<20} {'Params':>12} {'MACs':>14} {'RF':>6} {'Jump':>5}"
    lines = [f"{a.name} at {_fmt_size(a.input_size)}", "=" * len(head), head, "=" * len(head)]
    for r in a.rows(level):
        if r.level == "model":
            continue
        label = ("  " * (r.depth - 1)) + (r.name or a.name) + (f"#{r.call}" if r.call else "")
        label = f"{label} ({r.type})"
        if len(label) > 48:
            label = label[:47] + "…"
        shape = "×".join(str(v) for v in r.output_shape[1:]) if r.output_shape else "-"
        rf = "-" if r.receptive_field is None else (
            f"{r.receptive_field}" + ("*" if r.rf_global else ""))
        jump = "-" if r.jump is None or r.rf_global else f"{r.jump:g}"
        params = f"{r.params:,}" if r.params or r.call == 0 else "(shared)"
        lines.append(f"{label:<48} {shape:<20} {params:>12} {r.macs:>14,} {rf:>6} {jump:>5}")
    lines += [
        "=" * len(head),
        f"Total params (Keras: trainable + non-trainable): {a.params_total:,}",
        f"  trainable: {a.params_trainable:,}   non-trainable (BN running mean/var): "
        f"{a.params_non_trainable:,}",
        f"PyTorch parameters sum(p.numel()): {a.params_pytorch:,}   buffers: {a.buffers:,}",
        f"MACs: {a.macs:,} ({_human(a.macs)}; FLOPs = 2 × MACs = {_human(a.flops)})",
        f"Activations (leaf outputs): {a.activations:,}",
        "RF = receptive field in input pixels (* = covers the whole input), Jump = effective stride",
    ]
    if a.unused_modules:
        lines.append(f"Not run in eval mode (counted in totals): {', '.join(a.unused_modules)} "
                     f"({a.params_unused:,} params)")
    return "\n".join(lines)


def summary() -> dict:
    """Every registered model's headline facts and totals at its native input size: what
    ``assets/zoo_summary.json`` holds for pages that must not wait for torch (explorer.catalog)."""
    from explorer import zoo
    from explorer.analysis import diagram

    models = []
    for name in zoo.list_models():
        spec, a = zoo.get_spec(name), analyze(name)
        end = [s for s in a.stages if s.stride is not None]
        models.append({
            "name": name, "family": spec.family, "year": spec.year, "dataset": spec.dataset,
            "input_size": list(spec.input_size), "num_classes": spec.num_classes,
            "min_size": spec.min_size, "published_top1": spec.published_top1,
            "depth": diagram.weighted_depth(a), "params": a.params_pytorch,
            "params_keras": a.params_total, "macs": a.macs,
            "receptive_field": end[-1].receptive_field if end else None,
        })
    return {"generated_by": "python -m explorer.analysis --summary",
            "block_kinds": dict(zoo.BLOCK_KINDS), "models": models}


def write_summary(path=None) -> str:
    """Write :func:`summary` as JSON to ``path`` (default: the committed assets file); "-" prints."""
    from pathlib import Path

    from explorer.data.catalog import SUMMARY_PATH

    data = summary()  # one model per line: a change reads as a one-line diff
    text = ('{"generated_by": ' + json.dumps(data["generated_by"]) + ',\n"block_kinds": '
            + json.dumps(data["block_kinds"], ensure_ascii=False) + ',\n"models": [\n'
            + ",\n".join(json.dumps(m, ensure_ascii=False) for m in data["models"]) + "\n]}\n")
    if path == "-":
        sys.stdout.write(text)
        return "-"
    target = Path(path) if path else SUMMARY_PATH
    target.write_text(text, encoding="utf-8")
    return str(target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explorer.analysis",
        description="Per-layer shapes, parameters, MACs and receptive field of a zoo model.")
    parser.add_argument("name", nargs="?", help="model name (see --list)")
    parser.add_argument("--input-size", nargs=3, type=int, metavar=("C", "H", "W"))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--level", choices=("all", "block", "layer"), default="all",
                        help="rows to print in the table (default: all)")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument("--summary", nargs="?", const="", metavar="PATH",
                        help="write every model's totals as JSON (default: "
                             "assets/zoo_summary.json, which the Overview reads; - prints)")
    args = parser.parse_args(argv)
    from explorer import zoo

    if args.summary is not None:
        print(write_summary(args.summary or None), file=sys.stderr)
        return 0
    if args.list:
        for name in zoo.list_models():
            spec = zoo.get_spec(name)
            print(f"{name:<20} {spec.family:<18} {spec.year}  {_fmt_size(spec.input_size)}")
        return 0
    if not args.name:
        parser.print_usage(sys.stderr)
        print("error: give a model name, or --list", file=sys.stderr)
        return 2
    try:
        result = analyze(args.name, args.input_size)
    except (zoo.UnknownModelError, AnalysisError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_table(result, args.level))
    return 0

