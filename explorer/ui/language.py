"""The UI language of this browser session: chosen in the sidebar, kept in the URL (?lang=zh)
and the session, first guessed from the browser; applied at the start of every script run."""
from __future__ import annotations

import streamlit as st

from explorer.i18n import LANGUAGES, language_from_locale, set_language
from explorer.data.query import parse_choice

KEY = "ui_language"  # session-state key of the sidebar's switch
_DRAWN = "ui_language_drawn"  # the language the previous run was drawn in
NOTICE = "ui_language_link_notice"  # a bad ?lang= in the link, said once in the sidebar


def browser_language() -> str:
    """The browser's preferred language if the UI speaks it (``st.context.locale``, else the
    Accept-Language header), otherwise English."""
    try:
        wanted = st.context.locale or st.context.headers.get("Accept-Language")
    except Exception:  # no browser context (a bare script run)
        wanted = None
    return language_from_locale(wanted)


def apply_language() -> str:
    """Set this run's language (before anything is drawn) and keep it in the URL."""
    if KEY not in st.session_state:
        # Parsed where every link parameter is (explorer.query); the notice waits for the
        # sidebar, since nothing may be drawn before the page is configured.
        lang, notice = parse_choice(st.query_params.get_all("lang"), LANGUAGES,
                                    browser_language(), param="lang")
        st.session_state[KEY] = lang
        if notice:
            st.session_state[NOTICE] = notice
    lang = set_language(st.session_state[KEY])
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    if st.session_state.get(_DRAWN, lang) != lang:
        _resend_choices()
    st.session_state[_DRAWN] = lang
    return lang


def _resend_choices() -> None:
    """After a language switch, hand every keyed choice widget (radio, selectbox, multiselect,
    select slider) its value again. The browser remembers a choice by its label: with the
    labels now in the other language a radio would show no choice and a selectbox the old
    label, until the next click sent that stale label back. Assigning the value through
    session state makes Streamlit send it to the browser with the new labels."""
    try:  # Streamlit's widget bookkeeping (1.4x-1.6x); if it moves, only the display lags
        from streamlit.runtime.state.session_state_proxy import get_session_state

        state = get_session_state()._state
        metadata = state._new_widget_state.widget_metadata
        keys = list(state._key_id_mapper._key_id_mapping.items())
    except Exception:
        return
    for key, widget_id in keys:
        meta = metadata.get(widget_id)
        if meta is None or meta.value_type not in ("string_value", "string_array_value"):
            continue
        try:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]
        except Exception:  # a widget Streamlit does not let us set: leave it
            continue


def language_switch() -> str:
    """English / 简体中文, in both languages' words so either reader finds it. Widgets keep their
    state through a switch (they are keyed; their options are codes shown translated)."""
    choice = st.radio("Language · 语言", list(LANGUAGES), key=KEY, format_func=LANGUAGES.get,
                      horizontal=True)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.warning(notice, icon=":material/link_off:")
    return choice
