"""Architecture: how one network is built, as a diagram and a per-layer table."""
import streamlit as st

from explorer import diagram, zoo
from explorer.analysis import AnalysisError, analyze
from explorer.ui import charts, query
from explorer.ui.widgets import model_picker
from explorer.ui.router import through_router

through_router()

VIEWS = {"stage": "Stages", "block": "Blocks", "layer": "Layers"}
DIAGRAM_HEIGHT = 800  # px; deeper graphs scroll inside their box


@st.cache_data(max_entries=64, show_spinner="Analysing the network…")
def _analysis(name: str, size: tuple[int, int, int]):
    return analyze(name, size)


@st.cache_data(max_entries=192, show_spinner=False)
def _dot(name: str, size: tuple[int, int, int], level: str) -> str:
    return diagram.to_dot(_analysis(name, size), level)


@st.cache_data(max_entries=64, show_spinner="Rendering SVG with Graphviz…")
def _svg(dot: str) -> bytes | None:
    return diagram.to_svg(dot)


@st.cache_data(max_entries=192, show_spinner=False)
def _table(name: str, size: tuple[int, int, int], level: str):
    return charts.layer_table(_analysis(name, size), level)


def _legend() -> str:
    kinds = ("conv", "pool", "norm", "act", "linear", "merge", "block")
    return " ".join(
        f'<span style="background:{diagram.CATEGORIES[k][0]};color:#111;border:1px solid #888;'
        f'border-radius:4px;padding:1px 6px;margin-right:4px;font-size:0.8em">'
        f"{diagram.CATEGORIES[k][1]}</span>" for k in kinds)


def _view_radio() -> str:
    if "arch_view" not in st.session_state:
        st.session_state["arch_view"] = query.get_choice("view", VIEWS, "block")
    level = st.radio("Diagram view", list(VIEWS), key="arch_view", horizontal=True,
                     format_func=VIEWS.get,
                     help="Stages: the network by output stride. Blocks: residual blocks, "
                          "Inception modules, dense blocks... Layers: every module, with the "
                          "adds and concatenations where paths join.")
    st.query_params["view"] = level
    return level


def _size_input(name: str, native: int, smallest: int) -> int:
    """Input side length; a size other than the native one goes in the URL as ``size``."""
    key = f"arch_size_{name}"
    if key not in st.session_state:
        st.session_state[key] = query.get_int("size", native, 1, 1024)
    side = st.number_input(
        "Input size (H = W)", min_value=1, max_value=1024, step=1, key=key,
        help=f"{name} was designed for {native}×{native}; it accepts any size from "
             f"{smallest}×{smallest} (global pooling before the classifier).")
    if side == native:
        st.query_params.pop("size", None)
    else:
        st.query_params["size"] = str(side)
    return side


st.title("Architecture")
st.write("How a network is built: its stages, blocks and layers, each with the shape it "
         "outputs, its parameters, its multiply-accumulates and how much of the image it sees.")

left, mid, right = st.columns([2, 1, 2])
with left:
    name = model_picker("arch_model", default="googlenet", query_param="model")
spec = zoo.get_spec(name)
c, h, w = spec.input_size
with mid:
    if spec.resizable:
        side = _size_input(name, h, spec.min_size)
    else:
        side = h
        st.text_input("Input size", f"{c}×{h}×{w} (fixed)", disabled=True,
                      help="The dense layers after the last convolution fix the input size.")
        st.query_params.pop("size", None)
with right:
    level = _view_radio()

size = (c, int(side), int(side))
try:
    analysis = _analysis(name, size)
except AnalysisError as err:
    st.error(f"{err}. Showing {name} at its native {h}×{w} instead.")
    size = spec.input_size
    analysis = _analysis(name, size)

with st.container(border=True):
    st.markdown(f"#### {name} · {spec.family}, {spec.year}")
    st.write(spec.description)
    top1 = (f"Published ImageNet top-1 of the pretrained weights: **{spec.published_top1:.1f} %**."
            if spec.published_top1 is not None else
            f"Trained on {spec.dataset.upper()} ({spec.num_classes} classes); no published "
            "ImageNet accuracy.")
    st.caption(f"Paper: {spec.paper}  \n{top1}  \nDesigned input: {c}×{h}×{w} · "
               f"{spec.num_classes} classes ({spec.dataset})")

t = charts.totals(analysis)
cols = st.columns([1.4, 1.4, 1, 0.6, 1])  # room for VGG's 138,357,544
cols[0].metric("Parameters (Keras)", f"{t['params']:,}",
               help=f"Keras's count: trainable ({t['params_trainable']:,}) + non-trainable "
                    f"({t['params_non_trainable']:,}: batch norm's running mean and variance).")
cols[1].metric("Parameters (PyTorch)", f"{t['params_pytorch']:,}",
               help="sum(p.numel() for p in model.parameters()): batch-norm statistics are "
                    "buffers, not parameters, in PyTorch.")
cols[2].metric("MACs", charts.macs_text(t["macs"]), help=f"{t['macs']:,} multiply-accumulates "
               f"for one {size[1]}×{size[2]} image.")
cols[3].metric("Depth", t["depth"], help="Convolution and linear layers on the longest path "
               "from input to output: the number in names like ResNet-50.")
