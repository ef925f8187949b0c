"""Compare networks: what several CNNs see at the same depth, and how alike their layers are."""
import hashlib

import altair as alt
import pandas as pd
import streamlit as st

from explorer import features, images, inference, zoo
from explorer.analysis import analyze
from explorer.ui.models import get_model
from explorer.ui.widgets import UPLOAD_TYPES, image_input
from explorer.ui.router import through_router

through_router()

NETWORKS = zoo.list_models("imagenet")
DEFAULT_NETWORKS = ["vgg16", "resnet50", "efficientnet_lite0"]
SCALING = {"channel": "Per channel", "layer": "Per layer (shared)"}
IMAGE_SETS = {"samples": "Bundled samples", "uploads": "My uploads", "both": "Both"}


@st.cache_data(max_entries=64, show_spinner="Reading the layers…")
def _feature_maps(name: str) -> dict[str, tuple[tuple[int, ...], float | None]]:
    """{layer path: (C, H, W), effective stride} of every layer with a feature-map output."""
    return {row.name: (tuple(row.output_shape[1:]), row.jump) for row in analyze(name).layers
            if row.call == 0 and row.name and row.output_shape and len(row.output_shape) == 4}


@st.cache_data(max_entries=48, show_spinner="Running the network…")
def _activation(name: str, path: str, image_key: str, _image) -> features.LayerActivation:
    loaded = get_model(name)
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
    return f":material/warning: {text}" if source.is_random else f":material/verified: {text}"


def _init_from_url() -> None:
    """Networks and depth come from the URL on the first run, so a link reopens the view."""
    if "compare_nets" not in st.session_state:
        wanted = [n for n in st.query_params.get("nets", "").split(",") if n in NETWORKS]
        st.session_state["compare_nets"] = (wanted if 2 <= len(wanted) <= 4 else
                                            [n for n in DEFAULT_NETWORKS if n in NETWORKS])
    if "compare_stride" not in st.session_state and st.query_params.get("stride", "").isdigit():
        st.session_state["compare_stride"] = int(st.query_params["stride"])


def _network_column(name: str, path: str, picture, n_channels: int, scaling: str) -> None:
    try:
        act = _activation(name, path, _image_key(picture), picture)
    except Exception as exc:  # a user can pick any layer: say what failed, never a traceback
        st.error(f"Could not compute {name}.{path}: {exc}")
        return
    stats = features.layer_stats(act.activation)
    st.image(features.channel_mean_overlay(act.view, act.activation), width="stretch",
             caption="Mean over channels, on the crop the network saw")
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


def _cka_images(which: str, views: int):
    """The image list for CKA (lazy: read per minibatch), or None after showing why not."""
    sources = []
    if which in ("samples", "both"):
        sources += list(images.sample_images("photo").values())
    if which in ("uploads", "both"):
        files = st.session_state.get("cka_uploads") or []
        for f in files:
            try:
                images.load_image(f.getvalue())
            except images.ImageLoadError as exc:
                st.error(f"{f.name} is left out: {exc}")
                continue
            sources.append(f.getvalue())
    n = len(sources) * views
    if n < 4:
        st.warning(f"CKA needs at least 4 images; this choice gives {n}. Upload more images or "
                   "add views per image.")
        return None
    return features.ImageViews(sources, views)


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
    return (heat + text).properties(width=80 * len(result["labels_b"]),
                                    height=56 * len(result["labels_a"]))


# --------------------------------------------------------------------------------------------

st.title("Compare networks")
st.write("The same image through two to four networks: what each one responds to at the same "
         "depth, and how similar their representations are across a batch of images.")

_init_from_url()
top_left, top_right = st.columns([3, 2])
with top_left:
    names = st.multiselect("Networks (2–4)", NETWORKS, key="compare_nets", max_selections=4,
                           help="ImageNet models; depth is matched by output stride.")
with top_right:
    picked = image_input("compare")

if len(names) < 2:
    st.info("Choose at least two networks to compare.")
    st.stop()
st.query_params["nets"] = ",".join(names)

loaded = {}
for name in names:
    try:
        loaded[name] = get_model(name)
    except Exception as exc:
        st.error(f"{name} could not be loaded: {exc}")
names = [n for n in names if n in loaded]
random_nets = [n for n in names if loaded[n].is_random]
if random_nets:
    st.warning(f"**Random weights:** {', '.join(random_nets)} "
               f"{'has' if len(random_nets) == 1 else 'have'} no pretrained weights on this "
               "machine, so their feature maps show what the architecture does to the image, "
               "not features learned from ImageNet. EfficientNet-Lite0 has genuine weights "
               "offline.",
               icon=":material/warning:")
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
        _network_column(name, path, picked[0], n_channels, scaling)

# --------------------------------------------------------------------------------------------

st.header("Layer similarity (linear CKA)")
st.write("Centred kernel alignment (Kornblith et al., 2019) compares two layers by how they "
         "arrange the same images: 1 means the same geometry up to rotation and scale, 0 "
         "unrelated. Each layer's feature map is averaged over space (one value per channel), "
         "and the statistics are summed minibatch by minibatch, so memory does not grow with "
         "the number of images and the result is exactly the full-batch CKA.")
row = st.columns(2)
with row[0]:
    net_a = st.selectbox("Network A", NETWORKS, index=NETWORKS.index(names[0]), key="cka_a")
with row[1]:
    net_b = st.selectbox("Network B (the same one for a self-comparison)", NETWORKS,
                         index=NETWORKS.index(names[1]), key="cka_b")
which = st.radio("Images", list(IMAGE_SETS), format_func=IMAGE_SETS.get, horizontal=True,
                 key="cka_images")
if which != "samples":
    st.file_uploader(f"Images for CKA ({images.FORMATS})", type=UPLOAD_TYPES,
                     accept_multiple_files=True, key="cka_uploads")
opts = st.columns(3)
with opts[0]:
    views = st.select_slider("Views per image", [1, 2, 4, 8], value=8 if which == "samples" else 1,
                             key="cka_views",
                             help="The image, its mirror and crops of three quarters. Four bundled "
                                  "photos are too few for CKA; views add examples, though views "
                                  "of one photo are not independent like new photos are.")
with opts[1]:
    batch_size = st.select_slider("Minibatch", [2, 4, 8, 16, 32], value=8, key="cka_batch",
                                  help="Images per forward pass; larger is faster, needs more "
                                       "memory. The result does not depend on it.")
with opts[2]:
    debiased = st.toggle("Debiased estimator", key="cka_debiased",
                         help="Unbiased HSIC (Song et al., 2012). Plain CKA is pulled up when "
                              "there are fewer images than channels; the debiased one is not "
                              "(it can go slightly below 0).")

cka_images = _cka_images(which, views)
if cka_images is not None:
    passes = (f"{len(cka_images)} images through {net_a}, one forward pass each" if net_a == net_b
              else f"{len(cka_images)} images through {net_a} and {net_b}")
    st.caption(f"{passes}, every stage captured at once. On a CPU this takes from seconds "
               "(small networks) to a few minutes (VGG-16 with many images).")
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
if result:
    st.subheader(f"{result['a']} vs {result['b']}, {result['n']} images"
                 + (" (debiased)" if debiased else ""))
    st.altair_chart(_cka_chart(result, debiased), width="content")
    notes = ["Rows: stages of A; columns: stages of B, by output stride. Hover for values."]
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
