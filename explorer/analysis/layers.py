"""Per-layer analysis of a network: shapes, parameters, MACs and receptive field.

MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 × MACs. This is the convention
of torchvision's ``_ops`` ("GFLOPS" in its docs) and of most papers' tables; batch norm,
activations, pooling and additions are not counted.

Everything is computed on the meta device: the model is built with ``torch.device("meta")`` (or,
for a module passed in, copied with its tensors swapped for meta tensors; :mod:`.meta`), so
parameters take no memory and one forward pass on a ``1 × C × H × W`` meta tensor costs only
shape arithmetic. During that pass the tracer (:mod:`.tracer`) records one row per module
*call*, costs every convolution and matrix product, and carries each tensor's receptive field
(:mod:`.fields`) and the leaf modules that produced it. This module turns those raw rows into
:class:`~explorer.analysis.types.ModelAnalysis`: levels (model, block, group, layer), stages,
container totals and the unused modules.

Parameters follow two conventions, both shown: PyTorch's ``sum(p.numel())`` and Keras's, where
batch norm's running mean and variance are "non-trainable params" (``num_batches_tracked`` is not
counted), trainable = parameters with ``requires_grad``.

Command line, like torchinfo's summary (``explorer/analysis/__main__.py``)::

    python -m explorer.analysis resnet50 [--input-size 3 160 160] [--json]
    python -m explorer.analysis --list
"""
from __future__ import annotations

import functools
import gc
import math

import torch
import torch.nn as nn

from explorer.analysis.fields import Field
from explorer.analysis.meta import build_meta
from explorer.analysis.tracer import Tracer, module_attr
from explorer.analysis.types import (STAT_BUFFERS, AnalysisError, LayerInfo, ModelAnalysis,
                                     StageInfo)
from explorer.i18n import _, ngettext
from explorer.inference.shared import meta_copy

__all__ = ["AnalysisError", "LayerInfo", "StageInfo", "ModelAnalysis", "analyze", "analyze_model",
           "clear_cache", "fmt_size"]

# Containers that only hold modules: transparent in the block view (a subclass with a forward of
# its own, like torchvision's Conv2dNormActivation or DenseNet's _Transition, is a block).
_PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


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
            return _analyze(meta_copy(model_or_name), type(model_or_name).__name__, size, None)
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
                              "size), not {size}").format(model=name, want=fmt_size(want),
                                                          size=fmt_size(size)))
    model = build_meta(name)
    result = _analyze(model, name, size, spec)
    if spec.min_size is not None and min(h, w) < spec.min_size:
        raise AnalysisError(_("{model} needs at least {min}×{min} input, not {size}").format(
            model=name, min=spec.min_size, size=f"{h}×{w}"))
    return result


def clear_cache() -> None:
    """Forget every zoo analysis cached by :func:`analyze`: the next call builds and traces
    again (tests that change the zoo's builders, benchmarks that time a cold analysis)."""
    _analyze_cached.cache_clear()


def fmt_size(size) -> str:
    """``(3, 224, 224)`` -> ``"3×224×224"``: an input size as the messages and tables write it."""
    return "×".join(str(v) for v in size)


def _analyze(model: nn.Module, name: str, size, spec) -> ModelAnalysis:
    model.eval()  # a private meta copy or build: aux heads off, dropout and BN in eval form
    tracer = Tracer(model)
    modules = list(model.named_modules())
    try:
        tracer.run(modules, size)
    except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as err:
        raise _size_error(name, size, spec, tracer, err) from None
    return _assemble(model, modules, name, size, spec, tracer)


def _size_error(name, size, spec, tracer: Tracer, err: Exception) -> AnalysisError:
    """Turn a failing forward into one line that says where the input became too small."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if not tracer.stack:
        return AnalysisError(_("{model} cannot take {size} input: {error}").format(
            model=name, size=fmt_size(size), error=msg))
    row = tracer.stack[-1].row
    module = row["module"]
    where = f"{row['name'] or name} ({row['type']})"
    shape = row["input_shapes"][0] if row["input_shapes"] else None
    k, s = module_attr(module, "kernel_size"), module_attr(module, "stride")
    if isinstance(module, nn.modules.conv._ConvNd) and shape is not None and len(shape) > 1 \
            and shape[1] != module.in_channels:
        return AnalysisError(_("{model} cannot take {size} input: {where} expects {want} input "
                               "channels, gets {got}").format(
            model=name, size=fmt_size(size), where=where, want=module.in_channels,
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
                                                                 size=fmt_size(size)))
            return AnalysisError(ngettext(
                "{need}: after {steps} downsampling step {size} becomes {out} at {where}",
                "{need}: after {steps} downsampling steps {size} becomes {out} at {where}",
                steps).format(
                need=need, steps=steps, size=f"{size[1]}×{size[2]}", out=f"{out[0]}×{out[1]}",
                where=where))
    got = f" on a {fmt_size(shape[1:])} input" if shape else ""
    return AnalysisError(_("{model} cannot take {size} input: {where} fails{got}: {error}").format(
        model=name, size=fmt_size(size), where=where, got=got, error=msg))


def _assemble(model, modules, name, size, spec, tracer: Tracer) -> ModelAnalysis:
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
    stats = sum(b.numel() for n, b in buffers.values() if n in STAT_BUFFERS)
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
                b.numel() for n, b in m.named_buffers() if n.rsplit(".", 1)[-1] in STAT_BUFFERS)
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
    f: Field | None = r["out"]
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



def _num(v: float):
    return int(v) if float(v).is_integer() else round(float(v), 4)
