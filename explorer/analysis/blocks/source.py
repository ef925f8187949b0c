"""The source code of a block's class, for reading beside its steps."""
from __future__ import annotations

import inspect

import torch.nn as nn

from explorer.analysis.blocks.forms import find_variant

__all__ = ["block_source"]


def block_source(kind_or_module: str | nn.Module | type) -> str:
    """Source code of the block's class: a kind's first standalone variant, a module's class, or
    a class. A plain ``nn.Sequential`` has no interesting source: its layers are listed."""
    if isinstance(kind_or_module, str):
        cls = find_variant(kind_or_module, None).cls
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

