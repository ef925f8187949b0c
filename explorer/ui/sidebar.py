"""The sidebar every page shares: where the models run, and what the numbers mean."""
import streamlit as st

from explorer import inference


@st.cache_data(show_spinner=False)
def _device_text() -> str:
    return inference.device_info()


def sidebar() -> None:
    with st.sidebar:
        st.caption(f"**Device:** {_device_text()}")
        st.caption("MACs = multiply-accumulates of convolution and linear layers; "
                   "FLOPs = 2 × MACs.")
        st.caption("Weights: EfficientNet-Lite0 ships genuine ImageNet weights and the MNIST "
                   "models are trained here; torchvision's ImageNet weights download on first "
                   "use (internet needed), otherwise a model runs with random weights, "
                   "labelled as such.")
