"""Receptive-field arithmetic: how each op grows, merges or collapses what a tensor's units see.

A :class:`Field` travels with every tensor of the traced forward pass. A conv or pool grows it
by ``(k - 1) · dilation · jump``; an add, concat or multiply takes the largest over the paths
into it; a global pool, a flatten or a mean over the spatial axes makes it cover the whole
feature map (``glob``). :func:`propagate` applies the rule of one ATen op.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Field", "replace", "pair", "window", "collapse", "adaptive", "merge", "spatial_size",
           "propagate"]

aten = torch.ops.aten


@dataclass
class Field:
    """What the units of one tensor see, per axis (H, W) in input pixels: the field's size
    ``rf``, the ``jump`` between neighbouring units (effective stride) and the centre ``start``
    of the first unit's field; ``glob`` once a unit sees the whole input."""

    rf: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    glob: bool
    src: frozenset  # leaf row indices (-1 = the input image) this tensor derives from
    hw: tuple[int, int] | None  # spatial size of the tensor, None when it has no spatial axes
    steps: int = 0  # strided convs and pools on the longest path here (for error messages)


def replace(f: Field, **changes) -> Field:
    """dataclasses.replace, without its per-call introspection (it shows in the profile)."""
    g = object.__new__(Field)
    g.__dict__.update(f.__dict__)
    g.__dict__.update(changes)
    return g


def pair(v, n=2):
    """A kernel size, stride, padding or dilation as a tuple of ``n``: 3 -> (3, 3)."""
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    return v * n if len(v) == 1 else v


def window(f: Field, k, s, p, d) -> Field:
    """A sliding window (conv or pool) with kernel k, stride s, padding p, dilation d."""
    rf = tuple(f.rf[i] + (k[i] - 1) * d[i] * f.jump[i] for i in range(2))
    start = tuple(f.start[i] + ((k[i] - 1) * d[i] / 2 - p[i]) * f.jump[i] for i in range(2))
    jump = tuple(f.jump[i] * s[i] for i in range(2))
    return Field(rf, jump, start, f.glob, f.src, None, f.steps + (max(s) > 1))


def collapse(f: Field) -> Field:
    """Every output unit sees every position of the feature map (global pool, flatten)."""
    if f.hw is None:
        return f
    n = f.hw
    rf = tuple(f.rf[i] + (n[i] - 1) * f.jump[i] for i in range(2))
    start = tuple(f.start[i] + (n[i] - 1) / 2 * f.jump[i] for i in range(2))
    jump = tuple(f.jump[i] * n[i] for i in range(2))
    return Field(rf, jump, start, True, f.src, None, f.steps)


def adaptive(f: Field, out_hw) -> Field:
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
    return Field(tuple(rf), tuple(jump), tuple(start), glob, f.src, None, f.steps)


def merge(inputs: list[Field], out_hw) -> Field:
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
    return Field(rf, grid.jump, grid.start, any(f.glob for f in inputs), src, None,
                  max(f.steps for f in inputs))


def spatial_size(t: torch.Tensor):
    return tuple(t.shape[-2:]) if t.dim() == 4 else None


_CONV = {aten.convolution, aten._convolution}
_POOL = {aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d}
_ADAPTIVE = {aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten.adaptive_max_pool2d}
_REDUCE = {aten.mean, aten.sum, aten.amax, aten.amin, aten.max, aten.min, aten.var, aten.std}
_RESHAPE = {aten.view, aten._unsafe_view, aten.reshape, aten.flatten}


def propagate(func, args, kwargs, ins: list[tuple[torch.Tensor, Field]], out_t: torch.Tensor):
    """The field of ``out_t``, the output of ATen op ``func``, from the fields of its inputs
    ``ins`` (the tensor arguments that carry one)."""
    packet = func.overloadpacket
    x, f = ins[0]
    f = replace(f, hw=spatial_size(x))
    out_hw = spatial_size(out_t)
    if packet in _CONV and f.hw is not None and not args[6]:
        k = tuple(args[1].shape[2:])
        g = window(f, k, pair(args[3]), pair(args[4]), pair(args[5]))
    elif packet in _POOL and f.hw is not None:
        k = pair(args[1])
        s = pair(args[2]) if len(args) > 2 and args[2] else k
        p = pair(args[3]) if len(args) > 3 else (0, 0)
        d = pair(args[4]) if packet is not aten.avg_pool2d and len(args) > 4 else (1, 1)
        g = window(f, k, s, p, d)
    elif packet in _ADAPTIVE and f.hw is not None and out_hw is not None:
        g = adaptive(f, out_hw)
    elif packet is aten.constant_pad_nd and f.hw is not None:
        pad = list(args[1]) + [0, 0, 0, 0]  # (left, right, top, bottom)
        g = replace(f, start=(f.start[0] - pad[2] * f.jump[0], f.start[1] - pad[0] * f.jump[1]))
    elif len(ins) == 1 and f.hw is not None and (
            out_hw is None or (packet in _REDUCE and out_hw == (1, 1) and f.hw != (1, 1))):
        # flatten / view / mean over H and W: spatial positions are mixed
        g = collapse(f) if (packet in _REDUCE or packet in _RESHAPE or out_t.dim() < 4) else f
    else:
        fs = []
        for t, fi in ins:
            fs.append(replace(fi, hw=spatial_size(t)))
        g = merge(fs, out_hw)
        if out_hw is not None and len(ins) == 1 and f.hw is not None and out_hw != f.hw:
            # resampling (upsample, ...): the grid spacing scales with the size ratio
            g.jump = tuple(f.jump[i] * f.hw[i] / out_hw[i] for i in range(2))
    g.hw = out_hw
    return g

