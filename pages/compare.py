"""Compare networks: what several CNNs see at the same depth, and how alike their layers are."""
import hashlib
import re

import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import features, images, inference, zoo
from explorer.analysis import analyze
from explorer.i18n import _
from explorer.ui import query
from explorer.ui.models import get_model, model_for_page, retry_button
from explorer.ui.widgets import UPLOAD_TYPES, image_input
from explorer.ui.router import through_router

through_router()

DATASETS = {"imagenet": "ImageNet photos", "mnist": "MNIST digits"}
ALL_NETWORKS = {d: zoo.list_models(d) for d in DATASETS}
DEFAULT_NETWORKS = {"imagenet": ["vgg16", "resnet50", "efficientnet_lite0"],
                    "mnist": ["lenet5", "mnist_plain", "mnist_bn_dropout"]}
# Session-state keys per mode, so that switching keeps each mode's choices (the ImageNet ones
# keep their original names: links and tests use them).
NETS_KEY = {"imagenet": "compare_nets", "mnist": "compare_nets_mnist"}
MNIST_CKA_TOTAL = 256  # digits for CKA when real MNIST test images can top the samples up
MNIST_TEST_FIRST = 100  # bundled digit samples are test images 0…61: start after them
SCALING = {"channel": "Per channel", "layer": "Per layer (shared)"}
IMAGE_SETS = {"samples": "Bundled samples", "uploads": "My uploads", "both": "Both"}


@st.cache_data(max_entries=64, show_spinner="Reading the layers…")
def _feature_maps(name: str) -> dict[str, tuple[tuple[int, ...], float | None]]:
    """{layer path: (C, H, W), effective stride} of every layer with a feature-map output."""
    return {row.name: (tuple(row.output_shape[1:]), row.jump) for row in analyze(name).layers
            if row.call == 0 and row.name and row.output_shape and len(row.output_shape) == 4}


@st.cache_data(max_entries=48, show_spinner="Running the network…")
def _activation(name: str, source: str, path: str, image_key: str,
                _image) -> features.LayerActivation:
    loaded = get_model(name, source)
    return features.layer_activation(loaded.model, loaded.preprocess, _image, path,
                                      device=inference.pick_device())


def _image_key(image) -> str:
    return f"{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"


def _layer_label(name: str, path: str) -> str:
    shape, jump = _feature_maps(name).get(path, (None, None))
    stage = {p: s for s, p in features.stage_layers(name).items()}.get(path)
    parts = [path]
    if shape:
        parts.append("×".join(map(str, shape)))
    if stage:
        parts.append(f"stage /{stage}")
    elif jump:
        parts.append(f"/{jump:g}")
    return " · ".join(parts)


def _weights_badge(source) -> str:
    """One line per column (the full label is in the tooltip), so the columns line up."""
    short = {"package": "genuine ImageNet weights", "torchvision": "torchvision ImageNet weights",
             "trained": "trained by this project", "upload": "your checkpoint",
             "session": "trained in this session", "random": "random weights"}
    text = short.get(source.source, source.source)
    accuracy = re.search(r"test accuracy ([\d.]+ ?%)", source.label)
    if source.source == "trained" and accuracy and zoo.get_spec(source.name).dataset == "mnist":
        text = f"trained here ({accuracy.group(1)} on MNIST test)"
    return f":material/warning: {text}" if source.is_random else f":material/verified: {text}"


def _init_from_url() -> None:
    """Mode, networks and depth come from the URL on the first run, so a link reopens the
    view. A mode's networks are read when that mode is first shown (a link names one mode's)."""
    if "compare_dataset" not in st.session_state:
        st.session_state["compare_dataset"] = query.get_choice("data", DATASETS, "imagenet")
    dataset = st.session_state["compare_dataset"]
    key, networks = NETS_KEY[dataset], ALL_NETWORKS[dataset]
    if key not in st.session_state:
        st.session_state[key] = query.get_list(
            "nets", networks, [n for n in DEFAULT_NETWORKS[dataset] if n in networks], 2, 4)
    if "compare_stride" not in st.session_state and "stride" in st.query_params:
        # Any power of two a link may name; the page moves it to the nearest stride offered.
        st.session_state["compare_stride"] = query.get_int("stride", 8, 1, 1024)


