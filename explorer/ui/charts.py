"""Tables and altair charts for the Architecture and Overview pages.

The ``*_frame`` functions turn an analysis into plain pandas frames (what the tables show and
the CSV download holds); the ``*_chart`` functions draw them. Nothing here touches torch.
"""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from explorer.analysis import diagram
from explorer.i18n import N_, _, vega_count_expr
from explorer.ui import columns

__all__ = ["TABLE_LEVELS", "layer_table", "filter_table", "totals", "macs_text", "cost_frame",
           "shape_frame", "cost_chart", "shape_chart", "history_chart"]

# The diagram's kinds of layer, in stronger shades of the same hues (pastel bars wash out).
_KIND_COLOURS = {
    "conv": "#3182bd", "pool": "#fd8d3c", "norm": "#31a354", "act": "#e6550d",
    "linear": "#756bb1", "other": "#969696", "block": "#17becf", "stage": "#6baed6",
}
_KIND_STROKE = "#555555"


def _count_axis(scale: float = 1.0, **kwargs) -> alt.Axis:
    """An axis of counts whose ticks read as the page's numbers do: 万/亿 in Chinese ("500万",
    "1亿"), k/M/G in English ("5M")."""
    return alt.Axis(labelExpr=vega_count_expr(scale), **kwargs)


def _tip(field: str, kind: str = "N", **kwargs) -> alt.Tooltip:
    """A tooltip row titled in the UI language (a bare field name would show in English)."""
    return alt.Tooltip(f"{field}:{kind}", title=columns.label(field), **kwargs)


def _kind_scale(df: pd.DataFrame) -> alt.Scale:
    present = [k for k in _KIND_COLOURS if _(diagram.CATEGORIES[k][1]) in set(df["kind"])]
    return alt.Scale(domain=[_(diagram.CATEGORIES[k][1]) for k in present],
                     range=[_KIND_COLOURS[k] for k in present])


def _pair(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (tuple, list)):
        return "×".join(str(x) for x in v)
    return str(v)


def _row_name(r) -> str:
    return r.name + (f"#{r.call}" if r.call else "")


def _kind_label(r) -> str:
    kind = "block" if r.level == "block" else diagram.category(r.type)
    return _(diagram.CATEGORIES[kind][1])


# ---------------------------------------------------------------------------------------------
# Architecture page


TABLE_LEVELS = {
    "layer": N_("every layer"),  # shown with _(TABLE_LEVELS[level])
    "block": N_("blocks"),
    "all": N_("tree (all modules)"),
}


def layer_table(analysis, level: str = "layer") -> pd.DataFrame:
    """One row per module of a view: what torchinfo prints, plus receptive field and jump.
    Parameters follow Keras (trainable + batch-norm statistics); a module called twice (a
    shared ReLU) counts its parameters on its first call only."""
    rows = []
    for r in analysis.rows(level):
        if r.level == "model":
            continue
        indent = "  " * (r.depth - 1) if level == "all" else ""
        rows.append({
            "#": r.index,
            "layer": indent + _row_name(r),
            "type": r.type,
            "kind": _kind_label(r),
            "stage": (diagram.stage_name(analysis, r.stage)
                      if r.is_leaf or r.stage is not None else ""),
            "kernel": _pair(r.kernel_size),
            "stride": _pair(r.stride),
            "padding": _pair(r.padding),
            "groups": r.groups,
            "input shape": diagram.fmt_shape(r.input_shapes[0]) if r.input_shapes else "",
            "output shape": diagram.fmt_shape(r.output_shape),
            "params": r.params,
            "trainable": r.params_trainable,
            "non-trainable": r.params_non_trainable,
            "MACs": r.macs,
            "activations": r.activations,
            "receptive field": r.receptive_field,
            "jump": r.jump,
            "sees whole input": bool(r.rf_global),
        })
    df = pd.DataFrame(rows)
    if len(df):
        df["groups"] = df["groups"].astype("Int64")  # empty, not "None", where it does not apply
    return df


