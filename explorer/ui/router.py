"""Keep every page behind app.py's router, also for a deep link opened first.

Streamlit treats a folder named ``pages/`` beside the main script as a version-1 multipage app
until the main script's ``st.navigation`` has run once in the server process. Until then a first
request straight to ``/blocks`` runs ``pages/blocks.py`` on its own: no router, no shared sidebar,
no wide layout, file names as navigation. Every page calls :func:`through_router` first; in that
one situation it switches Streamlit to app.py's navigation and reruns, so app.py takes over and
opens the same page (its ``url_path`` is the file's stem, the name version 1 would use).
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def through_router() -> None:
    if PagesManager.uses_pages_directory:
        # The same assignment st.navigation makes on its first call.
        PagesManager.uses_pages_directory = False
        st.rerun()
