"""CNN Explorer: `streamlit run app.py`. The router: page config, navigation, shared sidebar."""
import streamlit as st

from explorer.ui.sidebar import sidebar

st.set_page_config(page_title="CNN Explorer", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:",
            url_path="overview", default=True),
    st.Page("pages/architecture.py", title="Architecture", icon=":material/account_tree:",
            url_path="architecture"),
    st.Page("pages/blocks.py", title="Blocks", icon=":material/view_in_ar:", url_path="blocks"),
    st.Page("pages/inference.py", title="Inference & saliency", icon=":material/image_search:",
            url_path="inference"),
    st.Page("pages/compare.py", title="Compare networks", icon=":material/compare:",
            url_path="compare"),
    st.Page("pages/train.py", title="Train on MNIST", icon=":material/model_training:",
            url_path="train"),
]

page = st.navigation(PAGES)
sidebar()
page.run()
