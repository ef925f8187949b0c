"""Drawing a traced block: the DOT diagram with the current step highlighted, a step's facts,
and activation maps as colour images."""
from __future__ import annotations

import numpy as np

from explorer.analysis.blocks.steps import (AFTER_MERGE, MAIN_PATH, MERGE, BlockTrace, Step,
                                            fmt_shape, op_label)
from explorer.data import colormaps
from explorer.i18n import _, format_int

__all__ = ["block_dot", "step_facts", "colorize"]


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def block_dot(trace: BlockTrace, current: int | None = None) -> str:
    """The block as a DOT graph: one node per step, edges = real data flow, branches boxed,
    steps already executed shaded and the ``current`` step highlighted."""
    lines = ["digraph block {", "  rankdir=TB; nodesep=0.25; ranksep=0.3;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, '
             'fillcolor="white", color="#555555", height=0.3];',
             '  edge [color="#777777", arrowsize=0.6];',
             "  input [label=" + _q(_("input") + " " + fmt_shape(trace.input_shape))
             + ', shape=oval, fillcolor="#eeeeee"];']

    def node(s: Step) -> str:
        label = f"{s.index + 1}. {op_label(s.op)}\\n{fmt_shape(s.output_shape)}"
        attrs = {"label": label}
        if s.kind == "merge":
            # "rounded" has no meaning for an ellipse, and Graphviz then drew it without its
            # outline: plain "filled" keeps the border.
            attrs.update(shape="ellipse", style="filled")
        if current is not None and s.index == current:
            attrs.update(fillcolor="#ff9f43", penwidth="2.5", color="#c0392b")
        elif current is not None and s.index < current:
            attrs["fillcolor"] = "#d6e9f8"
        body = ", ".join(f'{k}={_q(v) if k != "label" else chr(34) + v.replace(chr(34), "") + chr(34)}'
                         for k, v in attrs.items())
        return f"    s{s.index} [{body}];"

    clusters: dict[str, list[Step]] = {}
    for s in trace.steps:
        clusters.setdefault(s.branch, []).append(s)
    for k, (label, members) in enumerate(clusters.items()):
        if label in (_(MAIN_PATH), _(MERGE), _(AFTER_MERGE)):
            lines += [node(s) for s in members]
            continue
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f'    label={_q(label)}; style="dashed,rounded"; color="#999999"; '
                     'fontname="Helvetica"; fontsize=10;')
        lines += [node(s) for s in members]
        lines.append("  }")
    for s in trace.steps:
        srcs = s.inputs or ([-1] if s.index == 0 else [])
        for i in dict.fromkeys(srcs):
            label = ' [label=' + _q(_("identity")) + ', fontsize=10, fontname="Helvetica"]' if (
                i < 0 and s.op == "add") else ""
            lines.append(f"  {'input' if i < 0 else f's{i}'} -> s{s.index}{label};")
    if trace.steps:
        lines.append("  output [label=" + _q(_("output") + " " + fmt_shape(trace.output_shape))
                     + ', shape=oval, fillcolor="#eeeeee"];')
        lines.append(f"  s{trace.steps[-1].index} -> output;")
    lines.append("}")
    return "\n".join(lines)


def step_facts(step: Step) -> list[tuple[str, str]]:
    """(label, value) rows describing one step, for the page."""
    rows = [(_("Operation"), step.detail), (_("Module / function"), f"{step.name} ({step.type})"),
            (_("Branch"), step.branch),
            (_("Input shape"), " + ".join(map(fmt_shape, step.input_shapes)) or "—"),
            (_("Output shape"), fmt_shape(step.output_shape)),
            (_("Parameters"), format_int(step.params)), ("MACs", format_int(step.macs))]
    for k, v in step.hyper.items():
        rows.append((k.replace("_", " "), str(v)))
    if step.merge_text:
        rows.insert(1, (_("Shape arithmetic"), step.merge_text))
    return rows


def colorize(a: np.ndarray, size: int = 160) -> np.ndarray:
    """A 2-D map as an RGB uint8 image (viridis, scaled to its own min..max), enlarged with
    nearest-neighbour to about ``size`` pixels so single activations stay visible."""
    return colormaps.enlarge(colormaps.colorize(a, name="viridis"), size)
