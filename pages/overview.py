"""Overview (home): what the explorer is, and every network in it side by side."""
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from explorer.data import catalog  # the committed summary: this page never waits for torch
from explorer.i18n import N_, _
from explorer.ui import columns, warmup, weights_status
from explorer.ui.router import through_router

through_router()

LINKS = [
    ("pages/architecture.py", N_("Architecture"), ":material/account_tree:",
     N_("a network's stages, blocks and layers: diagram, shapes, parameters, MACs, receptive "
        "field")),
    ("pages/blocks.py", N_("Blocks"), ":material/view_in_ar:",
     N_("the ideas one block at a time: 1×1 bottlenecks, Inception, residual, dense, depthwise")),
    ("pages/inference.py", N_("Inference & saliency"), ":material/image_search:",
     N_("classify your own photo and see where the network looked")),
    ("pages/compare.py", N_("Compare networks"), ":material/compare:",
     N_("two networks on the same image, layer by layer")),
    ("pages/train.py", N_("Train on MNIST"), ":material/model_training:",
     N_("train the small digit networks of the source material yourself")),
]


@st.cache_data(show_spinner=False)
def _zoo_table() -> pd.DataFrame:
    return pd.DataFrame(catalog.rows())


def _link(path: str, label: str, icon: str, why: str) -> None:
    label, why = _(label), _(why)
    try:
        st.page_link(path, label=label, icon=icon)
    except StreamlitPageNotFoundError:  # run alone (not through app.py): no navigation to link to
        st.markdown(f"**{label}**")
    st.caption(why)


st.title("CNN Explorer")
st.write(_(
    "Learn the classic convolutional networks by looking inside them: how LeNet-5, AlexNet, "
    "VGG, GoogLeNet, ResNet, DenseNet, MobileNet and their relatives are built, what each layer "
    "computes and costs, and what a trained network sees in a picture."))

cols = st.columns(len(LINKS))
for col, link in zip(cols, LINKS):
    with col:
        _link(*link)

st.subheader(_("Every network, side by side"))
st.write(_("Two decades of CNNs: networks grew deeper and more accurate, then learned to do "
           "more with fewer parameters and less computation (1×1 bottlenecks, residuals, "
           "depthwise-separable convolutions). Click a column header to sort."))
table = _zoo_table()
shown = table.drop(columns=["params (M)", "GMACs"])
shown.insert(1, "architecture", "architecture?model=" + shown["model"])
# Which weights are here needs torch: on a fresh server, "checking…" until the end of the page.
here = weights_status.weights_here() if warmup.imported() else {}
shown.insert(2, "weights here", shown["model"].map(here).fillna(_("checking…")))
table_slot = st.empty()
# The figures people compare first, then the rest: at 1400 px the receptive field and top-1
# columns are reached without scrolling sideways.
FIRST = ["model", "architecture", "year", "depth", "params", "MACs", "receptive field",
         "top-1 (%)", "weights here", "params (Keras)"]
table_args = dict(
    column_order=[c for c in FIRST if c in shown] + [c for c in shown if c not in FIRST],
    hide_index=True, placeholder="—",  # an empty cell says "—", not "None"
    height=35 * (len(table) + 1) + 3,  # every network at once, no inner scrolling
    column_config=columns.config(shown, {
        "model": st.column_config.TextColumn(pinned=True, width=140),  # resnext50_32x4d fits
        "architecture": st.column_config.LinkColumn(
            _("diagram"), display_text=_("open ↗"), width="small",
            help=_("This network's diagram and layer table on the Architecture page (new tab).")),
        "weights here": st.column_config.TextColumn(
            _("weights here"), width="medium",
            help=_("Whether this network has real (trained) weights on this machine, or runs "
                   "with random ones. The Weights page downloads the missing ones.")),
        "year": st.column_config.NumberColumn(format="%d"),
        "depth": st.column_config.NumberColumn(
            help=_("Convolution and linear layers on the longest path from input to output.")),
        "params": st.column_config.NumberColumn(
            format="localized", help=_("PyTorch's count, sum(p.numel()): the figure "
                                       "torchvision and most papers quote.")),
        "params (Keras)": st.column_config.NumberColumn(
            format="localized", help=_("Keras's count: trainable parameters + batch norm's "
                                       "running mean and variance (non-trainable).")),
        "MACs": st.column_config.NumberColumn(
            format="localized", help=_("Multiply-accumulates of conv and linear layers for "
                                       "one image at the network's native input size.")),
        "receptive field": st.column_config.NumberColumn(
            help=_("Input pixels (per side) one unit sees at the end of the feature "
                   "extractor.")),
        "top-1 (%)": st.column_config.NumberColumn(
            format="%.1f", help=_("Published ImageNet top-1 accuracy of the pretrained "
                                  "weights; — for the networks trained on MNIST or CIFAR-10, "
                                  "which have no ImageNet figure.")),
    }))
table_slot.dataframe(shown, **table_args)
st.caption(_("MACs = multiply-accumulates of convolution and linear layers; FLOPs = 2 × MACs. "
             "Parameters and MACs are computed by the explorer's own analysis (on PyTorch's "
             "meta device, no weights loaded) and match torchvision's published figures."))

from explorer.ui import charts  # noqa: E402  (altair: after the table, it costs a few 100 ms)

st.altair_chart(charts.history_chart(table), width="stretch")
gmacs = table.set_index("model")["GMACs"]
top1 = table.set_index("model")["top-1 (%)"]
st.caption(_(
    "Up and to the right is big and slow. VGG-16 needs {vgg_x:.0f}× the computation of "
    "GoogLeNet for about the same accuracy ({vgg:.1f} % against {googlenet:.1f} %); "
    "MobileNet-v2 matches ResNet-34 within {points:.1f} points with {mobile_x:.0f}× less "
    "computation.").format(
    vgg_x=gmacs["vgg16"] / gmacs["googlenet"], vgg=top1["vgg16"], googlenet=top1["googlenet"],
    points=top1["resnet34"] - top1["mobilenet_v2"],
    mobile_x=gmacs["resnet34"] / gmacs["mobilenet_v2"]))

if not here:  # PyTorch was still loading when the table was drawn: fill in its weights column
    warmup.wait(spinner=False, hurry=False)
    shown["weights here"] = shown["model"].map(weights_status.weights_here())
    table_slot.dataframe(shown, **table_args)
