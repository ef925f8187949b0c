"""The Channels page's widgets and views: pick a layer and channel, then filters, top images,
feature visualisation and receptive fields (logic in ``explorer.channels``)."""
from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import channels as ch, zoo

from explorer.analysis import features

from explorer.data import images
from explorer.i18n import N_, _
from explorer.ui import query
from explorer.ui.models import model_for_page

SETS = {"samples": N_("Bundled samples"), "pool": N_("ImageNet pool (600 photos)"),
        "mnist": N_("MNIST test set"), "uploads": N_("My uploads"),
        "folder": N_("Folder from the command line")}
OBJECTIVE_LABELS = {"channel": N_("Channel (mean activation)"),
                    "neuron": N_("One unit (centre of the map)"), "class": N_("Class logit")}
MNIST_SET_SIZE = 2000  # test digits offered as a set: a pass takes seconds on a CPU
RANDOM_NOTE = N_(":material/warning: random weights — this shows the untrained network, not "
                 "learned features")


# --------------------------------------------------------------------------------------------
# Choosing what to look at


def load(name: str):
    return model_for_page(name, key="channels")


def random_note(loaded) -> None:
    """Said next to every result of a model with random weights."""
    if loaded.is_random:
        st.caption(_(RANDOM_NOTE))


@st.cache_data(max_entries=64, show_spinner=False)
def layers(name: str) -> list[ch.ChannelLayer]:
    return ch.channel_layers(name)


def _default_layer(name: str, options: list[str]) -> str:
    stages = zoo.get_spec(name).stages
    for stride in (8, 4, 16, 2):
        if stages.get(stride) in options:
            return stages[stride]
    return options[len(options) // 2]


def layer_picker(name: str, key: str = "channels_layer") -> ch.ChannelLayer:
    infos = {r.path: r for r in layers(name)}
    options = list(infos)
    if st.session_state.get(f"{key}_model") != name:  # a new model: its own default layer
        st.session_state[f"{key}_model"] = name
        first = f"{key}_seen" not in st.session_state
        st.session_state[f"{key}_seen"] = True
        default = _default_layer(name, options)
        st.session_state[key] = (query.get_choice("layer", options, default) if first
                                 else default)

    def label(path):
        r = infos[path]
        return f"{path} · {r.type} · {r.channels}×{r.hw[0]}×{r.hw[1]} · RF {r.receptive_field}"

    path = st.selectbox(_("Layer"), options, key=key, format_func=label,
                        help=_("Every module whose output is a feature map, in the order the "
                               "forward pass runs them (blocks and their layers)."))
    st.query_params["layer"] = path
    return infos[path]


def channel_picker(layer: ch.ChannelLayer, key: str = "channels_channel") -> int:
    top = layer.channels - 1
    if st.session_state.get(f"{key}_layer") != layer.path:
        first = f"{key}_seen" not in st.session_state
        st.session_state[f"{key}_seen"] = True
        st.session_state[f"{key}_layer"] = layer.path
        st.session_state[key] = query.get_int("channel", 0, 0, top) if first else 0
    st.session_state[key] = min(int(st.session_state[key]), top)
    c = st.number_input(_("Channel (0–{top})").format(top=top), 0, top, key=key, step=1)
    st.query_params["channel"] = str(int(c))
    return int(c)


def set_channel(key: str, value: int) -> None:
    st.session_state[key] = int(value)


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
# Image sets and top images


def _cli_folder() -> Path | None:
    """``streamlit run app.py -- --images DIR`` offers that folder as an image set."""
    argv = sys.argv[1:]
    if "--images" in argv and argv.index("--images") + 1 < len(argv):
        return Path(argv[argv.index("--images") + 1])
    return None


@st.cache_resource(max_entries=4, show_spinner=False)
def _mnist_set(n: int):
    from explorer import data, train

    root = data.find("mnist")
    if root is None:
        return None
    x, y = train.load_mnist(root, train=False)
    labels = y[:n].tolist()
    return ch.ImageSet.from_arrays(_("MNIST test set"), "mnist-test", x[:n].numpy(),
                                   [f"test #{i} ({d})" for i, d in enumerate(labels)])


@st.cache_resource(max_entries=8, show_spinner=False)
def _folder_set(path: str, label: str):
    return ch.ImageSet.from_folder(path, label)


def _pool_folder() -> Path | None:
    from explorer import data

    return data.find("imagenet-pool")


def image_set_picker(loaded, key: str = "channels_set") -> ch.ImageSet | None:
    digits = loaded.spec.dataset == "mnist"
    options = ["samples"]
    if digits:
        options.append("mnist")
    elif _pool_folder() is not None:
        options.append("pool")
    if _cli_folder() is not None:
        options.append("folder")
    options.append("uploads")
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[1] if len(options) > 2 else options[0]
    choice = st.radio(_("Image set"), options, key=key, horizontal=True,
                      format_func=lambda o: _(SETS[o]))
    if choice == "samples":
        paths = list(images.sample_images("digit" if digits else "photo").values())
        return ch.ImageSet.from_paths(_("Bundled samples"), paths)
    if choice == "mnist":
        got = _mnist_set(MNIST_SET_SIZE)
        if got is None:
            st.warning(_("The MNIST test set is not on this machine; using the bundled digits."))
            return ch.ImageSet.from_paths(_("Bundled samples"),
                                          list(images.sample_images("digit").values()))
        return got
    if choice == "pool":
        return _folder_set(str(_pool_folder()), _("ImageNet pool"))
    if choice == "folder":
        try:
            return _folder_set(str(_cli_folder()), str(_cli_folder()))
        except FileNotFoundError as exc:
            st.error(_("The folder given with --images cannot be used: {error}").format(error=exc))
            return None
    files = st.file_uploader(_("Images for the set (many at once)"),
                             type=sorted(s.lstrip(".") for s in ch.top.IMAGE_SUFFIXES),
                             accept_multiple_files=True, key=f"{key}_files")
    if not files:
        st.caption(_("No files yet: drop some images above."))
        return None
    return ch.ImageSet.from_bytes(_("My uploads"), [(f.name, f.getvalue()) for f in files])


@st.cache_data(max_entries=1024, show_spinner=False)
def _view(fingerprint: str, index: int, preprocess_key: str, _image_set, _preprocess):
    return ch.network_view(_image_set.load(index), _preprocess)


def _crop(loaded, layer: str, image_set: ch.ImageSet, example: ch.Example):
    view = _view(image_set.fingerprint, example.index, repr(loaded.preprocess), image_set,
                 loaded.preprocess)
    w, h = view.size
    row = ch.layer_row(loaded.name, layer, (len(loaded.preprocess.mean), h, w))
    top, left, bottom, right = ch.rf_box(row, example.pos, (h, w))
    crop = view.crop((left, top, right, bottom))
    side = 96
    scale = side / max(crop.size)
    return crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
                       Image.NEAREST if max(crop.size) < side else Image.BICUBIC)


