"""The Inference page's helpers: the weights to use (an uploaded checkpoint kept per session),
the prediction chart, and the attribution section (maps, then the checks of those maps)."""
from __future__ import annotations

import dataclasses
import hashlib

import altair as alt
import pandas as pd
import streamlit as st

from explorer import attribution, inference, weights, zoo
from explorer.i18n import _
from explorer.ui import maps
from explorer.ui.checkpoint import checkpoint_uploader
from explorer.ui.models import model_for_page, session_model
from explorer.ui.trust import trust_sections  # sanity checks, faithfulness, CAMs by depth

__all__ = ["DEFAULT_METHODS", "load", "localized", "prediction_chart", "attribution_section"]

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


def load(name: str, source: str):
    """The LoadedModel, or None after an st.error that says what to do."""
    if source == "upload":
        return _uploaded_model(name)
    if source == "session":
        return session_model(name)
    # "auto" downloads torchvision's weights with progress when it can; random gets a warning.
    return model_for_page(name, source, key="inference")


# --------------------------------------------------------------------------------------------
# Sections


def localized(pred, model: str):
    """``pred`` with its class names as the UI says them ("埃及猫（Egyptian cat）" in Chinese)."""
    return dataclasses.replace(pred, names=[zoo.class_label(model, i, n)
                                            for i, n in zip(pred.indices, pred.names)])


def prediction_chart(pred) -> alt.Chart:
    """The top-k classes as bars with their probabilities, in the order of the prediction."""
    df = pd.DataFrame({"class": [_("{name} (#{index})").format(name=n, index=i)
                                 for n, i in zip(pred.names, pred.indices)],
                       "probability": pred.probabilities})
    bars = alt.Chart(df).mark_bar(color="#3182bd").encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title=_("probability")),
        # An explicit order (the top-k come sorted): sort="-x" in both layers made Vega warn
        # "conflicting sort properties" on every visit.
        y=alt.Y("class:N", sort=list(df["class"]), title=None,
                axis=alt.Axis(labelLimit=320)),  # "埃及猫（Egyptian cat）（#285）" in full
        tooltip=[alt.Tooltip("class:N", title=_("class")),
                 alt.Tooltip("probability:Q", format=".2%", title=_("probability"))],
    )
    text = bars.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".1%"))
    return (bars + text).properties(height=32 * len(df) + 20)


def attribution_section(loaded, x, view, pred, model_key, image_key) -> None:
    """Why? The chosen methods' maps side by side (filled in one by one), then the trust
    checks of those maps."""
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
            else f"#{i} {zoo.class_label(loaded.name, i, loaded.categories[i])}"))
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
        trust_sections(loaded, x, view, pred, methods, target, layer, results, model_key,
                       image_key, opacity)
