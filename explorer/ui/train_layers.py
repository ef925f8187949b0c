"""The Train page's training dynamics, layer by layer: per layer and epoch the parameters' and
gradients' norms, dead or saturated units, histograms of weights, gradients and activations,
and the first layer's filters over the epochs (``explorer.train.dynamics``)."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw

from explorer.data import colormaps
from explorer.i18n import N_, _
from explorer.train import dynamics
from explorer.train.dynamics import History

__all__ = ["ACT_KINDS", "HIST_KINDS", "layers"]

HIST_KINDS = {"weights": N_("weights"), "gradients": N_("gradients"),
              "activations": N_("activations")}
ACT_KINDS = {"relu": N_("ReLU"), "tanh": N_("tanh")}  # the activation column, shown with _()


def layers(history: History, epoch: int) -> None:
    """Per-layer tables, dead units over the epochs, histograms, the first layer's filters."""
    rows = dynamics.layer_rows(history, epoch)
    params = pd.DataFrame([r for r in rows if r["kind"] == "parameters"])
    acts = pd.DataFrame([r for r in rows if r["kind"] != "parameters"])
    kinds = set(acts["kind"]) if len(acts) else set()
    if len(acts):  # the activation function's name as the reader's language writes it
        acts["kind"] = [_(ACT_KINDS[k]) for k in acts["kind"]]
    left, right = st.columns([5, 6])  # two short tables side by side, every column in view
    with left:
        st.dataframe(params[["layer", "params", "weight_norm", "grad_norm", "step"]],
                     hide_index=True, width="stretch", column_config={
                         "layer": st.column_config.TextColumn(_("layer"), width="small"),
                         "params": st.column_config.NumberColumn(_("parameters"), format="%d",
                                                                 width="small"),
                         "weight_norm": st.column_config.NumberColumn(_("weight norm"), format="%.3f",
                                                                      width="small"),
                         "grad_norm": st.column_config.NumberColumn(_("gradient norm"),
                                                                    format="%.2e", width="small"),
                         "step": st.column_config.NumberColumn(
                             _("moved"), format="percent", width="small",
                             help=_("How far the layer's parameters moved since the previous "
                                    "epoch: ‖W − W(previous epoch)‖ / ‖W(previous epoch)‖."))})
    with right:
        dead_title = (_("dead units") if kinds == {"relu"} else
                      _("saturated units") if kinds == {"tanh"} else _("dead or saturated units"))
        st.dataframe(acts[["layer", "kind", "units", "dead", "zero"]], hide_index=True,
                     width="stretch", column_config={
                         "layer": st.column_config.TextColumn(_("layer"), width="small"),
                         "kind": st.column_config.TextColumn(_("activation"), width="small"),
                         "units": st.column_config.NumberColumn(_("units"), format="%d",
                                                                width="small"),
                         "dead": st.column_config.ProgressColumn(
                             dead_title, format="percent", min_value=0.0, max_value=1.0,
                             help=_("ReLU: units that are zero for every probe digit (dead); "
                                    "tanh: units at |y| > 0.99 for every probe digit "
                                    "(saturated).")),
                         "zero": st.column_config.ProgressColumn(
                             _("inactive outputs"), format="percent", min_value=0.0,
                             max_value=1.0, help=_("The share of all outputs that are 0 (ReLU) "
                                                   "or saturated, |y| > 0.99 (tanh)."))})
        st.caption(_("A unit is a channel of a convolution or a neuron of a dense layer, over "
                     "the 2,000 probe digits. Gradients: of the loss on the first 500 of them, "
                     "at the epoch's final weights."))
    _dead_over_epochs(history, epoch)
    kind = st.radio(_("Histograms of"), list(HIST_KINDS), horizontal=True, key="dyn_hist_kind",
                    format_func=lambda k: _(HIST_KINDS[k]))
    _histograms(history, epoch, kind)
    _filters(history, epoch)


def _dead_over_epochs(history: History, epoch: int) -> None:
    data = []
    for e in history.epochs:
        arr = history.epoch(e)
        for i, layer in enumerate(history.meta["act_layers"]):
            data.append({"epoch": e, "layer": layer["name"], "share": float(arr["dead"][i])})
    df = pd.DataFrame(data)
    if df.empty or df["share"].max() == 0:
        st.caption(_("No dead or saturated unit at any recorded epoch."))
        return
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("epoch:O", title=_("epoch"), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("share:Q", title=_("dead or saturated units"), axis=alt.Axis(format="%")),
        color=alt.Color("layer:N", title=_("layer")),
        tooltip=[alt.Tooltip("layer:N", title=_("layer")), alt.Tooltip("epoch:O", title=_("epoch")),
                 alt.Tooltip("share:Q", title=_("share"), format=".1%")])
    # The rule's x carries the same title: a layer without one adds the field name to the axis.
    rule = alt.Chart(pd.DataFrame({"epoch": [epoch]})).mark_rule(color="#999").encode(
        x=alt.X("epoch:O", title=_("epoch")))
    st.altair_chart((chart + rule).properties(height=220), width="stretch")


