"""Models shared by every browser session, cached once per process.

A model from here is read-only: never call ``.train()``, ``.to()`` or ``.half()`` on it, never
leave a hook on it, never write ``.grad`` (see STYLE.md). The core functions that hook or
differentiate work on per-call state and clean up in ``finally``.
"""
from __future__ import annotations

import streamlit as st

from explorer import weights


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def get_model(name: str, source: str = "auto") -> "weights.LoadedModel":
    """The model ``name`` with weights from ``source`` (see ``explorer.weights.load_model``)."""
    return weights.load_model(name, source)


@st.cache_data(max_entries=32, show_spinner=False)
def available_sources(name: str) -> list[str]:
    return weights.available_sources(name)
