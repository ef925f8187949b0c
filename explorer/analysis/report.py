"""Text and JSON summaries of analyses: the torchinfo-like table, the model list, the zoo summary.

What ``python -m explorer.analysis`` prints, and :func:`write_summary`, which writes
``assets/zoo_summary.json``: every model's totals for the pages that must not wait for torch
(:mod:`explorer.data.catalog` reads it).
"""
from __future__ import annotations

import json
import sys

from explorer.analysis.diagram import weighted_depth
from explorer.analysis.layers import analyze, fmt_size
from explorer.analysis.types import ModelAnalysis
from explorer.i18n import format_si

__all__ = ["format_table", "format_model_list", "summary", "write_summary"]


def format_table(a: ModelAnalysis, level: str = "all") -> str:
    """A torchinfo-like text table of one view and the totals."""
    head = f"{'Layer (type)':<48} {'Output shape':<20} {'Params':>12} {'MACs':>14} {'RF':>6} {'Jump':>5}"
    lines = [f"{a.name} at {fmt_size(a.input_size)}", "=" * len(head), head, "=" * len(head)]
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
        f"MACs: {a.macs:,} ({format_si(a.macs, '.2f')}; FLOPs = 2 × MACs = "
        f"{format_si(a.flops, '.2f')})",
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

    models = []
    for name in zoo.list_models():
        spec, a = zoo.get_spec(name), analyze(name)
        end = [s for s in a.stages if s.stride is not None]
        models.append({
            "name": name, "family": spec.family, "year": spec.year, "dataset": spec.dataset,
            "input_size": list(spec.input_size), "num_classes": spec.num_classes,
            "min_size": spec.min_size, "published_top1": spec.published_top1,
            "depth": weighted_depth(a), "params": a.params_pytorch,
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


def format_model_list() -> str:
    """One line per registered model: name, family, year and input size (``--list``)."""
    from explorer import zoo

    lines = []
    for name in zoo.list_models():
        spec = zoo.get_spec(name)
        lines.append(f"{name:<20} {spec.family:<18} {spec.year}  {fmt_size(spec.input_size)}")
    return "\n".join(lines)