def filter_table(df: pd.DataFrame, types=None, text: str = "") -> pd.DataFrame:
    """Rows whose type is in ``types`` (all when empty) and whose name or type contains
    ``text`` (case-insensitive)."""
    out = df
    if types:
        out = out[out["type"].isin(types)]
    text = (text or "").strip().lower()
    if text:
        hit = (out["layer"].str.lower().str.contains(text, regex=False)
               | out["type"].str.lower().str.contains(text, regex=False))
        out = out[hit]
    return out


def totals(analysis) -> dict:
    """The headline numbers: parameters in both conventions, MACs, depth, final receptive field."""
    end = [s for s in analysis.stages if s.stride is not None]
    return {
        "params": analysis.params_total,
        "params_trainable": analysis.params_trainable,
        "params_non_trainable": analysis.params_non_trainable,
        "params_pytorch": analysis.params_pytorch,
        "macs": analysis.macs,
        "depth": diagram.weighted_depth(analysis),
        "leaves": len(analysis.rows("layer")),
        "receptive_field": end[-1].receptive_field if end else None,
        "rf_end": end[-1].end if end else None,
    }


def macs_text(macs: int) -> str:
    """``4.089 G``, ``11.1 M``, ``416.5 k``: three significant figures or more, never ``0.000 G``."""
    if macs >= 1e8:
        return f"{macs / 1e9:.3f} G"
    if macs >= 1e5:
        return f"{macs / 1e6:.1f} M"
    return f"{macs / 1e3:.1f} k"


def cost_frame(analysis, level: str) -> pd.DataFrame:
    """Parameters and MACs per stage, block or layer, in network order."""
    rows = []
    if level == "stage" and analysis.stages:
        for s in analysis.stages:
            rows.append({"order": s.index, "part": diagram.stage_title(analysis, s),
                         "type": "stage", "kind": _(diagram.CATEGORIES["stage"][1]),
                         "output shape": diagram.fmt_shape(s.output_shape),
                         "params": s.params, "MACs": s.macs})
    else:
        for n, r in enumerate(analysis.rows("block" if level == "stage" else level)):
            rows.append({"order": n, "part": _row_name(r), "type": r.type, "kind": _kind_label(r),
                         "output shape": diagram.fmt_shape(r.output_shape),
                         "params": r.params, "MACs": r.macs})
    return pd.DataFrame(rows)


def shape_frame(analysis) -> pd.DataFrame:
    """Channels and spatial size after each block (and each layer outside blocks) that outputs
    a feature map, in network order: the main path, not every branch inside a module."""
    rows = []
    for r in analysis.rows("block"):
        shape = r.output_shape
        if not shape or len(shape) != 4:
            continue
        rows.append({"step": len(rows), "part": _row_name(r), "type": r.type,
                     "output shape": diagram.fmt_shape(shape), "channels": shape[1],
                     "height": shape[2], "width": shape[3]})
    return pd.DataFrame(rows)


