"""Tracing a block: its steps in execution order, with shapes, parameters, MACs and data flow.

How steps are found. Hooks on every submodule of the block (a forward pre-hook and a forward
hook) keep a stack of the modules being executed and record each *leaf* module when it returns.
Merges are not modules in torchvision (``torch.cat(outputs, 1)``, ``out += identity``), so a
:class:`torch.overrides.TorchFunctionMode`, active only while the block runs, records the
functions from a short list (concatenation, addition, functional activations and pooling) when
they are called *outside* a leaf module. Each recorded step remembers which earlier step
produced each of its input tensors (by tensor identity), which gives the real data-flow graph;
branches are then named from that graph (:mod:`explorer.analysis.blocks.branches`).

The hooks go on a block nobody else runs: a standalone or meta-device block, or a borrowed copy
of a shared model (:mod:`explorer.analysis.blocks.real`); they are removed in ``finally``
(``explorer.inference.shared.hooks``), and each one still acts only in the thread that attached
it. The function mode is thread-local in PyTorch, so it never sees other threads.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache, partial
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from explorer.analysis.blocks.branches import label_branches
from explorer.analysis.blocks.forms import build_standalone, find_variant
from explorer.analysis.blocks.steps import BlockConfigError, BlockTrace, Step, fmt_shape
from explorer.i18n import _, get_language
from explorer.inference import shared

__all__ = ["pair", "chw", "flat_tensors", "module_macs", "trace_block", "trace_module",
           "trace_standalone"]


def chw(t: torch.Tensor) -> tuple[int, ...]:
    """Shape without the batch dimension: (C, H, W) for images, (F,) for vectors."""
    return tuple(int(s) for s in t.shape[1:])


def pair(v) -> tuple[int, int]:
    """A PyTorch size argument (``3`` or ``(3, 3)``) as a pair of ints."""
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


# Functions recorded when a block's own forward calls them outside a leaf module: merges, and
# functional layers (F.relu, F.avg_pool2d, ...) with the short name a step shows.
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


def flat_tensors(obj) -> list[torch.Tensor]:
    """Every tensor in ``obj`` (a tensor, or nested lists, tuples and dicts), in order."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in flat_tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in flat_tensors(o)]
    return []


def _conv_token(m: nn.Conv2d) -> str:
    kh, kw = pair(m.kernel_size)
    tok = f"{kh}×{kw}"
    if pair(m.stride)[0] > 1:
        tok += f"/{pair(m.stride)[0]}"
    if m.groups > 1 and m.groups == m.in_channels:
        tok += " dw"
    elif m.groups > 1:
        tok += f" g{m.groups}"
    if pair(m.dilation)[0] > 1:
        tok += f" r{pair(m.dilation)[0]}"
    return tok