def _network_column(name: str, source: str, path: str, picture, n_channels: int, scaling: str,
                    digits: bool = False) -> None:
    try:
        act = _activation(name, source, path, _image_key(picture), picture)
    except Exception as exc:  # a user can pick any layer: say what failed, never a traceback
        st.error(f"Could not compute {name}.{path}: {exc}")
        return
    stats = features.layer_stats(act.activation)
    if source == "random":  # next to the maps themselves, not only in the badge above
        st.warning(_("Random weights: these maps show the untrained {name}, not features it "
                     "learned.").format(name=name), icon=":material/warning:")
    view = act.view
    if max(view.size) < 224:  # a 28×28 digit: enlarge in blocks first, so the heat map is smooth
        factor = -(-224 // max(view.size))  # and the pixels the network saw stay sharp
        view = view.resize((view.width * factor, view.height * factor), Image.NEAREST)
    seen = ("the digit as the network saw it "
            f"({act.view.width}×{act.view.height}, after MNIST-style preprocessing)"
            if digits else "the crop the network saw")
    st.image(features.channel_mean_overlay(view, act.activation), width="stretch",
             caption=f"Mean over channels, on {seen}")
    grid = features.channel_grid(act.activation, n=n_channels, scaling=scaling, cols=4)
    st.image(grid, width="stretch",
             caption=f"{min(n_channels, stats.shape[0])} strongest of {stats.shape[0]} channels "
                     "(mean square activation), #channel index")
    st.caption(f"**{' × '.join(map(str, stats.shape))}** · mean {stats.mean:.3g} · "
               f"std {stats.std:.3g} · range {stats.min:.3g} … {stats.max:.3g} · "
               f"**{stats.zero_fraction:.0%}** zero after ReLU")
    st.download_button("Download grid (PNG)", features.to_png(grid),
                       file_name=f"{name}_{path}_top{n_channels}.png", mime="image/png",
                       key=f"compare_png_{name}", icon=":material/download:")


@st.cache_data(max_entries=4, show_spinner="Reading MNIST test images…")
def _mnist_test_digits(root: str, first: int, count: int) -> list[Image.Image] | None:
    """``count`` real MNIST test digits from ``first`` on, or None when they are not there."""
    from explorer import train

    try:
        digits, _ = train.load_mnist(root, train=False)
    except (train.MnistNotFoundError, OSError):
        return None
    return [Image.fromarray(a).convert("RGB") for a in digits[first:first + count].numpy()]


def _mnist_test_root() -> str | None:
    """A local MNIST copy (``$CNN_EXPLORER_MNIST`` or the test data beside the project,
    ``../shared/data/mnist``), or None: it is not shipped to users, and nothing is
    downloaded here."""
    from explorer import train

    root, would_download = train.find_mnist()
    found = (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()
    return str(root) if found and not would_download else None


def _cka_images(which: str, views: int, dataset: str = "imagenet"):
    """The image list for CKA (lazy: read per minibatch) and a line saying what it holds, or
    (None, None) after showing why not. Digits are topped up with real MNIST test images
    when a local copy exists (then ``views`` is ignored); photos, or digits without that
    copy, get ``views`` views per image."""
    digits = dataset == "mnist"
    sources = []
    counts = []
    if which in ("samples", "both"):
        samples = list(images.sample_images("digit" if digits else "photo").values())
        sources += samples
        counts.append(f"{len(samples)} bundled {'digits' if digits else 'photos'}")
    if which in ("uploads", "both"):
        before = len(sources)
        files = st.session_state.get(_key("cka_uploads", dataset)) or []
        for f in files:
            try:
                images.load_image(f.getvalue())
            except images.ImageLoadError as exc:
                st.error(f"{f.name} is left out: {exc}")
                continue
            sources.append(f.getvalue())
        counts.append(f"{len(sources) - before} uploaded")
    root = _mnist_test_root() if digits else None
    extra = (_mnist_test_digits(root, MNIST_TEST_FIRST, MNIST_CKA_TOTAL - len(sources))
             if root and len(sources) < MNIST_CKA_TOTAL else None)
    if extra:
        counts.append(f"{len(extra)} MNIST test images (test set {MNIST_TEST_FIRST}…"
                      f"{MNIST_TEST_FIRST + len(extra) - 1}, from the local copy in {root})")
        views = 1
    n = (len(sources) + len(extra or [])) * views
    if n < 4:
        st.warning(f"CKA needs at least 4 images; this choice gives {n}. Upload more images or "
                   "add views per image.")
        return None, None
    what = " + ".join(counts) + (f", × {views} views each" if views > 1 else "")
    return features.ImageViews(sources + (extra or []), views), f"{n} images: {what}"


def _key(base: str, dataset: str) -> str:
    """A widget key per mode (the ImageNet mode keeps the original key)."""
    return base if dataset == "imagenet" else f"{base}_{dataset}"


def _cka_chart(result: dict, debiased: bool) -> alt.Chart:
    matrix = result["debiased" if debiased else "biased"]
    rows = [{"A": la, "B": lb, "CKA": float(matrix[i, j])}
            for i, la in enumerate(result["labels_a"]) for j, lb in enumerate(result["labels_b"])]
    df = pd.DataFrame(rows)
    base = alt.Chart(df).encode(
        x=alt.X("B:N", sort=result["labels_b"], title=f"{result['b']} (B)",
                axis=alt.Axis(labelAngle=-40, labelOverlap=False, labelLimit=200)),
        y=alt.Y("A:N", sort=result["labels_a"], title=f"{result['a']} (A)",
                axis=alt.Axis(labelOverlap=False, labelLimit=200)),
        tooltip=[alt.Tooltip("A:N", title=f"{result['a']} layer"),
                 alt.Tooltip("B:N", title=f"{result['b']} layer"),
                 alt.Tooltip("CKA:Q", format=".3f")],
    )
    lo = min(0.0, float(df["CKA"].min()))
    heat = base.mark_rect().encode(
        color=alt.Color("CKA:Q", scale=alt.Scale(scheme="viridis", domain=[lo, 1.0]),
                        title="CKA"))
    text = base.mark_text(fontSize=13).encode(
        text=alt.Text("CKA:Q", format=".2f"),
        color=alt.condition("datum.CKA > 0.6", alt.value("black"), alt.value("white")))
    # The size includes the axis labels and the legend: a floor keeps a 2×2 matrix (the MNIST
    # networks have two stages) from being squeezed to nothing by its labels.
    return (heat + text).properties(width=max(80 * len(result["labels_b"]), 360),
                                    height=max(56 * len(result["labels_a"]), 260))


# --------------------------------------------------------------------------------------------

st.title("Compare networks")
st.write("The same image through two to four networks: what each one responds to at the same "
         "depth, and how similar their representations are across a batch of images.")

_init_from_url()
dataset = st.radio("Networks for", list(DATASETS), format_func=DATASETS.get, horizontal=True,
                   key="compare_dataset",
                   help="ImageNet photos: the large classics. MNIST digits: LeNet-5 and the "
                        "small MNIST networks this project trained (assets/).")
st.query_params["data"] = dataset
digits = dataset == "mnist"
NETWORKS = ALL_NETWORKS[dataset]
top_left, top_right = st.columns([3, 2])
with top_left:
    names = st.multiselect(
        "Networks (2–4)", NETWORKS, key=NETS_KEY[dataset], max_selections=4,
        help=("MNIST models trained by this project; depth is matched by output stride."
              if digits else "ImageNet models; depth is matched by output stride."))
with top_right:
    picked = image_input(_key("compare", dataset), digits=digits)

if len(names) < 2:
    st.info("Choose at least two networks to compare.")
    st.stop()
st.query_params["nets"] = ",".join(names)

loaded = {}
for name in names:
    try:
        model = model_for_page(name, key="compare", banner=False)  # may download, with progress
        if model is not None:
            loaded[name] = model
    except Exception as exc:
        st.error(f"{name} could not be loaded: {exc}")
names = [n for n in names if n in loaded]
random_nets = [n for n in names if loaded[n].is_random]
if random_nets:
    st.warning(f"**Random weights:** {', '.join(random_nets)} "
               f"{'has' if len(random_nets) == 1 else 'have'} no "
               f"{'trained' if digits else 'pretrained'} weights on this machine, so their "
               "feature maps show what the architecture does to the image, not features "
               + ("learned from MNIST. Train them on the Train page (or restore assets/*.pt)."
                  if digits else "learned from ImageNet. EfficientNet-Lite0 has genuine "
                                 "weights offline."),
               icon=":material/warning:")
    retry_button("compare")
if len(names) < 2:
    st.stop()

strides = features.stride_options(names)
if "compare_stride" not in st.session_state:
    st.session_state["compare_stride"] = 8 if 8 in strides else strides[len(strides) // 2]
elif st.session_state["compare_stride"] not in strides:  # the networks changed
    st.session_state["compare_stride"] = features.next_stride(
        names, st.session_state["compare_stride"], 0)  # the nearest one offered
controls = st.columns([3, 2, 2])
with controls[0]:
    stride = st.select_slider(
        "Depth: output stride (moves every network)", options=strides, key="compare_stride",
        format_func=lambda s: f"/{s}",
        help="Output stride = input size / feature-map size. Each network's stage that ends at "
             "this stride is chosen below; you can pick any other layer per network.")
with controls[1]:
    n_channels = st.slider("Channels shown", 4, 32, 8, step=4, key="compare_channels")
with controls[2]:
    scaling = st.radio("Colour scale", list(SCALING), format_func=SCALING.get,
                       horizontal=True, key="compare_scaling",
                       help="Per channel: each tile uses its own range, to show its pattern. "
                            "Per layer: one range for the layer, to show which channels are "
                            "strong.")
st.query_params["stride"] = str(stride)

matched = features.matched_layers(names, stride)
columns = st.columns(len(names))
if picked is None:
    st.info("Choose an image above (a sample, an upload or the camera) to see each network's "
            "feature maps.")
for col, name in zip(columns, names if picked is not None else []):
    with col:
        # No link icon: beside a long name it wraps to a second line and misaligns the columns.
        st.subheader(name, anchor=False)
        source = loaded[name]
        st.caption(_weights_badge(source), help=source.label)
        try:
            options = list(_feature_maps(name))
        except Exception as exc:
            st.error(f"Could not list the layers of {name}: {exc}")
            continue
        default = matched[name]
        if default not in options:
            options.insert(0, default)
        # One widget per (network, stride): moving the depth control resets every network to
        # its matched stage, and a choice made at another depth is kept for when you return.
        path = st.selectbox("Layer", options, index=options.index(default),
                            key=f"compare_layer_{name}_{stride}",
                            format_func=lambda p, n=name: _layer_label(n, p))
        _network_column(name, source.source, path, picked[0], n_channels, scaling, digits)

# --------------------------------------------------------------------------------------------

st.header("Layer similarity (linear CKA)")
st.write("Centred kernel alignment (Kornblith et al., 2019) compares two layers by how they "
         "arrange the same images: 1 means the same geometry up to rotation and scale, 0 "
         "unrelated. Each layer's feature map is averaged over space (one value per channel), "
         "and the statistics are summed minibatch by minibatch, so memory does not grow with "
         "the number of images and the result is exactly the full-batch CKA.")
row = st.columns(2)
with row[0]:
    net_a = st.selectbox("Network A", NETWORKS, index=NETWORKS.index(names[0]),
                         key=_key("cka_a", dataset))
with row[1]:
    net_b = st.selectbox("Network B (the same one for a self-comparison)", NETWORKS,
                         index=NETWORKS.index(names[1]), key=_key("cka_b", dataset))
which = st.radio("Images", list(IMAGE_SETS), format_func=IMAGE_SETS.get, horizontal=True,
                 key="cka_images")
if which != "samples":
    st.file_uploader(f"{'Digits' if digits else 'Images'} for CKA ({images.FORMATS})",
                     type=UPLOAD_TYPES, accept_multiple_files=True,
                     key=_key("cka_uploads", dataset))
topped_up = digits and _mnist_test_root() is not None
opts = st.columns(3)
with opts[0]:
    if topped_up:  # real digits instead of mirrored and cropped views of ten samples
        views = 1
        st.caption(f"Topped up to {MNIST_CKA_TOTAL} images with real MNIST test digits from the "
                   "local copy (test data beside the project, not shipped with the app).")
    else:
        views = st.select_slider(
            "Views per image", [1, 2, 4, 8], value=8 if which == "samples" else 1,
            key=_key("cka_views", dataset),
            help=("The image, its mirror and crops of three quarters. Ten bundled digits are "
                  "too few for CKA and the MNIST test set is not on this machine; views add "
                  "examples, though views of one digit are not independent like new ones are."
                  if digits else
                  "The image, its mirror and crops of three quarters. Four bundled photos are "
                  "too few for CKA; views add examples, though views of one photo are not "
                  "independent like new photos are."))
with opts[1]:
    batch_size = st.select_slider("Minibatch", [2, 4, 8, 16, 32], value=8, key="cka_batch",
                                  help="Images per forward pass; larger is faster, needs more "
                                       "memory. The result does not depend on it.")
with opts[2]:
    debiased = st.toggle("Debiased estimator", key="cka_debiased",
                         help="Unbiased HSIC (Song et al., 2012). Plain CKA is pulled up when "
                              "there are fewer images than channels; the debiased one is not "
                              "(it can go slightly below 0).")

cka_images, cka_what = _cka_images(which, views, dataset)
if cka_images is not None:
    passes = (f"through {net_a}, one forward pass each" if net_a == net_b
              else f"through {net_a} and {net_b}")
    st.caption(f"**{cka_what}**, {passes}, every stage captured at once. "
               + ("These small networks take a second or two on a CPU." if digits else
                  "On a CPU this takes from seconds (small networks) to a few minutes (VGG-16 "
                  "with many images)."))
    if st.button("Compute CKA", type="primary", key="cka_run"):
        pair = [net_a, net_b]
        layers = {n: features.stage_layers(n) for n in pair}
        bar = st.progress(0.0, text="Running the images through both networks…")
        try:
            models = [get_model(n) for n in pair]
            acc = features.cka_accumulate(
                models, list(layers[net_a].values()), list(layers[net_b].values()), cka_images,
                batch_size, device=inference.pick_device(),
                progress=lambda done, total: bar.progress(done / total,
                                                          text=f"{done} / {total} images"))
            st.session_state["cka_result"] = {
                "dataset": dataset, "what": cka_what,
                "a": net_a, "b": net_b, "n": len(cka_images),
                "labels_a": [f"/{s} {p}" for s, p in layers[net_a].items()],
                "labels_b": [f"/{s} {p}" for s, p in layers[net_b].items()],
                "biased": acc.result(False), "debiased": acc.result(True),
                "channels": max(acc.dims_a + acc.dims_b),
                "random": [n for n, m in zip(pair, models) if m.is_random],
            }
            bar.empty()
        except Exception as exc:
            bar.empty()
            st.error(f"CKA could not be computed: {exc}")

result = st.session_state.get("cka_result")
if result and result.get("dataset", "imagenet") == dataset:  # not the other mode's networks
    st.subheader(f"{result['a']} vs {result['b']}, {result['n']} images"
                 + (" (debiased)" if debiased else ""))
    st.altair_chart(_cka_chart(result, debiased), width="content")
    notes = [f"Over {result['what']}.",
             "Rows: stages of A; columns: stages of B, by output stride. Hover for values."]
    if result["a"] == result["b"]:
        notes.append("A network against itself: the diagonal is 1 by definition; how fast "
                     "similarity falls off the diagonal shows how much each stage changes the "
                     "representation.")
    if debiased:
        notes.append("Debiased: unbiased HSIC, so unrelated layers score near 0 even with few "
                     "images; values slightly below 0 are noise.")
    elif result["n"] < result["channels"]:
        notes.append(f"With {result['n']} images and up to {result['channels']} channels per "
                     "layer, plain CKA is pulled towards 1 for every pair; switch on the "
                     "debiased estimator to see which similarities are real.")
    if result["random"]:
        notes.append(f"{', '.join(result['random'])} had random weights: similarity then "
                     "reflects architecture and image statistics, not learning.")
    st.caption(" ".join(notes))
