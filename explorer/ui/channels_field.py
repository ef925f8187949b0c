"""The Channels page's views on the user's own image: the layer's channels on it, the receptive
field of one unit (theoretical box and effective field, Luo et al. 2016), and the filters
(logic in ``explorer.channels``)."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import channels as ch
from explorer.analysis import features
from explorer.i18n import _
from explorer.ui.channels import data_uri, random_note, set_channel


# --------------------------------------------------------------------------------------------
# Feature maps on the user's image


@st.cache_data(max_entries=32, show_spinner=False)
def _maps(name: str, source: str, layer: str, image_key: str, _loaded, _image) -> np.ndarray:
    x = _loaded.preprocess(_image)
    return features.capture(_loaded.model, layer, x)[layer][0].float().numpy()  # C×H×W


def image_key(image: Image.Image) -> str:
    import hashlib

    return f"{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"


def feature_maps(loaded, layer: str, image: Image.Image) -> np.ndarray:
    return _maps(loaded.name, loaded.source, layer, image_key(image), loaded, image)


def channel_grid(loaded, layer: ch.ChannelLayer, image: Image.Image, key: str) -> None:
    """The layer's strongest channels on this image (by energy), with buttons to open one."""
    maps = feature_maps(loaded, layer.path, image)
    n = min(16, maps.shape[0])
    st.image(features.channel_grid(maps, n=n, tile=72),
             caption=_("The {n} channels of {layer} with the most energy on this image, "
                       "strongest first (each tile scaled to its own range).").format(
                           n=n, layer=layer.path))
    order = features.top_channels(maps, n)
    cols = st.columns(8)
    for k, c in enumerate(order):
        cols[k % 8].button(str(int(c)), key=f"{key}_open_{c}", on_click=set_channel,
                           args=("channels_channel", int(c)), width="stretch")


# --------------------------------------------------------------------------------------------
# Filters


def filters_view(loaded, layer: ch.ChannelLayer, channel: int, image: Image.Image) -> None:
    model = loaded.model
    first = ch.first_conv(model)
    view = ch.weight_view(model, layer.path, channel)
    if first is not None:
        w = dict(model.named_modules())[first].weight
        maps = feature_maps(loaded, first, image)
        st.markdown(_("**The first convolution ({layer}): {n} kernels of {shape}**").format(
            layer=first, n=w.shape[0], shape="×".join(map(str, w.shape[1:]))))
        st.image(ch.filter_grid(w, maps), caption=_(
            "Each kernel in the input's own colours (scaled symmetrically around zero: grey is "
            "0, as in the AlexNet paper's figure 3), beside its feature map on your image "
            "(white = strong response)."))
        random_note(loaded)
    if view.kind == "none":
        st.info(_("{layer} is a {type}, not a convolution: it has no kernels of its own. Pick "
                  "a Conv2d layer to see its weights, or look at its top images and its "
                  "visualisation.").format(layer=layer.path, type=layer.type))
        return
    if view.kind == "first":
        return
    st.markdown(_("**Channel {c} of {layer}: weights {shape}**").format(
        c=channel, layer=layer.path, shape="×".join(map(str, view.shape))))
    if view.kind == "depthwise":
        st.caption(_("A depthwise convolution: this channel filters only input channel {i}, "
                     "with one spatial kernel.").format(i=view.strongest[0][0]))
    else:
        st.caption(_("A kernel here weighs the previous layer's channels, not colours, so it "
                     "cannot be drawn as a picture. The bars show how much the channel draws "
                     "on each input channel (L2 norm of its kernel slice); below, the spatial "
                     "shape of its strongest slices (grey = 0)."))
        df = pd.DataFrame({"input channel": np.arange(len(view.in_norms)),
                           "norm": view.in_norms})
        st.altair_chart(alt.Chart(df).mark_bar().encode(
            x=alt.X("input channel:O", axis=alt.Axis(labels=len(df) <= 64),
                    title=_("input channel")),
            y=alt.Y("norm:Q", title=_("weight norm"))).properties(height=160),
            width="stretch")
    if view.strongest and view.strongest[0][1].shape[-1] > 1:
        cols = st.columns(min(8, len(view.strongest)))
        for col, (i, tile) in zip(cols, view.strongest):
            col.image(Image.fromarray(tile).resize((64, 64), Image.NEAREST),
                      caption=_("input {i}").format(i=i))


# --------------------------------------------------------------------------------------------
# Receptive field