def _histograms(history: History, epoch: int, kind: str) -> None:
    first = history.epochs[0]
    frames = []
    for e in dict.fromkeys([first, epoch]):
        df = pd.DataFrame(dynamics.histogram_rows(history, e, kind))
        df["epoch"], df["when"] = e, _("epoch {epoch}").format(epoch=e)
        # Density, not count: the two epochs' bins differ in width (each spans its own range).
        df["density"] = df["count"] / (df["hi"] - df["lo"]) / df.groupby("layer")["count"].transform("sum")
        frames.append(df)
    order = [layer["name"] for layer in history.meta["param_layers" if kind != "activations"
                                                     else "act_layers"]]
    # ReLU outputs pile up at 0: a symmetric log scale keeps the rest visible beside that peak.
    y_scale = alt.Scale(type="symlog") if kind == "activations" else alt.Scale()
    tips = [alt.Tooltip("when:N", title=_("epoch")),
            alt.Tooltip("lo:Q", title=_("from"), format=".3g"),
            alt.Tooltip("hi:Q", title=_("to"), format=".3g"),
            alt.Tooltip("count:Q", title=_("count"), format=",")]
    colour = alt.Color("when:N", title=None, legend=alt.Legend(orient="top"),
                       scale=alt.Scale(domain=[f["when"].iloc[0] for f in frames],
                                       range=["#7f7f7f", "#1f77b4"][-len(frames):]))
    bars = alt.Chart().mark_rect(opacity=0.8).encode(
        x=alt.X("lo:Q", title=None), x2="hi:Q",
        y=alt.Y("density:Q", title=_("density"), scale=y_scale), color=colour, tooltip=tips,
    ).transform_filter(alt.datum.epoch == epoch)
    outline = alt.Chart().mark_line(interpolate="step-after", strokeWidth=1.2).encode(
        x=alt.X("lo:Q", title=None),
        y=alt.Y("density:Q", title=_("density"), scale=y_scale), color=colour, tooltip=tips,
    ).transform_filter(alt.datum.epoch == first)
    chart = alt.layer(*([bars, outline] if epoch != first else [bars]),
                      data=pd.concat(frames)).properties(width=230, height=120).facet(
        facet=alt.Facet("layer:N", title=None, sort=order), columns=3,
    ).resolve_scale(x="independent", y="independent")
    st.altair_chart(chart)
    st.caption({
        "weights": _("Every parameter of each layer (weights and biases: the counts add up to "
                     "the layer's parameters): this epoch in blue, the initial weights as a grey "
                     "outline."),
        "gradients": _("The gradient of the loss on 500 probe digits for every parameter of each "
                       "layer: this epoch in blue, the initial weights' as a grey outline."),
        "activations": _("Each activation layer's outputs on 500 probe digits: this epoch in "
                         "blue, the initial network's as a grey outline (vertical scale: "
                         "symmetric log; for ReLU the bar at 0 is the inactive share)."),
    }[kind])


def _filters(history: History, epoch: int) -> None:
    name = history.meta.get("first_conv")
    if not name:
        return
    grids = [history.epoch(e)["filters"].astype(np.float32) for e in history.epochs]
    if not grids or grids[0].ndim != 4:
        return
    sheet = _filter_sheet(grids, history.epochs, epoch)
    st.image(sheet, width=sheet.width, output_format="PNG",
             caption=_("The first layer's filters ({layer}), one row per epoch, the selected one "
                       "framed; red positive, blue negative, one colour scale for all.")
             .format(layer=name))


def _filter_sheet(grids: list[np.ndarray], epochs: list[int], current: int) -> Image.Image:
    """Rows: epochs; columns: filters (first input channel); 10 px per weight, each filter
    framed in grey."""
    n, _c, k, _k2 = grids[0].shape
    cell, gap, label = max(30, 10 * k), 8, 34
    lim = max(float(np.abs(g).max()) for g in grids) or 1.0
    sheet = Image.new("RGB", (label + n * (cell + gap), len(grids) * (cell + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (g, e) in enumerate(zip(grids, epochs)):
        y = gap + r * (cell + gap)
        draw.text((4, y + cell // 2 - 6), str(e), fill="black")
        for j in range(n):
            x = label + j * (cell + gap)
            rgb = colormaps.colorize(g[j, 0], -lim, lim, name="RdBu_r")
            sheet.paste(Image.fromarray(rgb).resize((cell, cell), Image.NEAREST), (x, y))
            draw.rectangle([x - 1, y - 1, x + cell, y + cell], outline="#bbbbbb")
        if e == current:
            draw.rectangle([label - 5, y - 4, sheet.width - 2, y + cell + 3], outline="#d62728",
                           width=2)
    return sheet
