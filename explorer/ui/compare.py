"""The Compare page's views: one column of feature maps per network, and the CKA matrix
(logic in ``explorer.analysis.features`` and ``explorer.analysis.cka``).

Imports torch: the page imports this module after ``warmup.wait()``; what it draws before
that comes from ``explorer.ui.compare_state``.
"""
from __future__ import annotations

import hashlib
import re

import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import inference, weights, zoo
from explorer.analysis import cka, features
from explorer.data import images
from explorer.data.mnist import MnistNotFoundError, load_mnist
from explorer.i18n import N_, _, ngettext, join
from explorer.ui.compare_state import MNIST_CKA_TOTAL, key, mnist_test_root
from explorer.ui.models import get_model, model_for_page, retry_button
from explorer.ui.uploads import decoded_once

__all__ = ["stride_options", "network_columns", "cka_images", "what_text", "run_cka",
           "cka_result"]

MNIST_TEST_FIRST = 100  # bundled digit samples are test images 0…61: start after them


# --------------------------------------------------------------------------------------------
# Networks and depth


def _load_network(name: str) -> weights.LoadedModel | None:
    """``name`` for the page (downloads with progress where needed), or None after an error."""
    try:
        return model_for_page(name, key="compare", banner=False)  # may download
    except Exception as exc:
        st.error(_("{model} could not be loaded: {error}").format(model=name, error=exc))
        return None


def _random_warning(names: list[str], loaded: dict[str, weights.LoadedModel],
                    digits: bool) -> None:
    """One warning naming the networks that run with random weights (none: nothing)."""
    random_nets = [n for n in names if n in loaded and loaded[n].is_random]
    if random_nets:
        st.warning((ngettext(
            "**Random weights:** {models} has no trained weights on this machine, so its "
            "feature maps show what the architecture does to the image, not features learned "
            "from MNIST. Train it on the Train page (or restore assets/*.pt).",
            "**Random weights:** {models} have no trained weights on this machine, so their "
            "feature maps show what the architecture does to the image, not features learned "
            "from MNIST. Train them on the Train page (or restore assets/*.pt).",
            len(random_nets))
            if digits else ngettext(
            "**Random weights:** {models} has no pretrained weights on this machine, so its "
            "feature maps show what the architecture does to the image, not features learned "
            "from ImageNet. EfficientNet-Lite0 has genuine weights offline.",
            "**Random weights:** {models} have no pretrained weights on this machine, so their "
            "feature maps show what the architecture does to the image, not features learned "
            "from ImageNet. EfficientNet-Lite0 has genuine weights offline.", len(random_nets))
        ).format(models=join(random_nets)), icon=":material/warning:")
        retry_button("compare")