def cost_chart(df: pd.DataFrame, level: str) -> alt.Chart:
    """Two bar charts side by side: where the parameters are, and where the computation is."""
    tooltip = [_tip("part"), _tip("type"), _tip("kind"), _tip("output shape"),
               _tip("params", "Q", format=","), _tip("MACs", "Q", format=",")]
    color = alt.Color("kind:N", scale=_kind_scale(df),
                      legend=alt.Legend(title=columns.label("kind"), orient="bottom"))
    per = {"stage": (_("Parameters per stage"), _("MACs per stage"),
                     _("stages in network order (hover for names)")),
           "block": (_("Parameters per block"), _("MACs per block"),
                     _("blocks in network order (hover for names)")),
           "layer": (_("Parameters per layer"), _("MACs per layer"),
                     _("layers in network order (hover for names)"))}
    params_title, macs_title, order_title = per.get(level, per["layer"])
    if len(df) > 40:  # hundreds of layers: thin vertical bars in network order
        x = alt.X("order:O", title=order_title,
                  axis=alt.Axis(labels=False, ticks=False))
        base = alt.Chart(df).mark_bar().encode(x=x, color=color, tooltip=tooltip)
        params = base.encode(y=alt.Y("params:Q", title=_("parameters"), axis=_count_axis())
                             ).properties(height=170, width=900, title=params_title)
        macs = base.encode(y=alt.Y("MACs:Q", title="MACs", axis=_count_axis())).properties(
            height=170, width=900, title=macs_title)
        return alt.vconcat(params, macs).resolve_scale(x="shared").properties(autosize=_PAD)
    y = alt.Y("part:N", sort=alt.EncodingSortField("order"), title=None,
              axis=alt.Axis(labelOverlap=False, labelLimit=160))
    base = alt.Chart(df).mark_bar(stroke=_KIND_STROKE, strokeWidth=0.3).encode(
        y=y, color=color, tooltip=tooltip)
    height = max(100, 20 * len(df))
    params = base.encode(x=alt.X("params:Q", title=_("parameters"), axis=_count_axis())
                         ).properties(height=height, width=330, title=params_title)
    macs = base.encode(x=alt.X("MACs:Q", title="MACs", axis=_count_axis())
                       ).properties(height=height, width=330, title=macs_title)
    return alt.hconcat(params, macs).properties(autosize=_PAD)


# A concatenation sizes itself: without this Streamlit asks Vega to "fit" it to the container,
# which only single and layered views can ("Autosize fit only works for single views" warning).
_PAD = alt.AutoSizeParams(type="pad", contains="padding")


def shape_chart(df: pd.DataFrame) -> alt.Chart:
    """Channels rise while height and width fall, block by block: the shape of a CNN."""
    tooltip = [_tip("part"), _tip("type"), _tip("output shape"), _tip("channels", "Q"),
               _tip("height", "Q")]
    x = alt.X("part:N", sort=alt.EncodingSortField("step"), title=None,
              axis=alt.Axis(labelAngle=-45, labelOverlap=False, labelLimit=140))
    channels = alt.Chart(df).mark_line(
        interpolate="step-after", color="#3182bd",
        point=alt.OverlayMarkDef(color="#3182bd")).encode(
        x=x, y=alt.Y("channels:Q", title=_("channels")), tooltip=tooltip).properties(
        height=170, width=900, title=_("Channels through depth"))
    channels = channels.encode(x=alt.X("part:N", sort=alt.EncodingSortField("step"), title=None,
                                       axis=alt.Axis(labels=False, ticks=False)))
    spatial = alt.Chart(df).mark_line(
        interpolate="step-after", color="#e6550d",
        point=alt.OverlayMarkDef(color="#e6550d")).encode(
        x=x, y=alt.Y("height:Q", title=_("height = width (pixels)"),
                     scale=alt.Scale(type="log", base=2)), tooltip=tooltip).properties(
        height=170, width=900, title=_("Spatial size through depth (log scale)"))
    return alt.vconcat(channels, spatial).resolve_scale(x="shared")


# ---------------------------------------------------------------------------------------------
# Overview page


def _log_domain(values) -> list[float]:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return [10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))]