def layer_top(loaded, layer: ch.ChannelLayer, image_set: ch.ImageSet, key: str,
              compute: bool) -> ch.LayerTop | None:
    """The layer's result from the disk cache, or (when ``compute``) from one pass now."""
    cached = ch.top.lookup(loaded, layer.path, image_set)
    if cached is not None or not compute:
        return cached
    bar = st.progress(0.0, text=_("Running {n} images through {name}…").format(
        n=len(image_set), name=loaded.name))

    def progress(done, total):
        bar.progress(done / max(1, total), text=_("{done} of {total} images").format(
            done=done, total=total))

    result, _cached = ch.cached_layer_top(loaded, layer.path, image_set, progress=progress,
                                          batch=16 if loaded.spec.dataset != "mnist" else 256)
    bar.empty()
    return result


def top_view(loaded, layer: ch.ChannelLayer, channel: int, image_set: ch.ImageSet,
             key: str = "channels_top") -> None:
    k = st.slider(_("How many"), 3, 16, 9, key=f"{key}_k")
    want = (loaded.name, loaded.source, layer.path, image_set.fingerprint)
    result = layer_top(loaded, layer, image_set, key,
                       compute=st.session_state.get(f"{key}_want") == want)
    if result is None:
        st.caption(_("One pass over the {n} images computes every channel of {layer} at once; "
                     "the result is kept on disk, so other channels of this layer are then "
                     "instant.").format(n=len(image_set), layer=layer.path))
        st.button(_("Find the top images"), key=f"{key}_go", type="primary",
                  on_click=st.session_state.__setitem__, args=(f"{key}_want", want))
        return
    if result.failed:
        st.warning(_("Skipped {n} file(s) that could not be read: {names}").format(
            n=len(result.failed), names=", ".join(result.failed[:5])))
    random_note(loaded)
    for least, title in ((False, _("Top {k}: the images that activate channel {c} most")),
                         (True, _("Bottom {k}: the images that activate it least"))):
        st.markdown("**" + title.format(k=k, c=channel) + "**")
        examples = result.ranked(channel, k, least=least)
        cols = st.columns(min(len(examples), 9) or 1)
        for n, e in enumerate(examples):
            cols[n % len(cols)].image(_crop(loaded, layer.path, image_set, e),
                                      caption=f"{e.value:.3g} · {e.name}")
    st.caption(_("Each picture is the part of the image (as the network sees it, after "
                 "resizing and cropping) inside the receptive field of the unit where the "
                 "channel peaks, clipped at the image border; the number is that peak."))
    values = result.distribution(channel)
    df = pd.DataFrame({"peak": values})
    st.altair_chart(alt.Chart(df).mark_bar().encode(
        x=alt.X("peak:Q", bin=alt.Bin(maxbins=40), title=_("channel's peak activation")),
        y=alt.Y("count():Q", title=_("images"))).properties(
            height=180, title=_("Distribution over the {n} images").format(n=len(values))),
        width="stretch")
    with st.expander(_("Browse the channels of {layer} by their response in this set").format(
            layer=layer.path)):
        st.caption(_("The 16 channels with the highest mean peak over the set, each with its "
                     "top image part; open one to see it above."))
        cols = st.columns(8)
        for n, c in enumerate(result.channel_ranking()[:16]):
            best = result.ranked(int(c), 1)
            if not best:
                continue
            with cols[n % 8]:
                st.image(_crop(loaded, layer.path, image_set, best[0]),
                         caption=f"#{int(c)} · {best[0].value:.3g}")
                st.button(_("Open #{c}").format(c=int(c)), key=f"{key}_atlas_{int(c)}",
                          on_click=set_channel, args=("channels_channel", int(c)))


