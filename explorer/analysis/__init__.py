"""What a network is made of: per-layer analysis on the meta device, diagrams, feature maps and CKA, blocks.

Submodules: ``layers`` (:func:`analyze`: shapes, parameters, MACs, receptive fields per module
call) with its parts ``types`` (the result dataclasses), ``meta`` (meta-device builds,
in-place ops), ``tracer`` (the traced forward pass), ``fields`` (receptive-field arithmetic) and
``report`` (the text table, ``assets/zoo_summary.json``); ``diagram`` (Graphviz DOT of an
analysis), ``features`` (feature maps, stages matched by stride), ``cka`` (linear CKA), ``blocks``
(Inception, residual, dense... blocks step by step). ``python -m explorer.analysis`` is the
command line (``__main__.py``).

The names below are loaded on first use (PEP 562), so ``explorer.analysis.diagram`` stays
importable without torch: the pages draw their title before torch is imported.
"""
from __future__ import annotations

import importlib

__all__ = ["AnalysisError", "LayerInfo", "StageInfo", "ModelAnalysis", "analyze", "format_table",
           "summary", "write_summary"]

_HOME = {
    **{name: "explorer.analysis.types"
       for name in ("AnalysisError", "LayerInfo", "StageInfo", "ModelAnalysis")},
    "analyze": "explorer.analysis.layers",
    **{name: "explorer.analysis.report" for name in ("format_table", "summary", "write_summary")},
}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'explorer.analysis' has no attribute {name!r}")
