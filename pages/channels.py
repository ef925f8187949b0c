"""Channels: what one channel of a network has learned, and a whole layer at a glance: its
visualisation beside the image parts it fires in, receptive fields and filters."""
import streamlit as st

from explorer.i18n import N_, _
from explorer.ui import query, warmup
from explorer.ui.router import through_router
from explorer.ui.widgets import image_input, model_picker

through_router()

VIEWS = {"grid": N_("Layer grid"), "channel": N_("Channel"), "field": N_("Receptive field"),
         "filters": N_("Filters")}

st.title(_("Channels"))
st.caption(_("What does a channel see? The picture that excites it most beside the image parts "
             "it fires in, a whole layer at a glance, the part of the image one unit looks at, "
             "and its filters."))

left, right = st.columns([1, 1])
with left:
    name = model_picker("channels_model", default="efficientnet_lite0", query_param="model")
with right:
    if "channels_view" not in st.session_state:
        st.session_state["channels_view"] = query.get_choice("view", list(VIEWS), "channel")
    view = st.segmented_control(_("View"), list(VIEWS), key="channels_view", required=True,
                                format_func=lambda v: _(VIEWS[v]))
    st.query_params["view"] = view

warmup.wait()  # the title and the first controls are drawn: now what needs torch
from explorer import zoo  # noqa: E402  (after the first controls: the page paints first)
from explorer.ui import channels as ui  # noqa: E402
from explorer.ui import channels_atlas as grid_ui  # noqa: E402
from explorer.ui import channels_field as field_ui  # noqa: E402
from explorer.ui import channels_images as images_ui  # noqa: E402

with left:
    loaded = ui.load(name)
if loaded is None:
    st.stop()
with left:
    layer = ui.layer_picker(name)
with right:
    channel = ui.channel_picker(layer)

if view == "grid":
    grid_ui.grid_view(loaded, layer)
elif view == "channel":
    atlas = grid_ui.current_atlas(loaded, layer)
    vis_col, top_col = st.columns([1, 2], gap="large")
    with top_col:
        result, source = images_ui.image_source(loaded, layer, atlas)
        if result is not None:
            images_ui.top_panel(loaded, channel, result, source)
    with vis_col:
        st.markdown("**" + _("Feature visualisation") + "**")
        ui.vis_panel(loaded, layer, channel, atlas=atlas)
else:
    picked = image_input("channels_image", digits=zoo.get_spec(name).dataset == "mnist",
                         camera=False)
    if picked is None:
        st.stop()
    image, image_name = picked
    if view == "field":
        with st.expander(_("Browse the channels of {layer} on your image").format(
                layer=layer.path)):
            field_ui.channel_grid(loaded, layer, image, key="channels_grid_image")
        field_ui.rf_view(loaded, layer, channel, image)
    else:
        field_ui.filters_view(loaded, layer, channel, image)