# --------------------------------------------------------------------------------------------
# Feature visualisation


def vis_view(loaded, layer: ch.ChannelLayer, channel: int, key: str = "channels_vis") -> None:
    spec = loaded.spec
    defaults = ch.settings_for(loaded.name)
    c1, c2, c3 = st.columns(3)
    objective = c1.radio(_("Maximise"), list(OBJECTIVE_LABELS), key=f"{key}_objective",
                         format_func=lambda o: _(OBJECTIVE_LABELS[o]))
    steps = c2.number_input(_("Steps"), 8, 2048, defaults.steps, step=32, key=f"{key}_steps")
    native = spec.input_size[1]
    if spec.min_size is None:
        size = native
        c3.caption(_("Size: {size}×{size} (fixed by the network)").format(size=native))
    else:
        size = c3.number_input(_("Size (pixels)"), max(spec.min_size, 32), 512, native,
                               step=16, key=f"{key}_size")
    target = channel
    if objective == "class":
        names = loaded.categories
        target = st.selectbox(_("Class"), range(len(names)), key=f"{key}_class",
                              format_func=lambda i: f"{i}: {names[i]}")
    what = (layer.path, objective, int(target), int(steps), int(size))
    results = st.session_state.setdefault(f"{key}_results", {})
    if st.button(_("Visualise"), key=f"{key}_go", type="primary"):
        bar = st.progress(0.0, text=_("Optimising…"))
        live = st.empty()

        def progress(step, total, image):
            bar.progress(step / total, text=_("Step {step} of {total}").format(
                step=step, total=total))
            if image is not None:
                live.image(_big(image), caption=_("step {step}").format(step=step), width=256)

        settings = ch.settings_for(loaded.name, steps=int(steps), size=int(size))
        result = ch.visualize(loaded, layer.path if objective != "class" else ch.LOGITS,
                              int(target), objective=objective, settings=settings,
                              progress=progress)
        bar.empty()
        live.empty()
        results.clear()  # one result per session: images are large
        results[what] = result
    result = results.get(what)
    if result is None:
        st.caption(_("About {steps} forward and backward passes: seconds for shallow layers, "
                     "longer for deep ones. The image forms as you watch.").format(steps=steps))
        return
    st.image(_big(result.image), width=320, caption=_(
        "{objective} {target}: {final:.3g} on this image, {grey:.3g} on a plain grey image "
        "({seconds:.1f} s on {device})").format(objective=_(OBJECTIVE_LABELS[objective]),
                                               target=target, final=result.final,
                                               grey=result.grey, seconds=result.seconds,
                                               device=result.device))
    random_note(loaded)
    st.download_button(_("Download PNG"), _png(result.image), file_name=(
        f"{loaded.name}_{layer.path if objective != 'class' else 'class'}_{target}.png"),
        key=f"{key}_png")


def _big(image: np.ndarray) -> Image.Image:
    img = Image.fromarray(image)
    return img.resize((img.width * 8, img.height * 8), Image.NEAREST) if img.width < 64 else img


def _png(image: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


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
    with right:
        st.image(ch.rf_picture(view, field), caption=_(
            "White box: theoretical receptive field of unit ({i}, {j}); colour: effective "
            "receptive field, |∂ unit / ∂ pixel| (square-root scale).").format(i=i, j=j))
        random_note(loaded)
    t, e = field.theoretical, field.effective
    top, left_, bottom, right_ = field.box
    st.markdown(_("**Theoretical field:** {th}×{tw} pixels (from the analysis; {bh}×{bw} of "
                  "it inside the image). **Effective field:** {eh}×{ew} pixels hold {mass:.0%} "
                  "of the gradient. The unit's value: {value:.3g}.").format(
        th=t[0], tw=t[1], bh=bottom - top, bw=right_ - left_, eh=e[0], ew=e[1],
        mass=field.mass, value=field.value))
    st.caption(_("Why the effective field is smaller, and for deep layers much smaller: a pixel "
                 "near the centre of the box "
                 "reaches the unit through many more paths of the network than a pixel near its "
                 "edge, so the gradient falls off roughly like a Gaussian. The theoretical field "
                 "grows linearly with depth, the effective one only about with its square root "
                 "(Luo et al., NeurIPS 2016). Outside the white box the gradient is exactly "
                 "zero: no path leads from there to this unit."))