def stride_options(names: list[str]) -> list[int]:
    """The depths the control offers; puts the control on one of them (8 at first, the
    nearest one offered when the networks changed)."""
    strides = features.stride_options(names)
    if "compare_stride" not in st.session_state:
        st.session_state["compare_stride"] = 8 if 8 in strides else strides[len(strides) // 2]
    elif st.session_state["compare_stride"] not in strides:  # the networks changed
        st.session_state["compare_stride"] = features.next_stride(
            names, st.session_state["compare_stride"], 0)  # the nearest one offered
    return strides


@st.cache_data(max_entries=64, show_spinner=False)  # spinner: translated, at the call
def _feature_maps(name: str) -> dict[str, tuple[tuple[int, ...], float | None]]:
    """{layer path: (C, H, W), effective stride} of every layer with a feature-map output."""
    return {row.name: (tuple(row.output_shape[1:]), row.jump)
            for row in features.feature_layers(name)}


def _layer_label(name: str, path: str) -> str:
    shape, jump = _feature_maps(name).get(path, (None, None))
    stage = {p: s for s, p in features.stage_layers(name).items()}.get(path)
    parts = [path]
    if shape:
        parts.append("×".join(map(str, shape)))
    if stage:
        parts.append(_("stage /{stride}").format(stride=stage))
    elif jump:
        parts.append(f"/{jump:g}")
    return " · ".join(parts)


def _weights_badge(source) -> str:
    """One line per column (the full label is in the tooltip), so the columns line up."""
    short = {"package": _("genuine ImageNet weights"),
             "torchvision": _("torchvision ImageNet weights"),
             "trained": _("trained by this project"), "upload": _("your checkpoint"),
             "session": _("trained in this session"), "random": _("random weights")}
    text = short.get(source.source, source.source)
    accuracy = re.search(r"test accuracy ([\d.]+ ?%)", source.label)
    if source.source == "trained" and accuracy and zoo.get_spec(source.name).dataset == "mnist":
        text = _("trained here ({accuracy} on MNIST test)").format(accuracy=accuracy.group(1))
    return f":material/warning: {text}" if source.is_random else f":material/verified: {text}"


# --------------------------------------------------------------------------------------------
# One network's column


@st.cache_data(max_entries=48, show_spinner=False)  # spinner: translated, at the call
def _activation(name: str, source: str, path: str, image_key: str,
                _image) -> features.LayerActivation:
    loaded = get_model(name, source)
    return features.layer_activation(loaded.model, loaded.preprocess, _image, path,
                                      device=inference.pick_device())


def _image_key(image) -> str:
    return f"{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"


def network_columns(names: list[str], stride: int, picture, n_channels: int, scaling: str,
                    digits: bool, notices) -> None:
    """One column per network, each at its stage that ends at ``stride``: first every
    column's name and layer picker (no weights needed), then each network's weights and maps
    for ``picture`` (without one, a line saying to choose one). The warning about random
    weights goes into ``notices``, a container above the columns."""
    matched = features.matched_layers(names, stride)
    columns = st.columns(len(names))
    slots = {}
    for col, name in zip(columns, names):
        with col:
            # No link icon: beside a long name it wraps to a second line and misaligns them.
            st.subheader(name, anchor=False)
            slots[name] = (st.empty(), _layer_picker(name, stride, matched[name]),
                           st.container())
    if picture is None:
        st.info(_("Choose an image above (a sample, an upload or the camera) to see each "
                  "network's feature maps."))
    loaded = {}
    for name in names:
        badge, path, body = slots[name]
        with body:
            model = _load_network(name)
        if model is None:
            continue
        loaded[name] = model
        badge.caption(_weights_badge(model), help=weights.source_label(model))
        if picture is not None and path is not None:
            with body:
                _maps(name, model.source, path, picture, n_channels, scaling, digits)
    with notices:
        _random_warning(names, loaded, digits)


def _layer_picker(name: str, stride: int, matched: str) -> str | None:
    """The layer selectbox of one column (``matched``, the stage at ``stride``, first); None
    after an error when the layers cannot be listed."""
    try:
        with st.spinner(_("Reading the layers…")):
            options = list(_feature_maps(name))
    except Exception as exc:
        st.error(_("Could not list the layers of {model}: {error}").format(model=name,
                                                                           error=exc))
        return None
    if matched not in options:
        options.insert(0, matched)
    # One widget per (network, stride): moving the depth control resets every network to
    # its matched stage, and a choice made at another depth is kept for when you return.
    return st.selectbox(_("Layer"), options, index=options.index(matched),
                        key=f"compare_layer_{name}_{stride}",
                        format_func=lambda p, n=name: _layer_label(n, p))


def _maps(name: str, source: str, path: str, picture, n_channels: int, scaling: str,
          digits: bool = False) -> None:
    try:
        with st.spinner(_("Running the network…")):
            act = _activation(name, source, path, _image_key(picture), picture)
    except Exception as exc:  # a user can pick any layer: say what failed, never a traceback
        st.error(_("Could not compute {layer}: {error}").format(layer=f"{name}.{path}",
                                                               error=exc))
        return
    stats = features.layer_stats(act.activation)
    if source == "random":  # next to the maps themselves, not only in the badge above
        st.warning(_("Random weights: these maps show the untrained {name}, not features it "
                     "learned.").format(name=name), icon=":material/warning:")
    view = act.view
    if max(view.size) < 224:  # a 28×28 digit: enlarge in blocks first, so the heat map is smooth
        factor = -(-224 // max(view.size))  # and the pixels the network saw stay sharp
        view = view.resize((view.width * factor, view.height * factor), Image.NEAREST)
    caption = (_("Mean over channels, on the digit as the network saw it ({size}, after "
                 "MNIST-style preprocessing)").format(size=f"{act.view.width}×{act.view.height}")
               if digits else _("Mean over channels, on the crop the network saw"))
    st.image(features.channel_mean_overlay(view, act.activation), width="stretch",
             caption=caption)
    grid = features.channel_grid(act.activation, n=n_channels, scaling=scaling, cols=4)
    st.image(grid, width="stretch",
             caption=_("{shown} strongest of {total} channels (mean square activation), "
                       "#channel index").format(shown=min(n_channels, stats.shape[0]),
                                                total=stats.shape[0]))
    st.markdown(_("Open on the Channels page: {links}").format(links=" · ".join(
        f"[#{c}](channels?model={name}&layer={path}&channel={c})"
        for c in features.top_channels(act.activation, 4))))
    st.caption(_("**{shape}** · mean {mean} · std {std} · range {min} … {max} · {signs}").format(
        shape=" × ".join(map(str, stats.shape)), mean=f"{stats.mean:.3g}",
        std=f"{stats.std:.3g}", min=f"{stats.min:.3g}", max=f"{stats.max:.3g}",
        signs=features.sign_note(stats)))
    st.download_button(_("Download grid (PNG)"), features.to_png(grid),
                       file_name=f"{name}_{path}_top{n_channels}.png", mime="image/png",
                       key=f"compare_png_{name}", icon=":material/download:")


# --------------------------------------------------------------------------------------------
# CKA: the images, the run, the matrix


@st.cache_data(max_entries=4, show_spinner=False)  # spinner: translated, at the call
def _mnist_test_digits(root: str, first: int, count: int) -> list[Image.Image] | None:
    """``count`` real MNIST test digits from ``first`` on, or None when they are not there."""
    try:
        digits, _labels = load_mnist(root, train=False)
    except (MnistNotFoundError, OSError):
        return None
    return [Image.fromarray(a).convert("RGB") for a in digits[first:first + count].numpy()]


def cka_images(which: str, views: int, dataset: str = "imagenet"):
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
        counts.append((N_("{n} bundled digits") if digits else N_("{n} bundled photos"),
                       {"n": len(samples)}))
    if which in ("uploads", "both"):
        before = len(sources)
        files = st.session_state.get(key("cka_uploads", dataset)) or []
        for name, image in decoded_once(key("cka_uploads", dataset), files):  # once per file
            if isinstance(image, str):
                st.error(_("{file} is left out: {error}").format(file=name, error=image))
                continue
            sources.append(image)
        counts.append((N_("{n} uploaded"), {"n": len(sources) - before}))
    root = mnist_test_root() if digits else None
    with st.spinner(_("Reading MNIST test images…")):
        extra = (_mnist_test_digits(root, MNIST_TEST_FIRST, MNIST_CKA_TOTAL - len(sources))
                 if root and len(sources) < MNIST_CKA_TOTAL else None)
    if extra:
        counts.append((N_("{n} MNIST test images (test set {first}…{last}, from the local copy "
                          "in {root})"), {"n": len(extra), "first": MNIST_TEST_FIRST,
                                         "last": MNIST_TEST_FIRST + len(extra) - 1,
                                         "root": root}))
        views = 1
    n = (len(sources) + len(extra or [])) * views
    if n < 4:
        st.warning(_("CKA needs at least 4 images; this choice gives {n}. Upload more images "
                     "or add views per image.").format(n=n))
        return None, None
    # Kept as parts, not text: a stored result reads in whichever language is chosen later.
    return cka.ImageViews(sources + (extra or []), views), (n, counts, views)


def what_text(what) -> str:
    """"12 images: 4 bundled photos + 2 uploaded, × 2 views each" in the UI language."""
    if isinstance(what, str):
        return what
    n, counts, views = what
    text = " + ".join(_(msg).format(**kw) for msg, kw in counts)
    if views > 1:
        text += _(", × {views} views each").format(views=views)
    return _("{n} images: {what}").format(n=n, what=text)


def run_cka(net_a: str, net_b: str, cka_images, cka_what, batch_size: int,
            dataset: str) -> None:
    """Every stage of A against every stage of B over ``cka_images``, with a progress bar;
    both estimators go to ``st.session_state["cka_result"]``, or an error is shown."""
    pair = [net_a, net_b]
    layers = {n: features.stage_layers(n) for n in pair}
    bar = st.progress(0.0, text=_("Running the images through both networks…"))
    try:
        models = [get_model(n) for n in pair]
        acc = cka.cka_accumulate(
            models, list(layers[net_a].values()), list(layers[net_b].values()), cka_images,
            batch_size, device=inference.pick_device(),
            progress=lambda done, total: bar.progress(done / total,
                                                      text=_("{done} / {total} images")
                                                      .format(done=done, total=total)))
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
        st.error(_("CKA could not be computed: {error}").format(error=exc))


def _cka_chart(result: dict, debiased: bool) -> alt.Chart:
    matrix = result["debiased" if debiased else "biased"]
    rows = [{"A": la, "B": lb, "CKA": float(matrix[i, j])}
            for i, la in enumerate(result["labels_a"]) for j, lb in enumerate(result["labels_b"])]
    df = pd.DataFrame(rows)
    base = alt.Chart(df).encode(
        x=alt.X("B:N", sort=result["labels_b"], title=f"{result['b']} (B)",  # model names
                axis=alt.Axis(labelAngle=-40, labelOverlap=False, labelLimit=200)),
        y=alt.Y("A:N", sort=result["labels_a"], title=f"{result['a']} (A)",
                axis=alt.Axis(labelOverlap=False, labelLimit=200)),
        tooltip=[alt.Tooltip("A:N", title=_("{model} layer").format(model=result["a"])),
                 alt.Tooltip("B:N", title=_("{model} layer").format(model=result["b"])),
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


def cka_result(dataset: str, debiased: bool) -> None:
    """The last CKA result of this mode (not the other mode's networks): heading, matrix and
    what to read into it."""
    result = st.session_state.get("cka_result")
    if not result or result.get("dataset", "imagenet") != dataset:
        return
    st.subheader((_("{a} vs {b}, {n} images (debiased)") if debiased else
                  _("{a} vs {b}, {n} images")).format(a=result["a"], b=result["b"],
                                                      n=result["n"]))
    st.altair_chart(_cka_chart(result, debiased), width="content")
    notes = [_("Over {what}.").format(what=what_text(result["what"])),
             _("Rows: stages of A; columns: stages of B, by output stride. Hover for values.")]
    if result["a"] == result["b"]:
        notes.append(_("A network against itself: the diagonal is 1 by definition; how fast "
                       "similarity falls off the diagonal shows how much each stage changes "
                       "the representation."))
    if debiased:
        notes.append(_("Debiased: unbiased HSIC, so unrelated layers score near 0 even with "
                       "few images; values slightly below 0 are noise."))
    elif result["n"] < result["channels"]:
        notes.append(_("With {n} images and up to {channels} channels per layer, plain CKA is "
                       "pulled towards 1 for every pair; switch on the debiased estimator to "
                       "see which similarities are real.").format(n=result["n"],
                                                                  channels=result["channels"]))
    if result["random"]:
        notes.append(_("{models} had random weights: similarity then reflects architecture and "
                       "image statistics, not learning.").format(
            models=join(result["random"])))
    st.caption(" ".join(notes))
