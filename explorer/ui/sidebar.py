"""The sidebar every page shares: where the models run, and what the numbers mean."""
from typing import Callable

import streamlit as st

from explorer.i18n import _, get_language
from explorer.ui import warmup, weights_status
from explorer.ui.language import language_switch


@st.cache_data(show_spinner=False)
def _device_text(lang: str) -> str:  # per language: the text is translated
    from explorer import inference

    return inference.device_info()


def sidebar() -> Callable[[], None]:
    """Draw the sidebar; returns a function that fills in the lines needing PyTorch. Until
    PyTorch is loaded (a fresh server), app.py calls it after the page is drawn."""
    with st.sidebar:
        language_switch()
        device = st.empty()
        st.caption(_("MACs = multiply-accumulates of convolution and linear layers; "
                     "FLOPs = 2 × MACs."))
        weights_line = st.container()

    def finish() -> None:
        warmup.wait(spinner=False, hurry=False)
        device.caption(_("**Device:** {device}").format(device=_device_text(get_language())))
        with weights_line:
            weights_status.sidebar_line()

    if warmup.imported():
        finish()
        return lambda: None
    device.caption(_("**Device:** starting PyTorch…"))
    return finish
