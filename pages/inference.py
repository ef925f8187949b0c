"""Inference: put an image through a CNN, see its top guesses, and ask which pixels drove them."""
import hashlib

import streamlit as st

from explorer.i18n import _
from explorer.ui import warmup
from explorer.ui.router import through_router
from explorer.ui.widgets import image_input, model_picker
from explorer.ui.robust_link import attack_link

through_router()

st.title(_("Inference"))
st.caption(_("Classify your own image with a classic CNN, see the top guesses, and ask which "
             "pixels drove them."))

left, right = st.columns([1, 2], gap="large")
with left:
    name = model_picker("inference_model", default="efficientnet_lite0", query_param="model")
    warmup.wait()  # the title and the model picker are drawn: now what needs torch
    from explorer import inference, weights, zoo  # noqa: E402
    from explorer.ui import inference as ui  # noqa: E402
    from explorer.ui.models import available_sources, session_model  # noqa: E402

    spec = zoo.get_spec(name)
    # A model just trained on the Train page comes first: that is what the user came to try.
    trained_here = ["session"] if session_model(name) is not None else []
    sources = trained_here + ["auto"] + available_sources(name) + ["upload"]
    source = st.selectbox(_("Weights"), sources, key=f"inference_source_{name}",
                          format_func=lambda s: weights.describe_source(name, s))
    loaded = ui.load(name, source)
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
        pred = ui.localized(inference.predict(loaded, x, topk=topk), name)  # 中文 class names
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
        st.altair_chart(ui.prediction_chart(pred), width="stretch")
        attack_link(name, picked, key="inference_attack")  # to the Robustness page
        st.caption((_("Forward pass {ms:.1f} ms on **{device}** · classes from the weights' "
                      "metadata") if loaded.source == "torchvision" else
                    _("Forward pass {ms:.1f} ms on **{device}** · classes from {dataset} "
                      "metadata")).format(ms=pred.latency_ms, device=pred.device,
                                          dataset=spec.dataset))

if loaded is not None and picked is not None:
    model_key = (name, loaded.source, id(loaded.model))
    image_key = hashlib.sha1(picked[0].tobytes()).hexdigest()
    ui.attribution_section(loaded, x, view, pred, model_key, image_key)
