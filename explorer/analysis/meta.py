"""The zoo's networks on the meta device, and which ATen ops act in place.

Parameters on the meta device take no memory and a forward pass costs only shape arithmetic.
:func:`build_meta` builds a zoo model there (a module passed in is copied there by
:func:`explorer.inference.shared.meta_copy`, without touching the original). Building runs
thousands of in-place initialisers (``normal_``, ``uniform_``...) whose result is their own
argument: :func:`is_inplace_same_shape` tells them apart so the builder and the tracer can skip
their Python meta kernels.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from explorer.inference.shared import meta_copy

__all__ = ["INPLACE_TAG", "is_inplace", "is_inplace_same_shape", "is_pointwise", "build_meta"]

aten = torch.ops.aten

_INIT_OPS = {aten.normal_, aten.uniform_, aten.fill_, aten.zero_, aten.bernoulli_,
             aten.exponential_, aten.random_, aten.copy_, aten.erfinv_, aten.clamp_}


class _MetaShortcuts(TorchDispatchMode):
    """Skip the Python meta kernels whose result is obvious: in-place initialisers and
    pointwise ops return their first argument unchanged in shape. Building densenet121 on the
    meta device otherwise spends most of its time in ``normal_``."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if is_inplace_same_shape(func) and isinstance(args[0], torch.Tensor) \
                and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


# Older PyTorch releases (2.11 and before) have no Tag.inplace; ATen names in-place ops "op_".
INPLACE_TAG = getattr(torch.Tag, "inplace", None)


def is_inplace(func, tags) -> bool:
    """Does the ATen op ``func`` (with its ``tags``) write into its first argument?"""
    if INPLACE_TAG is not None:
        return INPLACE_TAG in tags
    name = func.overloadpacket.__name__
    if name.startswith("__") and name.endswith("__"):  # operators: __iadd__ is in place
        return name.startswith("__i") and name != "__invert__"
    return name.endswith("_")


@functools.lru_cache(maxsize=None)
def is_inplace_same_shape(func) -> bool:
    """An initialiser or in-place pointwise op: its result is its first argument, same shape."""
    tags = func.tags
    if torch.Tag.inplace_view in tags:
        return False
    return func.overloadpacket in _INIT_OPS or (
        is_inplace(func, tags) and torch.Tag.pointwise in tags)


@functools.lru_cache(maxsize=None)
def is_pointwise(func) -> bool:
    """An elementwise op that makes a new tensor (its output shape is the broadcast shape)."""
    return torch.Tag.pointwise in func.tags and not is_inplace(func, func.tags)


def build_meta(name: str) -> nn.Module:
    """The zoo model on the meta device. Every builder in the zoo works there; should a future
    one call an op that has no meta kernel, build it for real once and keep only a meta copy."""
    from explorer import zoo

    try:
        with torch.device("meta"), _MetaShortcuts():
            return zoo.build(name)
    except (NotImplementedError, RuntimeError):
        return meta_copy(zoo.build(name))
