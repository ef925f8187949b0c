"""The Architecture page's cached results, widgets and views: the model card, the headline
numbers, the diagram with its downloads and the layer table (logic in ``explorer.analysis``,
tables and charts in ``explorer.ui.charts``).

Imports torch (through :func:`explorer.analysis.analyze`): the page imports this module after
drawing its title and model picker.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import zoo
from explorer.analysis import AnalysisError, ModelAnalysis, analyze, diagram
from explorer.i18n import N_, _, format_count, format_exact, get_language, join
from explorer.ui import charts, columns, query

__all__ = ["VIEWS", "DIAGRAM_HEIGHT", "analysis_of", "dot", "svg", "table", "legend",
           "view_radio", "size_input", "analysis_or_native", "model_card", "totals",
           "diagram_view", "diagram_downloads", "layer_table", "channels_link"]

VIEWS = {"stage": N_("Stages"), "block": N_("Blocks"), "layer": N_("Layers")}
DIAGRAM_HEIGHT = 800  # px; deeper graphs scroll inside their box


# --------------------------------------------------------------------------------------------
# Cached results


@st.cache_data(max_entries=64, show_spinner=False)  # spinner: translated, at the first call
def analysis_of(name: str, size: tuple[int, int, int]) -> ModelAnalysis:
    return analyze(name, size)


@st.cache_data(max_entries=192, show_spinner=False)
def dot(name: str, size: tuple[int, int, int], level: str, lang: str) -> str:  # text per language
    return diagram.to_dot(analysis_of(name, size), level)


@st.cache_data(max_entries=64, show_spinner=False)  # spinner: translated, at the call
def svg(dot: str) -> bytes | None:
    return diagram.to_svg(dot)


@st.cache_data(max_entries=192, show_spinner=False)
def table(name: str, size: tuple[int, int, int], level: str, lang: str):  # kinds, stages: text
    return charts.layer_table(analysis_of(name, size), level)


# --------------------------------------------------------------------------------------------
# Widgets


def legend() -> str:
    """The diagram's colours, as HTML chips."""
    kinds = ("conv", "pool", "norm", "act", "linear", "merge", "block")
    return " ".join(
        f'<span style="background:{diagram.CATEGORIES[k][0]};color:#111;border:1px solid #888;'
        f'border-radius:4px;padding:1px 6px;margin-right:4px;font-size:0.8em">'
        f"{_(diagram.CATEGORIES[k][1])}</span>" for k in kinds)


def view_radio() -> str:
    """Stages, blocks or layers; kept in the URL as ``view``."""
    if "arch_view" not in st.session_state:
        st.session_state["arch_view"] = query.get_choice("view", VIEWS, "block")
    level = st.radio(_("Diagram view"), list(VIEWS), key="arch_view", horizontal=True,
                     format_func=lambda v: _(VIEWS[v]),
                     help=_("Stages: the network by output stride. Blocks: residual blocks, "
                            "Inception modules, dense blocks... Layers: every module, with the "
                            "adds and concatenations where paths join."))
    st.query_params["view"] = level
    return level


def _size_input(name: str, native: int, smallest: int) -> int:
    """Input side length; a size other than the native one goes in the URL as ``size``."""
    key = f"arch_size_{name}"
    if key not in st.session_state:
        st.session_state[key] = query.get_int("size", native, 1, 1024)
    side = st.number_input(
        _("Input size (H = W)"), min_value=1, max_value=1024, step=1, key=key,
        help=_("{model} was designed for {native}×{native}; it accepts any size from "
               "{smallest}×{smallest} (global pooling before the classifier).").format(
            model=name, native=native, smallest=smallest))
    if side == native:
        st.query_params.pop("size", None)
    else:
        st.query_params["size"] = str(side)
    return side


def size_input(spec) -> int:
    """The input side: a number input for a resizable model, the fixed size shown otherwise."""
    c, h, w = spec.input_size
    if spec.resizable:
        return _size_input(spec.name, h, spec.min_size)
    st.text_input(_("Input size"), _("{shape} (fixed)").format(shape=f"{c}×{h}×{w}"),
                  disabled=True,
                  help=_("The dense layers after the last convolution fix the input size."))
    st.query_params.pop("size", None)
    return h


# --------------------------------------------------------------------------------------------
# Views


def analysis_or_native(spec, side: int) -> tuple[ModelAnalysis, tuple[int, int, int]]:
    """The analysis at ``side`` × ``side``; at the native size, with an error saying why, when
    the network cannot take that input."""
    name, (c, h, w) = spec.name, spec.input_size
    size = (c, int(side), int(side))
    try:
        with st.spinner(_("Analysing the network…")):
            return analysis_of(name, size), size
    except AnalysisError as err:
        st.error(_("{error}. Showing {model} at its native {size} instead.").format(
            error=err, model=name, size=f"{h}×{w}"))
        return analysis_of(name, spec.input_size), spec.input_size


