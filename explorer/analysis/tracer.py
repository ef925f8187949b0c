"""The tracer: one forward pass on the meta device that records a row per module call.

Forward pre- and post-hooks on every module (leaves and containers) record one row per module
*call*, in execution order, with the call stack (parent, depth, call index for modules that are
called more than once, like torchvision ResNet's shared ``relu``). The tracer is also a
``TorchDispatchMode``: it sees every aten op. Convolutions and matrix products are costed with
the formulas of ``torch.utils.flop_counter`` (the registry ``FlopCounterMode`` uses; MACs = its
FLOPs / 2) and charged to every module on the call stack; every tensor carries its receptive
field (:mod:`explorer.analysis.fields`) and the leaf modules that produced it, which gives each
row ``inputs_from``: the edges of the network's DAG. Ops whose output shape is obvious (batch
norm, plain convolutions, elementwise ops, ``cat``) skip their slow Python meta kernels.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from explorer.analysis.fields import Field, merge, pair, propagate, replace, spatial_size
from explorer.analysis.meta import is_inplace_same_shape, is_pointwise
from explorer.analysis.types import STAT_BUFFERS
from explorer.inference.shared import hooks

__all__ = ["Tracer", "module_attr"]

aten = torch.ops.aten


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
    if is_pointwise(func):
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



class _Frame:
    __slots__ = ("row", "has_child")

    def __init__(self, row):
        self.row = row
        self.has_child = False


class Tracer(TorchDispatchMode):
    """Rows (dicts, one per module call) and tensor fields of one traced forward pass of
    ``model``, a private meta model: see :meth:`run`."""

    def __init__(self, model: nn.Module, spec_blocks=()):
        super().__init__()
        self.model = model
        self.rows: list[dict] = []
        self.stack: list[_Frame] = []
        self.fields: dict[int, Field] = {}
        self.alive: list[torch.Tensor] = []  # keeps ids unique while the trace runs
        self.calls: dict[int, int] = {}
        self.seen_params: set[int] = set()
        self.end_seq = 0

    def run(self, modules, size) -> None:
        """One forward pass on a ``1 × C × H × W`` meta input (``size`` = (C, H, W)) with a pre-
        and a post-hook on each of ``modules`` (the model's ``named_modules()`` pairs), all
        removed when the pass ends or fails."""
        x = torch.empty((1, *size), device="meta")
        with hooks() as keep:
            for path, module in modules:
                keep(module.register_forward_pre_hook(
                    functools.partial(self.pre_hook, path), with_kwargs=True))
                keep(module.register_forward_hook(
                    functools.partial(self.post_hook, path), with_kwargs=True))
            self.set_field(x, Field((1, 1), (1, 1), (0.0, 0.0), False, frozenset({-1}), size[1:]))
            with torch.no_grad(), self:
                self.model(x)

    # -- tensors
    def field(self, t) -> Field | None:
        return self.fields.get(id(t)) if isinstance(t, torch.Tensor) else None

    def set_field(self, t: torch.Tensor, f: Field) -> None:
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
        elif is_inplace_same_shape(func) and isinstance(args[0], torch.Tensor):
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
            g = propagate(func, args, kwargs, ins, flat_out[0])
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
                if bname in STAT_BUFFERS and b is not None:
                    non_trainable += b.numel()
        row = dict(
            index=len(self.rows), name=name, call=call, type=type(module).__name__,
            depth=len(self.stack), parent=parent["index"] if parent else -1,
            module=module,
            kernel_size=module_attr(module, "kernel_size"), stride=module_attr(module, "stride"),
            padding=module_attr(module, "padding"), dilation=module_attr(module, "dilation"),
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
                fld = merge(ins, spatial_size(outs[0]))
                fld.hw = spatial_size(outs[0])
        if fld is not None and row["is_leaf"]:
            # downstream edges point at this leaf, not at whatever produced the tensor before
            for t in outs:
                f = self.field(t) or fld
                self.set_field(t, replace(f, src=frozenset({row["index"]})))
        row["out"] = fld
        row["end"] = self.end_seq
        self.end_seq += 1


def module_attr(module, attr):
    """A conv's or pool's ``kernel_size``, ``stride``, ``padding`` or ``dilation`` as a pair
    (a padding mode such as "same" as is); None for other modules."""
    v = getattr(module, attr, None)
    if v is None or not isinstance(module, (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd,
                                            nn.modules.pooling._AvgPoolNd)):
        return None
    if isinstance(v, str):
        return v
    return pair(v)
