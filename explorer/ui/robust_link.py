"""From the Inference page to the Robustness page with the same network and the same image.

The Inference page draws :func:`attack_link` ("Attack this image"); a click keeps the image in
this browser session and opens the Robustness page with the model in the URL (as other
cross-page links pass their state). The Robustness page takes the image with
:func:`handed_over` until the user chooses another one. No torch here: pages import it before
anything heavy.
"""
from __future__ import annotations

import streamlit as st
from PIL import Image

from explorer.i18n import _

__all__ = ["HANDOFF", "attack_link", "handed_over"]

HANDOFF = "robust_handoff"  # session key: (PIL image, label) handed to the Robustness page
MODEL_KEY = "robust_model"  # the Robustness page's model picker


def attack_link(model: str, picked: tuple[Image.Image, str] | None, key: str) -> None:
    """The "Attack this image" button: the Robustness page with ``model`` and this image."""
    if picked is None:
        return
    if st.button(_("Attack this image"), key=key, icon=":material/shield:",
                 help=_("Open the Robustness page with this network and this image: "
                        "adversarial examples, the smallest ε that flips the prediction, "
                        "corruptions.")):
        st.session_state[HANDOFF] = picked
        st.session_state[MODEL_KEY] = model
        st.switch_page("pages/robustness.py", query_params={"model": model})


def _release() -> None:
    st.session_state.pop(HANDOFF, None)


def handed_over() -> tuple[Image.Image, str] | None:
    """The image the Inference page handed over, with a button to choose another instead."""
    picked = st.session_state.get(HANDOFF)
    if picked is None:
        return None
    st.caption(_("Image from the Inference page: {name}").format(name=picked[1]))
    st.button(_("Choose another image"), key="robust_handoff_release", on_click=_release,
              icon=":material/swap_horiz:")
    return picked
