"""Channels: what one channel of a network has learned: filters, top images, feature
visualisation and receptive fields."""
import streamlit as st

from explorer.i18n import _
from explorer.ui.router import through_router

through_router()

st.title(_("Channels"))
st.caption(_("What does a channel see? Its filters, the images and image parts that excite it "
             "most, the picture that excites it most, and the part of the image one unit "
             "looks at."))

from explorer import zoo  # noqa: E402  (after the title: the page paints first)
from explorer.ui import channels as ui  # noqa: E402
from explorer.ui.widgets import image_input, model_picker  # noqa: E402

left, right = st.columns([1, 1])
with left:
    name = model_picker("channels_model", default="efficientnet_lite0", query_param="model")
    loaded = ui.load(name)
if loaded is None:
    st.stop()
with left:
    layer = ui.layer_picker(name)
    channel = ui.channel_picker(layer)
with right:
    picked = image_input("channels_image", digits=zoo.get_spec(name).dataset == "mnist",
                         camera=False)
if picked is None:
    st.stop()
image, image_name = picked

with st.expander(_("Browse the channels of {layer} on your image").format(layer=layer.path)):
    ui.channel_grid(loaded, layer, image, key="channels_grid")

tabs = st.tabs([_("Top images"), _("Feature visualisation"), _("Receptive field"),
                _("Filters")])
with tabs[0]:
    image_set = ui.image_set_picker(loaded)
    if image_set is not None:
        ui.top_view(loaded, layer, channel, image_set)
with tabs[1]:
    ui.vis_view(loaded, layer, channel)
with tabs[2]:
    ui.rf_view(loaded, layer, channel, image)
with tabs[3]:
    ui.filters_view(loaded, layer, channel, image)
