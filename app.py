"""CNN Explorer: `streamlit run app.py`. The router: page config, navigation, shared sidebar."""
import streamlit as st

from explorer.i18n import _
from explorer.ui.language import apply_language
from explorer.ui import warmup
from explorer.ui.sidebar import sidebar

st.set_page_config(page_title="CNN Explorer", page_icon="🧠", layout="wide")
apply_language()  # before any text: every string below and in the page is in this language

PAGES = [
    st.Page("pages/overview.py", title=_("Overview"), icon=":material/home:",
            url_path="overview", default=True),
    st.Page("pages/architecture.py", title=_("Architecture"), icon=":material/account_tree:",
            url_path="architecture"),
    st.Page("pages/blocks.py", title=_("Blocks"), icon=":material/view_in_ar:", url_path="blocks"),
    st.Page("pages/inference.py", title=_("Inference & saliency"), icon=":material/image_search:",
            url_path="inference"),
    st.Page("pages/robustness.py", title=_("Robustness"), icon=":material/shield:",
            url_path="robustness"),
    st.Page("pages/compare.py", title=_("Compare networks"), icon=":material/compare:",
            url_path="compare"),
    st.Page("pages/channels.py", title=_("Channels"), icon=":material/grid_view:", url_path="channels"),
    st.Page("pages/train.py", title=_("Train on MNIST"), icon=":material/model_training:",
            url_path="train"),
    st.Page("pages/weights.py", title=_("Weights"), icon=":material/download:", url_path="weights"),
]

page = st.navigation(PAGES)
finish_sidebar = sidebar()
try:
    page.run()
finally:  # also after a page's st.stop()
    warmup.start(warmup.FLUSH_DELAY)  # once per server: torch and the default models load
    # while the user reads (after the page's elements have gone out)
    finish_sidebar()  # the sidebar lines that need torch, drawn after the page