def _placed_labels(data: pd.DataFrame, x: alt.X, y: alt.Y, width: float = 720,
                   height: float = 355) -> alt.LayerChart:
    """Model names beside their points, each where it overlaps other labels and points least
    (explorer.label_layout), drawn with pixel offsets. Fixes the x and y domains to whole
    decades so that the pixel positions computed here are where Vega draws the points; the
    plot area is taken as about 720 × 355 px (the chart at 1400 px, height 480 with its title
    and axes): at other widths the choice stays reasonable, only less tight."""
    from explorer.ui import label_layout

    xd, yd = _log_domain(data["params (M)"]), _log_domain(data["GMACs"])
    x.scale = alt.Scale(type="log", domain=xd)
    y.scale = alt.Scale(type="log", domain=yd)
    px = [(math.log10(v) - math.log10(xd[0])) / (math.log10(xd[1]) - math.log10(xd[0])) * width
          for v in data["params (M)"]]
    py = [(1 - (math.log10(v) - math.log10(yd[0])) / (math.log10(yd[1]) - math.log10(yd[0])))
          * height for v in data["GMACs"]]
    top1 = data["top-1 (%)"]
    lo, hi = top1.min(), top1.max()
    radii = [math.sqrt((60 + (t - lo) / (hi - lo or 1) * 840) / math.pi) if pd.notna(t) else 4.5
             for t in top1]
    pos = label_layout.place(px, py, list(data["model"]), radii, width, height)
    offs = [label_layout.offsets(p, r) for p, r in zip(pos, radii)]
    data = data.assign(label_dx=[o[0] for o in offs], label_dy=[o[1] for o in offs],
                       label_align=[o[2] for o in offs])
    layers = []
    for align in ("left", "right", "center"):
        layers.append(alt.Chart(data).transform_filter(f"datum.label_align == '{align}'")
                      .mark_text(align=align, baseline="middle", fontSize=11, color="#222222",
                                 dx=alt.expr("datum.label_dx"), dy=alt.expr("datum.label_dy"))
                      .encode(x=x, y=y, text="model"))
    return alt.layer(*layers)


def history_chart(df: pd.DataFrame) -> alt.Chart:
    """MACs against parameters on log scales, one point per model: ImageNet models are bubbles
    sized by published top-1, the small MNIST/CIFAR models squares; colour by year, so the story
    of efficiency reads across the plot."""
    data = df.assign(**{"top-1 (%)": pd.to_numeric(df["top-1 (%)"], errors="coerce")})
    tooltip = [_tip("model"), _tip("family"), _tip("year", "O"), _tip("dataset"), _tip("input"),
               _tip("depth", "Q"), _tip("params", "Q", format=","), _tip("MACs", "Q", format=","),
               _tip("top-1 (%)", "Q", format=".1f"), _tip("receptive field", "Q")]
    # Ticks in the page's numbers (500万, 1亿 / 5M, 100M), not millions and billions.
    x = alt.X("params (M):Q", scale=alt.Scale(type="log"), title=_("parameters (log scale)"),
              axis=_count_axis(1e6))
    y = alt.Y("GMACs:Q", scale=alt.Scale(type="log"),
              title=_("MACs per image (log scale)"),
              axis=_count_axis(1e9))
    color = alt.Color("year:O", scale=alt.Scale(scheme="viridis"),
                      legend=alt.Legend(title=_("year")))
    labels = _placed_labels(data, x, y)  # fixes x's and y's domains first
    # One tick per decade (1万, 10万, 100万 …): Vega's own log ticks came out as 9万, 80万.
    for enc, column, scale in ((x, "params (M)", 1e6), (y, "GMACs", 1e9)):
        lo, hi = (round(math.log10(v)) for v in _log_domain(data[column]))  # as the labels'
        enc.axis = _count_axis(scale, values=[10.0 ** k for k in range(lo, hi + 1)])
    base = alt.Chart(data).encode(x=x, y=y, color=color, tooltip=tooltip)
    rated = base.transform_filter("isValid(datum['top-1 (%)'])").mark_circle(
        opacity=0.8, stroke="#333333", strokeWidth=0.5).encode(
        size=alt.Size("top-1 (%):Q", scale=alt.Scale(range=[60, 900], zero=False),
                      legend=alt.Legend(title=_("ImageNet top-1 %"))))
    unrated = base.transform_filter("!isValid(datum['top-1 (%)'])").mark_square(
        size=70, opacity=0.8, stroke="#333333", strokeWidth=0.5)
    return (rated + unrated + labels).properties(
        height=480, width="container",
        title=_("Cost against size: bubbles are ImageNet models (size = top-1), squares small "
                "MNIST/CIFAR models"))