cols[4].metric("Receptive field", f"{t['receptive_field']} px" if t["receptive_field"] else "–",
               help=f"How many input pixels (per side) one unit sees at the end of the feature "
                    f"extractor ({t['rf_end']}); it can exceed the image, which is then padded.")
st.caption(f"At {size[0]}×{size[1]}×{size[2]} input. MACs = multiply-accumulates of "
           "convolution and linear layers; FLOPs = 2 × MACs. Batch norm, activations, pooling "
           "and additions are not counted.")
if analysis.unused_modules:
    st.caption(f"Not run at inference, but counted in the parameters: "
               f"{', '.join(analysis.unused_modules)} ({analysis.params_unused:,} parameters).")

st.subheader("Diagram")
dot = _dot(name, size, level)
st.markdown(_legend(), unsafe_allow_html=True)
st.caption({
    "stage": "Each box is a stage, named by its output stride: after a stride-8 stage, "
             "neighbouring units of the feature map are 8 input pixels apart (224 → 28).",
    "block": "Each box is a block: the unit the paper repeats (a residual block, an Inception "
             "module, a dense block...), or a layer between blocks. Choose Layers to open them.",
    "layer": "Every module, boxed by the block it belongs to. Each shows its name, type "
             "(kernel/stride) and output shape: channels × height × width.",
}[level])
if level == "stage":
    st.graphviz_chart(dot, width="content", height="content")
else:
    # At natural size inside a scrolling box: fitted to the page, a 150-layer graph would
    # shrink to unreadable dots.
    with st.container(height=DIAGRAM_HEIGHT, key="arch_diagram"):
        st.graphviz_chart(dot, width="content", height="content")
    dashed = (" A dashed arrow passes through a function call with no module of its own "
              "(Inception v3 max-pools this way), so the size changes without a box."
              if "style=dashed" in dot else "")
    st.caption("Scroll inside the box to follow the network. Yellow nodes are where paths "
               "join: **+** adds a residual, **concat** stacks the branches' channels." + dashed)

dl = st.columns(3)
dl[0].download_button("Diagram (DOT)", dot, file_name=f"{name}_{level}.dot",
                      mime="text/vnd.graphviz", key="dl_dot")
if diagram.has_dot():
    try:
        svg = _svg(dot)
        dl[1].download_button("Diagram (SVG)", svg, file_name=f"{name}_{level}.svg",
                              mime="image/svg+xml", key="dl_svg")
    except RuntimeError as err:
        dl[1].caption(f"SVG rendering failed: {err}")
else:
    dl[1].caption("Install Graphviz (apt-get install graphviz) for an SVG download.")

st.subheader("Layers")
f1, f2, f3 = st.columns([1, 2, 2])
with f1:
    table_level = st.selectbox("Rows", list(charts.TABLE_LEVELS), key="arch_rows",
                               format_func=charts.TABLE_LEVELS.get,
                               help="Every layer: the leaf modules, whose numbers add up to "
                                    "the totals. Blocks: one row per block. Tree: every "
                                    "module, containers indented above their contents.")
table = _table(name, size, table_level)
with f2:
    every_type = sorted(_table(name, size, "all")["type"].unique())
    types = st.multiselect("Layer types", every_type, key=f"arch_types_{name}",
                           placeholder="all types")
with f3:
    query = st.text_input("Search names", key="arch_search", placeholder="e.g. layer3 or conv")
shown = charts.filter_table(table, types, query)
st.dataframe(
    shown, hide_index=True, height=420,
    column_config={
        "#": st.column_config.NumberColumn(width="small"),
        "layer": st.column_config.TextColumn(width="medium", pinned=True),
        "params": st.column_config.NumberColumn(format="localized"),
        "trainable": st.column_config.NumberColumn(format="localized"),
        "non-trainable": st.column_config.NumberColumn(format="localized"),
        "MACs": st.column_config.NumberColumn(format="localized"),
        "activations": st.column_config.NumberColumn(format="localized"),
        "receptive field": st.column_config.NumberColumn(
            help="Input pixels (per side) one output unit sees; the largest over all paths."),
        "jump": st.column_config.NumberColumn(
            help="Effective stride: input pixels between neighbouring output units."),
    })
if table_level == "layer":
    st.caption(f"{len(shown)} of {len(table)} layers shown · sum over them: "
               f"{shown['params'].sum():,} parameters (Keras), {shown['MACs'].sum():,} MACs. "
               f"Whole network: {t['params']:,} parameters, {t['macs']:,} MACs.")
else:
    st.caption(f"{len(shown)} of {len(table)} rows shown. A container's parameters and MACs "
               "include everything inside it, so these rows do not add up; choose the layer "
               "rows for sums.")
st.download_button("Table (CSV)", table.to_csv(index=False), file_name=f"{name}_{table_level}.csv",
                   mime="text/csv", key="dl_csv")

st.subheader("Where the parameters and the computation are")
st.altair_chart(charts.cost_chart(charts.cost_frame(analysis, level), level), width="stretch")
st.caption("Early layers are cheap in parameters but expensive in MACs (large feature maps); "
           "dense layers at the end hold most parameters but little computation.")
st.subheader("Shape through depth")
st.altair_chart(charts.shape_chart(charts.shape_frame(analysis)), width="stretch")
