"""The sidebar every page shares: where the models run, and what the numbers mean."""
import streamlit as st

from explorer import inference
from explorer.i18n import _, get_language
from explorer.ui import weights_status
from explorer.ui.language import language_switch


@st.cache_data(show_spinner=False)
def _device_text(lang: str) -> str:  # per language: the text is translated
    return inference.device_info()


def sidebar() -> None:
    with st.sidebar:
        language_switch()
        st.caption(_("**Device:** {device}").format(device=_device_text(get_language())))
        st.caption(_("MACs = multiply-accumulates of convolution and linear layers; "
                     "FLOPs = 2 × MACs."))
        weights_status.sidebar_line()
