"""Inference: put an image through a CNN, see its top guesses, and ask which pixels drove them."""
import hashlib

import altair as alt
import pandas as pd
import streamlit as st

from explorer.i18n import _
from explorer.ui import warmup
from explorer.ui.checkpoint import checkpoint_uploader
from explorer.ui.widgets import image_input, model_picker
from explorer.ui.router import through_router

through_router()

CHECKPOINT_TYPES = ["pt", "pth", "bin", "ckpt", "safetensors"]
DEFAULT_METHODS = ["saliency", "gradcam"]


def _sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Weights


def _uploaded_model(name: str):
    upload = checkpoint_uploader(name, key=f"inference_ckpt_{name}")  # size and limit first
    if upload is None:
        st.info(_("Upload a checkpoint for {model} (the state dict of this architecture).")
                .format(model=name))
        return None
    data = upload.getvalue()
    key = (name, _sha(data))
    cache = st.session_state.setdefault("inference_uploaded", {})
    if key not in cache:
        try:
            loaded = weights.load_model(name, "upload", checkpoint=data)
        except weights.WeightsError as exc:
            st.error(_("Could not use {file}: {error}").format(file=upload.name, error=exc))
            return None
        cache.clear()  # keep one uploaded model per session
        cache[key] = loaded
    return cache[key]


def _load(name: str, source: str):
    """The LoadedModel, or None after an st.error that says what to do."""
    if source == "upload":
        return _uploaded_model(name)
    if source == "session":
        return session_model(name)
    # "auto" downloads torchvision's weights with progress when it can; random gets a warning.
    return model_for_page(name, source, key="inference")


# --------------------------------------------------------------------------------------------
# Sections


def _prediction_chart(pred) -> alt.Chart:
    df = pd.DataFrame({"class": [f"{n} (#{i})" for n, i in zip(pred.names, pred.indices)],
                       "probability": pred.probabilities})
    bars = alt.Chart(df).mark_bar(color="#3182bd").encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title=_("probability")),
        # An explicit order (the top-k come sorted): sort="-x" in both layers made Vega warn
        # "conflicting sort properties" on every visit.
        y=alt.Y("class:N", sort=list(df["class"]), title=None),
        tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
    )
    text = bars.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".1%"))
    return (bars + text).properties(height=32 * len(df) + 20)


def _attribution_section(loaded, x, view, pred, model_key, image_key) -> None:
    st.subheader(_("Why? Attribution maps"))
    st.caption(_("Which input pixels move the chosen class's score. Gradient methods are fast; "
                 "Occlusion re-runs the network once per covered patch."))
    methods = st.multiselect(_("Methods (shown side by side)"), list(attribution.METHODS),
                             default=DEFAULT_METHODS,
                             format_func=lambda m: _(attribution.METHODS[m]),
                             key="inference_methods")
    c1, c2, c3 = st.columns([2, 2, 1])
    options = [-1] + list(range(len(loaded.categories)))
    choice = c1.selectbox(
        _("Explain class"), options, key="inference_target",
        format_func=lambda i: (_("Predicted: {name} (#{index})").format(
            name=pred.names[0], index=pred.indices[0]) if i == -1
            else f"#{i} {loaded.categories[i]}"))
    target = pred.indices[0] if choice == -1 else int(choice)
    layer = None
    if {"gradcam", "guided_gradcam"} & set(methods):
        layer = c2.selectbox(_("Grad-CAM layer"), attribution.gradcam_layers(loaded),
                             key=f"inference_layer_{loaded.name}",
                             help=_("Default: the model's last feature block. Any convolution "
                                    "layer can be chosen; earlier layers give finer, noisier "
                                    "maps."))
    opacity = c3.slider(_("Overlay opacity"), 0.0, 1.0, 0.5, 0.05, key="inference_opacity")
    if not methods:
        st.info(_("Choose one or more methods above."))
        return

    # Every column is drawn at once with its cost, then filled in one by one (explorer.ui.maps).
    results = maps.draw_maps(loaded, x, view, methods, target, layer, opacity, model_key,
                             image_key, pred.latency_ms / 1000, inference.pick_device().type)
    if results:
        # Deletion and insertion for every map, with baselines, are part of the trust checks.
        from explorer.ui.trust import trust_sections  # sanity checks, faithfulness, CAMs by depth

        trust_sections(loaded, x, view, pred, methods, target, layer, results, model_key,
                       image_key, opacity)


# --------------------------------------------------------------------------------------------
# The page

st.title(_("Inference"))
st.caption(_("Classify your own image with a classic CNN, see the top guesses, and ask which "
             "pixels drove them."))

left, right = st.columns([1, 2], gap="large")
with left:
    name = model_picker("inference_model", default="efficientnet_lite0", query_param="model")
    warmup.wait()  # the title and the model picker are drawn: now what needs torch
    from explorer import attribution, inference, weights, zoo  # noqa: E402
    from explorer.ui import maps  # noqa: E402
    from explorer.ui.models import available_sources, model_for_page, session_model  # noqa: E402

    spec = zoo.get_spec(name)
    # A model just trained on the Train page comes first: that is what the user came to try.
    trained_here = ["session"] if session_model(name) is not None else []
    sources = trained_here + ["auto"] + available_sources(name) + ["upload"]
    source = st.selectbox(_("Weights"), sources, key=f"inference_source_{name}",
                          format_func=lambda s: weights.describe_source(name, s))
    loaded = _load(name, source)
    if loaded is not None:
        if not loaded.is_random:  # random weights got model_for_page's warning just above
            st.caption(_("**Weights:** {label}").format(label=weights.source_label(loaded)))
    picked = image_input("inference_image", digits=spec.dataset == "mnist")
    topk = st.slider(_("Top-k"), 1, 10, 5, key="inference_topk")

with right:
    if loaded is None:
        st.info(_("Choose weights that load (see the message on the left) to classify an "
                  "image."))
    elif picked is None:
        st.info(_("Choose an image on the left: a sample, an upload or the camera."))
    else:
        image, image_label = picked
        x = loaded.preprocess(image)
        view = inference.tensor_to_image(x, loaded.preprocess)
        pred = inference.predict(loaded, x, topk=topk)
        if pred.notice:
            st.warning(pred.notice)
        c1, c2 = st.columns([1, 1])
        c1.image(image, caption=f"{image_label} ({image.width}×{image.height})", width="stretch")
        c2.image(view, width="stretch",
                 caption=_("What the network sees: {shape} tensor — {preprocessing}").format(
                     shape=" × ".join(map(str, x.shape)), preprocessing=loaded.preprocess.describe))
        if loaded.is_random:  # never let a random network's guess read like a result
            st.subheader(_("Random weights: this guess is meaningless ({guess}, {p:.1%})")
                         .format(guess=pred.names[0], p=pred.probabilities[0]))
        else:
            st.subheader(_("Prediction: {guess} ({p:.1%})").format(guess=pred.names[0],
                                                                   p=pred.probabilities[0]))
        st.altair_chart(_prediction_chart(pred), width="stretch")
        st.caption((_("Forward pass {ms:.1f} ms on **{device}** · classes from the weights' "
                      "metadata") if loaded.source == "torchvision" else
                    _("Forward pass {ms:.1f} ms on **{device}** · classes from {dataset} "
                      "metadata")).format(ms=pred.latency_ms, device=pred.device,
                                          dataset=spec.dataset))

if loaded is not None and picked is not None:
    model_key = (name, loaded.source, id(loaded.model))
    image_key = hashlib.sha1(picked[0].tobytes()).hexdigest()
    _attribution_section(loaded, x, view, pred, model_key, image_key)