def _describe_module(m: nn.Module, x_in: tuple | None, out_shape: tuple) -> tuple[str, dict, str, str]:
    """(short op name, hyper-parameters, one-line detail, token) of a leaf module."""
    name = type(m).__name__
    if isinstance(m, nn.Conv2d):
        kh, kw = pair(m.kernel_size)
        hyper = {"kernel": f"{kh}×{kw}", "stride": pair(m.stride)[0] if pair(m.stride)[0] ==
                 pair(m.stride)[1] else pair(m.stride), "padding": m.padding if
                 isinstance(m.padding, str) else (pair(m.padding)[0] if pair(m.padding)[0] ==
                 pair(m.padding)[1] else pair(m.padding)),
                 "dilation": pair(m.dilation)[0], "groups": m.groups,
                 "in_channels": m.in_channels, "out_channels": m.out_channels,
                 "bias": m.bias is not None}
        kind = ""  # a clause of its own, after a comma like the others
        if m.groups > 1 and m.groups == m.in_channels:
            kind = _(", depthwise (one kernel per channel)")
        elif m.groups > 1:
            kind = _(", grouped ({groups} groups of {channels} channels)").format(
                groups=m.groups, channels=m.in_channels // m.groups)
        elif (kh, kw) == (1, 1):
            kind = _(", pointwise (mixes channels at each pixel)")
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
        k, s, p = pair(m.kernel_size), pair(m.stride), pair(m.padding)
        what = "max-pool" if isinstance(m, nn.MaxPool2d) else "avg-pool"
        hyper = {"kernel": f"{k[0]}×{k[1]}", "stride": s[0], "padding": p[0],
                 "ceil_mode": m.ceil_mode}
        return (f"{what} {k[0]}×{k[1]}" + (f"/{s[0]}" if s[0] > 1 else ""), hyper,
                _("{type} {kernel}, stride {stride}, padding {padding}").format(
                    type=type(m).__name__, kernel=f"{k[0]}×{k[1]}", stride=s[0], padding=p[0])
                + (_(", ceil mode") if m.ceil_mode else "") + _(" (per channel, no weights)"),
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


def module_macs(m: nn.Module, out: torch.Tensor) -> int:
    """MACs of one conv or linear module that produced ``out`` (per image); 0 for others."""
    if isinstance(m, nn.Conv2d):
        kh, kw = pair(m.kernel_size)
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
    """Records the steps of one block's forward pass (see the module docstring). ``shown``
    maps module paths to the modules a step describes, when the traced block is a borrowed copy
    (whose ReLU6 is a ReLU subclass): the steps then read as the original's."""

    def __init__(self, block: nn.Module, summarise: bool = False,
                 shown: dict[str, nn.Module] | None = None):
        super().__init__()
        self.block = block
        self.summarise = summarise
        self.shown = shown or {}
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
        out = flat_tensors(output)
        if not out:
            return None
        self.busy = True
        try:
            ins = flat_tensors(args)
            described = self.shown.get(path, module)
            op, hyper, detail, token = _describe_module(described, None, chw(out[0]))
            params = 0
            if id(module) not in self.counted:
                self.counted.add(id(module))
                params = sum(p.numel() for p in module.parameters())
            self._record(path or type(described).__name__, path, op, "module",
                         type(described).__name__, hyper, detail, ins, out[0], params,
                         module_macs(module, out[0]), token)
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
        ins = flat_tensors(args[0]) if name in _CAT else flat_tensors(list(args))
        ins_shapes = [tuple(t.shape) for t in ins]  # before an in-place op changes anything
        result = func(*args, **kwargs)
        out = flat_tensors(result)
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
                    parts=parts, channels=chw(out)[0])
                              + (_(" (every input {shape}: spatial sizes must match)")
                                 .format(shape=spatial.pop()) if len(spatial) == 1 else ""))
            else:
                merge_text = _("concat along dim {dim}: {inputs} → {output}").format(
                    dim=dim, inputs=" ‖ ".join(map(fmt_shape, shapes)),
                    output=fmt_shape(chw(out)))
            detail = _("Concatenate along the channel axis: the branches' feature maps are "
                       "stacked, nothing is added or mixed")
        elif name in _ADD and len(ins) >= 2:
            kind, op, ftype = "merge", "add", "torch.add" if "_" not in name[:2] else "+"
            ftype = "in-place +=" if name in ("add_", "__iadd__") else "+"
            merge_text = _("add: {inputs} → {output} (shapes must match)").format(
                inputs=" + ".join(map(fmt_shape, shapes)), output=fmt_shape(chw(out)))
            detail = _("Element-wise sum of the two paths (the residual connection)")
        elif name in _MUL and len(ins) >= 2:
            kind, op, ftype = "merge", "multiply", "*"
            merge_text = _("multiply: {inputs} → {output} (broadcast)").format(
                inputs=" × ".join(map(fmt_shape, shapes)), output=fmt_shape(chw(out)))
            detail = _("Element-wise product (gating)")
        elif name in _FUNCS:
            kind, ftype = "function", f"F.{name}"
            op = _FUNCS[name]
            if name in ("avg_pool2d", "max_pool2d"):
                k = pair(_arg(args, kwargs, 1, "kernel_size"))
                s = _arg(args, kwargs, 2, "stride", None)
                s = pair(s if s not in (None, []) else k)[0]
                p = pair(_arg(args, kwargs, 3, "padding", 0))[0]
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
                           "over the whole grid").format(size=fmt_shape(chw(out)[1:]),
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
                    input_shapes=in_shapes if in_shapes is not None else [chw(t) for t in ins],
                    output_shape=chw(out), params=int(params), macs=int(macs), inputs=inputs,
                    token=token, merge_text=merge_text)
        self.steps.append(step)
        self.producer[id(out)] = step.index
        self._alive.append(out)
        if self.summarise and out.device.type != "meta":
            self.acts.append(_summarise(out))


