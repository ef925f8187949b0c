"""Models shared by every browser session, cached once per process.

A model from here is read-only: never call ``.train()``, ``.to()`` or ``.half()`` on it, never
leave a hook on it, never write ``.grad`` (see STYLE.md). The core functions that hook or
differentiate work on per-call state and clean up in ``finally``.
"""
from __future__ import annotations

import streamlit as st

from explorer import weights, zoo
from explorer.i18n import _, get_language

OFFLINE_KEY = "weights_offline"  # per session: why the download host could not be reached
FAILED_KEY = "weights_failed"  # per session: {model: why its download failed otherwise}


@st.cache_resource(max_entries=8, show_spinner=False)
def _cached_model(name: str, source: str) -> "weights.LoadedModel":
    return weights.load_model(name, source)


def get_model(name: str, source: str = "auto") -> "weights.LoadedModel":
    """The model ``name`` with weights from ``source`` (see ``explorer.weights.load_model``).

    "auto" is resolved before the cache, to the best weights on this machine *now* (a
    torchvision file downloaded since counts), so the cache never pins an old random answer.
    Downloads nothing: pages use :func:`model_for_page`, which may.
    """
    if source == "auto":
        source = weights.auto_source(name)
    with st.spinner(_("Loading the model…")):
        return _cached_model(name, source)


def _retry() -> None:
    st.session_state.pop(OFFLINE_KEY, None)
    st.session_state.pop(FAILED_KEY, None)


def _failed(name: str) -> str | None:
    return st.session_state.get(FAILED_KEY, {}).get(name)


def offline_reason() -> str | None:
    """Why this session found the download host unreachable, or None (not tried, or online)."""
    return st.session_state.get(OFFLINE_KEY)


def download_with_progress(name: str, key: str) -> bool:
    """Download ``name``'s torchvision file into torch hub's cache with a progress bar (MB).

    Leaving the page stops it (Streamlit stops the script at the next progress update; the
    partial file is removed). An unreachable host is found within a few seconds and remembered
    for the session (see :func:`offline_reason`). Returns True when the file is cached.
    """
    if weights.torchvision_cached(name):
        return True
    spec = zoo.get_spec(name)
    size = weights.tv_weights(spec).meta.get("_file_size")
    bar = st.progress(0.0, text=_("Connecting to download the weights of {name}…").format(name=name))

    def progress(done: int, total: int | None) -> None:
        total_mb = total / 2**20 if total else size
        if total_mb:
            bar.progress(min(done / 2**20 / total_mb, 1.0),
                         text=_("Downloading the pretrained weights of {name}: {done:.0f} of "
                                "{total:.0f} MB (leave the page to cancel)").format(
                             name=name, done=done / 2**20, total=total_mb))
        else:
            bar.progress(0.5, text=_("Downloading the pretrained weights of {name}: {done:.0f} "
                                     "MB").format(name=name, done=done / 2**20))

    try:
        weights.download_torchvision_weights(name, progress=progress)
    except weights.WeightsError as exc:
        bar.empty()
        if "no network" in str(exc):
            st.session_state[OFFLINE_KEY] = str(exc)
        else:  # e.g. a corrupt file: said once, not downloaded again on every run
            st.session_state.setdefault(FAILED_KEY, {})[name] = str(exc)
            st.error(str(exc))
        return False
    bar.empty()
    return True


def retry_button(key: str) -> None:
    """When this session found the network unreachable (or a download failed): a button to
    try downloads again."""
    if offline_reason() is not None or st.session_state.get(FAILED_KEY):
        st.button(_("Try the download again"), key=f"{key}_retry", on_click=_retry,
                  help=offline_reason(), icon=":material/refresh:")


def random_banner(name: str, key: str, reason: str | None = None) -> None:
    """The warning a page shows whenever ``name`` runs with random weights."""
    offline = offline_reason()
    if reason:
        text = reason
    elif _failed(name):
        text = _("Random weights: the download of {name}'s pretrained weights failed, so "
                 "everything it shows is the untrained architecture, not learned features."
                 ).format(name=name)
    elif offline and zoo.get_spec(name).tv_weights:
        text = _("Random weights: {name}'s pretrained weights could not be downloaded (no "
                 "network), so everything it shows is the untrained architecture, not learned "
                 "features.").format(name=name)
    else:
        text = _("Random weights: {name} has no pretrained weights on this machine, so "
                 "everything it shows is the untrained architecture, not learned features."
                 ).format(name=name)
    st.warning(text, icon=":material/warning:")
    if zoo.get_spec(name).tv_weights:
        retry_button(f"{key}_{name}")


def model_for_page(name: str, source: str = "auto", key: str = "model",
                   banner: bool = True) -> "weights.LoadedModel | None":
    """The model a page should run, drawing what the user must know on the way.

    "auto" is the best the user can have: packaged or trained weights; torchvision's
    pretrained weights when cached, else downloaded now with a progress bar when the network
    is reachable (found out within ~3 s and remembered for the session, with a retry button);
    only then random weights, with a warning (``banner``). An explicit ``source`` is loaded as
    asked ("torchvision" downloads the same way). Returns None after an ``st.error`` when the
    asked-for weights cannot be loaded.
    """
    try:
        if source == "auto":
            source = weights.auto_source(name)
            if source == "random" and zoo.get_spec(name).tv_weights \
                    and offline_reason() is None and _failed(name) is None \
                    and download_with_progress(name, key):
                st.rerun()  # from the top: the sidebar and the page then count the new file
        elif source == "torchvision" and not weights.torchvision_cached(name):
            if offline_reason() is not None or not download_with_progress(name, key):
                if offline_reason() is not None:  # other failures were shown as they happened
                    st.error(offline_reason())
                    retry_button(f"{key}_{name}")
                return None
            st.rerun()
        loaded = _cached_model(name, source)
    except weights.WeightsError as exc:
        st.error(str(exc))
        return None
    if banner and loaded.is_random:
        random_banner(name, key)
    return loaded


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
    key = (name, id(entry["state_dict"]), get_language())  # the label is in the UI language
    if key not in cache:
        from explorer import train

        card = entry.get("card") or {}
        acc = card.get("test_accuracy")
        label = (_("Trained in this session on the Train page ({epochs} epochs, test accuracy "
                   "{accuracy} %)").format(epochs=card.get("epochs_completed", "?"),
                                           accuracy=f"{acc:.2f}")
                 if acc is not None else _("Trained in this session on the Train page"))
        model = train.model_from_state_dict(name, entry["state_dict"])
        cache.clear()
        cache[key] = weights.wrap_model(name, model, label=label)
    return cache[key]
