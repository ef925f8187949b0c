"""Block walkthroughs: the classic CNN building blocks, one operation at a time.

For every block kind of :data:`explorer.zoo.BLOCK_KINDS` this package can

* build the block **standalone** from an input shape (H, W, C) and channel settings, reusing
  the real classes (``forms``: :func:`standalone_forms`, :func:`build_standalone`);
* list its **steps** in execution order (``tracing``: :func:`trace_module`,
  :func:`trace_standalone`): every leaf module the forward pass calls, plus the functional
  operations the block's own ``forward`` performs (``torch.cat``, ``out + identity``,
  ``F.relu``, ``F.avg_pool2d``, ``F.interpolate``), each with its input and output shapes,
  parameters, MACs, the tensors it consumed (so the diagram's edges are the real data flow) and
  its branch (``branches``);
* find it **in a real model** and **capture** the real activations of each step for an image
  without touching the shared cached model (``real``: :func:`real_blocks`, :func:`trace_real`,
  :func:`capture_steps`, :func:`capture_image`);
* compare the block with its **naive alternative** (``costs``: :func:`cost_panel`), computed
  from real ``nn.Conv2d`` modules, reproducing the seed documents' figures exactly;
* draw the block as **DOT** text with the current step highlighted (``drawing``:
  :func:`block_dot`) and show the **source** of its class (``source``: :func:`block_source`).

The plain data (:class:`Step`, :class:`BlockTrace`, :class:`StepActivation`) is in ``steps``.
The names below are loaded on first use (PEP 562): ``from explorer.analysis import blocks``
does not import torch, so a page can draw its title first.
"""
from __future__ import annotations

import importlib

_MODULES = {
    "steps": ["BlockConfigError", "Step", "BlockTrace", "StepActivation", "OP_NAMES",
              "MAIN_PATH", "MERGE", "AFTER_MERGE", "op_label", "token_label", "fmt_shape"],
    "forms": ["Field", "Variant", "PointwiseConv", "standalone_forms", "find_variant",
              "build_standalone"],
    "tracing": ["trace_block", "trace_module", "trace_standalone"],
    "real": ["RealBlock", "DEEPLAB", "real_blocks", "build_external", "meta_model",
             "real_block_module", "trace_real", "capture_trace", "capture_steps",
             "capture_image", "ExternalModel", "external_model", "branch_stats"],
    "costs": ["MACS_NOTE", "Cost", "cost_inception_reduction", "cost_bottleneck",
              "cost_depthwise", "cost_factorised", "cost_two_3x3", "cost_projection",
              "cost_aspp", "cost_dense", "cost_transition", "cost_same_shapes", "cost_panel"],
    "drawing": ["block_dot", "step_facts", "colorize"],
    "source": ["block_source"],
}
_HOME = {name: f"{__name__}.{module}" for module, names in _MODULES.items() for name in names}

__all__ = list(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