def _map_chart(m: np.ndarray, pos: tuple[int, int]):
    h, w = m.shape
    stride = max(1, int(np.ceil(max(h, w) / 56)))  # at most ~56×56 cells to click
    rows = range(0, h, stride)
    cols = range(0, w, stride)
    df = pd.DataFrame([(i, j, float(m[i, j])) for i in rows for j in cols],
                      columns=["row", "col", "value"])
    sel = alt.selection_point(name="unit", fields=["row", "col"], on="click", clear=False)
    side = 320
    chart = alt.Chart(df).mark_rect().encode(
        x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None),
        color=alt.Color("value:Q", scale=alt.Scale(scheme="viridis"), legend=None),
        tooltip=["row", "col", alt.Tooltip("value:Q", format=".3g")],
        stroke=alt.condition(f"datum.row == {pos[0] - pos[0] % stride} && "
                             f"datum.col == {pos[1] - pos[1] % stride}",
                             alt.value("red"), alt.value(None)),
        strokeWidth=alt.value(2),
    ).add_params(sel).properties(width=side, height=side)
    return chart


def rf_view(loaded, layer: ch.ChannelLayer, channel: int, image: Image.Image,
            key: str = "channels_rf") -> None:
    maps = feature_maps(loaded, layer.path, image)
    m = maps[channel]
    h, w = m.shape
    rk, ck = f"{key}_row", f"{key}_col"
    if st.session_state.get(f"{key}_shape") != (layer.path, h, w):
        st.session_state[f"{key}_shape"] = (layer.path, h, w)
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        st.session_state[rk], st.session_state[ck] = int(i), int(j)
    left, right = st.columns([1, 1])
    with left:
        st.markdown(_("**Channel {c} on your image ({h}×{w}): click a unit**").format(
            c=channel, h=h, w=w))
        pos = (st.session_state[rk], st.session_state[ck])
        event = st.altair_chart(_map_chart(m, pos), on_select="rerun", key=f"{key}_map",
                                selection_mode="unit", width="content")
        picked = (event.selection.get("unit") or []) if event else []
        if picked:
            p = (int(picked[0]["row"]), int(picked[0]["col"]))
            if p != st.session_state.get(f"{key}_last_click"):
                st.session_state[f"{key}_last_click"] = p
                st.session_state[rk], st.session_state[ck] = p
                st.rerun()
        a, b = st.columns(2)
        i = a.number_input(_("Row"), 0, h - 1, key=rk)
        j = b.number_input(_("Column"), 0, w - 1, key=ck)
    x = loaded.preprocess(image)
    field = ch.effective_field(loaded.model, loaded.name, x, layer.path, channel, (i, j))
    view = ch.network_view(image, loaded.preprocess)
    t, e, half = field.theoretical, field.effective, field.half
    top, left_, bottom, right_ = field.box
    ut, ul, ub, ur = field.box_unclipped
    outside = ut < 0 or ul < 0 or ub > view.height or ur > view.width
    with right:
        caption = _("White box: the theoretical receptive field of unit ({i}, {j}); colour: its "
                    "effective field, |∂ unit / ∂ pixel|, coloured by share of the gradient "
                    "(red: the strongest pixels); white line: the smallest region holding 50 % of "
                    "it, black line: 95 %.").format(i=i, j=j)
        if outside:
            caption += " " + _("The box reaches beyond the image: the hatched margin is zero "
                               "padding, which the unit sees too (drawn up to half the image's "
                               "size on each side).")
        st.image(data_uri(ch.rf_picture(view, field)), caption=caption)
        random_note(loaded)
    st.markdown(_("**Theoretical field:** {th}×{tw} pixels (from the analysis; {bh}×{bw} of "
                  "it inside the image). **Effective field:** {hh}×{hw} pixels hold 50% of the "
                  "gradient, {eh}×{ew} pixels hold {mass:.0%}. The unit's value: {value:.3g}."
                  ).format(th=t[0], tw=t[1], bh=bottom - top, bw=right_ - left_, hh=half[0],
                           hw=half[1], eh=e[0], ew=e[1], mass=field.mass, value=field.value))
    st.caption(_("Why the effective field is smaller, and for deep layers much smaller: a pixel "
                 "near the centre of the box "
                 "reaches the unit through many more paths of the network than a pixel near its "
                 "edge, so the gradient falls off roughly like a Gaussian. The theoretical field "
                 "grows linearly with depth, the effective one only about with its square root "
                 "(Luo et al., NeurIPS 2016). Outside the white box the gradient is exactly "
                 "zero: no path leads from there to this unit."))