@contextmanager
def _tracing(block: nn.Module, summarise: bool = False,
             shown: dict[str, nn.Module] | None = None) -> Iterator[_Tracer]:
    """Hooks on every submodule of ``block`` and the function mode, removed in ``finally``."""
    tracer = _Tracer(block, summarise, shown)
    with shared.hooks() as keep:
        for path, m in block.named_modules():
            leaf = next(iter(m.children()), None) is None
            keep(m.register_forward_pre_hook(partial(tracer.pre, path, leaf)))
            keep(m.register_forward_hook(partial(tracer.post, path, leaf)))
        with tracer:
            yield tracer


def _run_block(block: nn.Module, x: torch.Tensor, summarise: bool,
               shown: dict[str, nn.Module] | None = None) -> tuple[_Tracer, torch.Tensor]:
    with torch.inference_mode(), _tracing(block, summarise, shown) as tracer:
        tracer.producer[id(x)] = -1
        tracer._alive.append(x)
        out = block(x)
    return tracer, out


def trace_block(block: nn.Module, x: torch.Tensor, kind: str, title: str,
                summarise: bool = False, original: nn.Module | None = None
                ) -> tuple[BlockTrace, list[tuple[list, np.ndarray, dict]]]:
    """Run ``block`` on its input ``x`` once, recording every step; with ``summarise`` also
    each step's activations (a few channels, the channel mean, statistics). When ``block`` is a
    borrowed copy, ``original`` is the block it copies: the steps describe its modules."""
    shown = dict(original.named_modules()) if original is not None else None
    tracer, out = _run_block(block, x, summarise, shown)
    steps = tracer.steps
    branches = label_branches(steps)
    cls = type(original if original is not None else block)
    trace = BlockTrace(
        kind=kind, title=title, class_name=cls.__name__, input_shape=chw(x),
        output_shape=chw(flat_tensors(out)[0]), steps=steps,
        params_total=sum(p.numel() for p in block.parameters()),
        macs_total=sum(s.macs for s in steps), branches=branches, source_class=cls)
    return trace, tracer.acts


def trace_module(block: nn.Module, input_shape: Sequence[int], kind: str = "",
                 title: str = "") -> BlockTrace:
    """The steps of ``block`` for an input of ``input_shape`` (C, H, W), traced on the meta
    device when the block lives there, otherwise on a zero tensor (no gradients)."""
    device = next((p.device for p in block.parameters()), torch.device("cpu"))
    x = torch.zeros((1, *input_shape), device=device)
    try:
        trace, _acts = trace_block(block, x, kind, title or type(block).__name__)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise BlockConfigError(_("The input {shape} does not fit this block: {error}").format(
            shape=fmt_shape(input_shape), error=exc)) from None
    return trace


@lru_cache(maxsize=64)
def _standalone_cached(kind, variant, h, w, c, items, lang) -> BlockTrace:  # texts per language
    module, shape = build_standalone(kind, variant, h, w, c, device="meta", **dict(items))
    var = find_variant(kind, variant)
    trace = trace_module(module, shape, kind, _("{variant}, standalone, input {shape}").format(
        variant=_(var.name), shape=f"{h}×{w}×{c}"))
    trace.source_class = var.cls
    if var.note:
        trace.notes.append(_(var.note))
    return trace


def trace_standalone(kind: str, variant: str | int | None = None, h: int | None = None,
                     w: int | None = None, c: int | None = None, **settings) -> BlockTrace:
    """Steps of the standalone block (built on the meta device: instant, no memory)."""
    var = find_variant(kind, variant)
    dh, dw, dc = var.hwc
    items = tuple(sorted((k, str(v) if isinstance(v, (list, tuple)) else v)
                         for k, v in settings.items()))
    return _standalone_cached(kind, var.name, dh if h is None else h, dw if w is None else w,
                              dc if c is None else c, items, get_language())