def model_card(spec) -> None:
    """Name, family, year, the description, the paper and the published accuracy."""
    c, h, w = spec.input_size
    with st.container(border=True):
        st.markdown(f"#### {spec.name} · {spec.family}, {spec.year}")
        st.write(zoo.describe(spec))
        top1 = (_("Published ImageNet top-1 of the pretrained weights: **{top1:.1f} %**.").format(
                    top1=spec.published_top1)
                if spec.published_top1 is not None else
                _("Trained on {dataset} ({classes} classes); no published ImageNet accuracy.")
                .format(dataset=spec.dataset.upper(), classes=spec.num_classes))
        st.caption(_("Paper: {paper}").format(paper=spec.paper) + f"  \n{top1}  \n"
                   + _("Designed input: {shape} · {classes} classes ({dataset})").format(
                       shape=f"{c}×{h}×{w}", classes=spec.num_classes, dataset=spec.dataset))


def totals(analysis: ModelAnalysis, size: tuple[int, int, int]) -> dict:
    """The headline metrics (parameters both ways, MACs, depth, receptive field) and what they
    count; returns :func:`explorer.ui.charts.totals`."""
    t = charts.totals(analysis)
    cols = st.columns([1.4, 1.4, 1, 0.6, 1])  # room for VGG's 138,357,544
    # Every count in one style: in English the exact parameter counts and MACs in G/M; in
    # Chinese all three in 万/亿 as the notes write them (1.38亿, 40.9亿), the exact count first
    # in the tooltip.
    zh = get_language() == "zh"

    def shown(n: int) -> str:
        return format_count(n) if zh else f"{n:,}"

    def exact(n: int) -> str:
        return _("Exactly {count}.").format(count=f"{n:,}") if zh else ""

    # PyTorch's count leads: torchvision, the papers and PyTorch users quote it (GoogLeNet
    # 6,624,904); Keras's (the notes' table) stands beside it.
    cols[1].metric(_("Parameters (Keras)"), shown(t["params"]),
                   help=exact(t["params"]) + _(
                       "Keras's count: trainable ({trainable}) + non-trainable ({non_trainable}: "
                       "batch norm's running mean and variance).").format(
                       trainable=format_exact(t["params_trainable"]),
                       non_trainable=format_exact(t["params_non_trainable"])))
    cols[0].metric(_("Parameters (PyTorch)"), shown(t["params_pytorch"]),
                   help=exact(t["params_pytorch"]) + _(
                       "sum(p.numel() for p in model.parameters()): batch-norm statistics are "
                       "buffers, not parameters, in PyTorch."))
    cols[2].metric("MACs", format_count(t["macs"]) if zh else charts.macs_text(t["macs"]),
                   help=_("{macs} multiply-accumulates for one {size} image.").format(
                       macs=format_exact(t["macs"]), size=f"{size[1]}×{size[2]}"))
    cols[3].metric(_("Depth"), t["depth"], help=_("Convolution and linear layers on the longest "
                   "path from input to output: the number in names like ResNet-50."))
    cols[4].metric(_("Receptive field"),
                   f"{t['receptive_field']} px" if t["receptive_field"] else "–",
                   help=_("How many input pixels (per side) one unit sees at the end of the "
                          "feature extractor ({end}); it can exceed the image, which is then "
                          "padded.").format(end=t["rf_end"]))
    st.caption(_("At {shape} input. MACs = multiply-accumulates of convolution and linear layers; "
                 "FLOPs = 2 × MACs. Batch norm, activations, pooling and additions are not "
                 "counted.").format(shape=f"{size[0]}×{size[1]}×{size[2]}"))
    if analysis.unused_modules:
        st.caption(_("Not run at inference, but counted in the parameters: {modules} ({params} "
                     "parameters).").format(modules=join(analysis.unused_modules),
                                            params=format_exact(analysis.params_unused)))
    return t


