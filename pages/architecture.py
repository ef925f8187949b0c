"""Architecture: how one network is built, as a diagram and a per-layer table."""
import streamlit as st

from explorer.i18n import _, get_language
from explorer.ui import charts, warmup
from explorer.ui.widgets import model_picker
from explorer.ui.router import through_router

through_router()

st.title(_("Architecture"))
st.write(_("How a network is built: its stages, blocks and layers, each with the shape it "
           "outputs, its parameters, its multiply-accumulates and how much of the image it "
           "sees."))

left, mid, right = st.columns([2, 1, 2])
with left:
    name = model_picker("arch_model", default="googlenet", query_param="model")
warmup.wait()  # the title and the model picker are drawn: now what needs torch
from explorer import zoo  # noqa: E402
from explorer.ui import architecture as ui  # noqa: E402

spec = zoo.get_spec(name)
with mid:
    side = ui.size_input(spec)
with right:
    level = ui.view_radio()

analysis, size = ui.analysis_or_native(spec, side)
ui.model_card(spec)
t = ui.totals(analysis, size)

st.subheader(_("Diagram"))
dot = ui.dot(name, size, level, get_language())
ui.diagram_view(dot, level)
ui.diagram_downloads(dot, name, level)

st.subheader(_("Layers"))
f1, f2, f3 = st.columns([1, 2, 2])
with f1:
    table_level = st.selectbox(_("Rows"), list(charts.TABLE_LEVELS), key="arch_rows",
                               format_func=lambda v: _(charts.TABLE_LEVELS[v]),
                               help=_("Every layer: the leaf modules, whose numbers add up to "
                                      "the totals. Blocks: one row per block. Tree: every "
                                      "module, containers indented above their contents."))
table = ui.table(name, size, table_level, get_language())
with f2:
    every_type = sorted(ui.table(name, size, "all", get_language())["type"].unique())
    types = st.multiselect(_("Layer types"), every_type, key=f"arch_types_{name}",
                           placeholder=_("all types"))
with f3:
    search = st.text_input(_("Search names"), key="arch_search",
                           placeholder=_("e.g. layer3 or conv"))
ui.layer_table(charts.filter_table(table, types, search), table, table_level, t, name)
ui.channels_link(name, analysis)

st.subheader(_("Where the parameters and the computation are"))
st.altair_chart(charts.cost_chart(charts.cost_frame(analysis, level), level), width="stretch")
st.caption(_("Early layers are cheap in parameters but expensive in MACs (large feature "
             "maps); dense layers at the end hold most parameters but little computation."))
st.subheader(_("Shape through depth"))
st.altair_chart(charts.shape_chart(charts.shape_frame(analysis)), width="stretch")
