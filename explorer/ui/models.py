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


TRAINED_KEY = "trained_models"  # the Train page stores {name: {"state_dict", "card"}} here


def session_model(name: str) -> "weights.LoadedModel | None":
    """The model trained on the Train page in this browser session, or None.

    Per session, never shared: it lives in ``st.session_state`` and is wrapped once per
    training run (a new run replaces the entry, and with it the wrapped model).
    """
    entry = st.session_state.get(TRAINED_KEY, {}).get(name)
    if entry is None:
        return None
    cache = st.session_state.setdefault("session_models_wrapped", {})
    key = (name, id(entry["state_dict"]))
    if key not in cache:
        from explorer import train

        card = entry.get("card") or {}
        acc = card.get("test_accuracy")
        label = "Trained in this session on the Train page" + (
            f" ({card.get('epochs_completed', '?')} epochs, test accuracy {acc:.2f} %)"
            if acc is not None else "")
        model = train.model_from_state_dict(name, entry["state_dict"])
        cache.clear()
        cache[key] = weights.wrap_model(name, model, label=label)
    return cache[key]