def diagram_view(dot: str, level: str) -> None:
    """The legend, what a box is at this view, and the graph (scrolling when deep)."""
    st.markdown(legend(), unsafe_allow_html=True)
    st.caption({
        "stage": _("Each box is a stage, named by its output stride: after a stride-8 stage, "
                   "neighbouring units of the feature map are 8 input pixels apart (224 → 28)."),
        "block": _("Each box is a block: the unit the paper repeats (a residual block, an "
                   "Inception module, a dense block...), or a layer between blocks. Choose "
                   "Layers to open them."),
        "layer": _("Every module, boxed by the block it belongs to. Each shows its name, type "
                   "(kernel/stride) and output shape: channels × height × width."),
    }[level])
    if level == "stage":
        st.graphviz_chart(dot, width="content", height="content")
        return
    # At natural size inside a scrolling box: fitted to the page, a 150-layer graph would
    # shrink to unreadable dots.
    with st.container(height=DIAGRAM_HEIGHT, key="arch_diagram"):
        st.graphviz_chart(dot, width="content", height="content")
    dashed = (" " + _("A dashed arrow passes through a function call with no module of its "
                      "own (Inception v3 max-pools this way), so the size changes without a "
                      "box.") if "style=dashed" in dot else "")
    st.caption(_("Scroll inside the box to follow the network. Yellow nodes are where paths "
                 "join: **+** adds a residual, **concat** stacks the branches' channels.")
               + dashed)


def diagram_downloads(dot: str, name: str, level: str) -> None:
    """The DOT text, and the SVG where Graphviz is installed."""
    dl = st.columns(3)
    dl[0].download_button(_("Diagram (DOT)"), dot, file_name=f"{name}_{level}.dot",
                          mime="text/vnd.graphviz", key="dl_dot")
    if diagram.has_dot():
        try:
            with st.spinner(_("Rendering SVG with Graphviz…")):
                image = svg(dot)
            dl[1].download_button(_("Diagram (SVG)"), image, file_name=f"{name}_{level}.svg",
                                  mime="image/svg+xml", key="dl_svg")
        except RuntimeError as err:
            dl[1].caption(_("SVG rendering failed: {error}").format(error=err))
    else:
        dl[1].caption(_("Install Graphviz (apt-get install graphviz) for an SVG download."))


def layer_table(shown: pd.DataFrame, table: pd.DataFrame, level: str, t: dict,
                name: str) -> None:
    """The filtered rows ``shown`` of ``table``, what they add up to, and the CSV download."""
    st.dataframe(
        shown, hide_index=True, height=420, placeholder="—",  # not "None" where nothing applies
        column_config=columns.config(shown, {
            "#": st.column_config.NumberColumn(width="small"),
            "groups": st.column_config.NumberColumn(
                help=_("Groups of a convolution: 1 is an ordinary convolution, as many as "
                       "channels a depthwise one; — for layers that are not convolutions.")),
            "layer": st.column_config.TextColumn(width="medium", pinned=True),
            "params": st.column_config.NumberColumn(format="localized"),
            "trainable": st.column_config.NumberColumn(format="localized"),
            "non-trainable": st.column_config.NumberColumn(format="localized"),
            "MACs": st.column_config.NumberColumn(format="localized"),
            "activations": st.column_config.NumberColumn(format="localized"),
            "receptive field": st.column_config.NumberColumn(
                help=_("Input pixels (per side) one output unit sees; the largest over all "
                       "paths.")),
            "jump": st.column_config.NumberColumn(
                help=_("Effective stride: input pixels between neighbouring output units.")),
        }))
    if level == "layer":
        st.caption(_("{shown} of {total} layers shown · sum over them: {params} parameters "
                     "(Keras), {macs} MACs. Whole network: {all_params} parameters, {all_macs} "
                     "MACs.").format(shown=len(shown), total=len(table),
                                     params=format_exact(shown['params'].sum()),
                                     macs=format_exact(shown['MACs'].sum()),
                                     all_params=format_exact(t['params']),
                                     all_macs=format_exact(t['macs'])))
    else:
        st.caption(_("{shown} of {total} rows shown. A container's parameters and MACs include "
                     "everything inside it, so these rows do not add up; choose the layer rows "
                     "for sums.").format(shown=len(shown), total=len(table)))
    st.download_button(_("Table (CSV)"), table.to_csv(index=False),
                       file_name=f"{name}_{level}.csv", mime="text/csv", key="dl_csv")


def channels_link(name: str, analysis: ModelAnalysis) -> None:
    """Pick a layer with a feature map and open it on the Channels page."""
    fmap_layers = [r.name for r in analysis.layers if r.call == 0 and r.name and r.output_shape
                   and len(r.output_shape) == 4 and not r.rf_global]
    if fmap_layers:  # a layer's channels: filters, top images, visualisation, receptive fields
        picked_layer = st.selectbox(_("What has a layer learned?"), fmap_layers,
                                    key=f"arch_channels_{name}")
        st.markdown(_("[Open `{layer}` on the Channels page](channels?model={model}&layer={layer})")
                    .format(layer=picked_layer, model=name))
