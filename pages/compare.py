"""Compare networks: what several CNNs see at the same depth, and how alike their layers are."""
import streamlit as st

from explorer.data import images
from explorer.i18n import _
from explorer.ui import warmup
from explorer.ui.compare_state import (ALL_NETWORKS, DATASETS, IMAGE_SETS, MNIST_CKA_TOTAL,
                                       NETS_KEY, SCALING, init_from_url, key, mnist_test_root)
from explorer.ui.router import through_router
from explorer.ui.widgets import UPLOAD_TYPES, image_input

through_router()

st.title(_("Compare networks"))
st.write(_("The same image through two to four networks: what each one responds to at the same "
           "depth, and how similar their representations are across a batch of images."))

init_from_url()
dataset = st.radio(_("Networks for"), list(DATASETS), format_func=lambda d: _(DATASETS[d]),
                   horizontal=True, key="compare_dataset",
                   help=_("ImageNet photos: the large classics. MNIST digits: LeNet-5 and the "
                          "small MNIST networks this project trained (assets/)."))
st.query_params["data"] = dataset
digits = dataset == "mnist"
NETWORKS = ALL_NETWORKS[dataset]
top_left, top_right = st.columns([3, 2])
with top_left:
    names = st.multiselect(
        _("Networks (2–4)"), NETWORKS, key=NETS_KEY[dataset], max_selections=4,
        help=(_("MNIST models trained by this project; depth is matched by output stride.")
              if digits else _("ImageNet models; depth is matched by output stride.")))
with top_right:
    picked = image_input(key("compare", dataset), digits=digits)
if len(names) < 2:
    st.info(_("Choose at least two networks to compare."))
    st.stop()
st.query_params["nets"] = ",".join(names)

# Every control is drawn before torch loads (paint first); what needs torch fills the places
# kept for it once the page's controls are on screen: the depth control, columns, CKA.
controls = st.columns([3, 2, 2])
with controls[1]:
    n_channels = st.slider(_("Channels shown"), 4, 32, 8, step=4, key="compare_channels")
with controls[2]:
    scaling = st.radio(_("Colour scale"), list(SCALING), format_func=lambda s: _(SCALING[s]),
                       horizontal=True, key="compare_scaling",
                       help=_("Per channel: each tile uses its own range, to show its pattern. "
                              "Per layer: one range for the layer, to show which channels are "
                              "strong."))
notices, columns_area = st.container(), st.container()

# --------------------------------------------------------------------------------------------

st.header(_("Layer similarity (linear CKA)"))
st.write(_("Centred kernel alignment (Kornblith et al., 2019) compares two layers by how they "
           "arrange the same images: 1 means the same geometry up to rotation and scale, 0 "
           "unrelated. Each layer's feature map is averaged over space (one value per channel), "
           "and the statistics are summed minibatch by minibatch, so memory does not grow with "
           "the number of images and the result is exactly the full-batch CKA."))
row = st.columns(2)
with row[0]:
    net_a = st.selectbox(_("Network A"), NETWORKS, index=NETWORKS.index(names[0]),
                         key=key("cka_a", dataset))
with row[1]:
    net_b = st.selectbox(_("Network B (the same one for a self-comparison)"), NETWORKS,
                         index=NETWORKS.index(names[1]), key=key("cka_b", dataset))
which = st.radio(_("Images"), list(IMAGE_SETS), format_func=lambda s: _(IMAGE_SETS[s]),
                 horizontal=True, key="cka_images")
if which != "samples":
    st.file_uploader((_("Digits for CKA ({formats})") if digits else
                      _("Images for CKA ({formats})")).format(formats=images.FORMATS),
                     type=UPLOAD_TYPES, accept_multiple_files=True,
                     key=key("cka_uploads", dataset), max_upload_size=images.MAX_BYTES // 2**20)
opts = st.columns(3)
with opts[0]:
    if digits and mnist_test_root() is not None:  # real digits, not views of ten samples
        views = 1
        st.caption(_("Topped up to {n} images with real MNIST test digits from the local copy "
                     "(test data beside the project, not shipped with the app).").format(
            n=MNIST_CKA_TOTAL))
    else:
        views = st.select_slider(
            _("Views per image"), [1, 2, 4, 8], value=8 if which == "samples" else 1,
            key=key("cka_views", dataset),
            help=(_("The image, its mirror and crops of three quarters. Ten bundled digits are "
                    "too few for CKA and the MNIST test set is not on this machine; views add "
                    "examples, though views of one digit are not independent like new ones "
                    "are.") if digits else
                  _("The image, its mirror and crops of three quarters. Four bundled photos are "
                    "too few for CKA; views add examples, though views of one photo are not "
                    "independent like new photos are.")))
with opts[1]:
    batch_size = st.select_slider(_("Minibatch"), [2, 4, 8, 16, 32], value=8, key="cka_batch",
                                  help=_("Images per forward pass; larger is faster, needs more "
                                         "memory. The result does not depend on it."))
with opts[2]:
    debiased = st.toggle(_("Debiased estimator"), key="cka_debiased",
                         help=_("Unbiased HSIC (Song et al., 2012). Plain CKA is pulled up when "
                                "there are fewer images than channels; the debiased one is not "
                                "(it can go slightly below 0)."))

cka_note = st.container()  # what the run will go over: known once torch is there
run_cka = st.button(_("Compute CKA"), type="primary", key="cka_run")

with controls[0]:
    warmup.wait()  # every control above is drawn: now what needs torch
from explorer.ui import compare as ui  # noqa: E402

with controls[0]:
    strides = ui.stride_options(names)
    stride = st.select_slider(
        _("Depth: output stride (moves every network)"), options=strides, key="compare_stride",
        format_func=lambda s: f"/{s}",
        help=_("Output stride = input size / feature-map size. Each network's stage that ends "
               "at this stride is chosen below; you can pick any other layer per network."))
st.query_params["stride"] = str(stride)
with cka_note:
    cka_images, cka_what = ui.cka_images(which, views, dataset)
    if cka_images is not None:
        passes = (_("**{what}**, through {a}, one forward pass each, every stage captured at "
                    "once.") if net_a == net_b else
                  _("**{what}**, through {a} and {b}, every stage captured at once.")).format(
            what=ui.what_text(cka_what), a=net_a, b=net_b)
        st.caption(passes + " "
                   + (_("These small networks take a second or two on a CPU.") if digits else
                      _("On a CPU this takes from seconds (small networks) to a few minutes "
                        "(VGG-16 with many images).")))
with columns_area:
    ui.network_columns(names, stride, picked[0] if picked else None, n_channels, scaling,
                       digits, notices)

if run_cka and cka_images is not None:
    ui.run_cka(net_a, net_b, cka_images, cka_what, batch_size, dataset)
ui.cka_result(dataset, debiased)
