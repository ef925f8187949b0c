"""The UI's languages (English, Simplified Chinese): one place that translates every string.

Usage everywhere a user-visible string is written (pages, ``explorer.ui``, and the core's
user-facing messages)::

    from explorer.i18n import _, N_

    st.title(_("Inference"))
    st.caption(_("Forward pass {ms:.1f} ms on {device}").format(ms=ms, device=dev))
    METHODS = {"saliency": N_("Saliency (gradient)")}   # marked at import time ...
    st.markdown(_(METHODS[m]))                          # ... translated when shown

Rules: whole sentences with *named* placeholders (never glue translated fragments together);
``N_`` marks strings defined at import time, ``_`` translates at the moment of display. Model
names, layer paths, code and units are not wrapped.

The current language lives in a context variable that the UI sets at the start of every script
run (each browser session runs in its own thread), so core code that calls ``_`` speaks the
language of the session it serves, and one session never changes another's.
"""
from __future__ import annotations

import contextvars

__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "_", "N_", "ngettext", "set_language",
           "get_language"]

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "explorer_language", default=DEFAULT_LANGUAGE)


def set_language(code: str) -> str:
    """Make ``code`` the language of this thread's context; unknown codes fall back to English."""
    code = code if code in LANGUAGES else DEFAULT_LANGUAGE
    _current.set(code)
    return code


def get_language() -> str:
    return _current.get()


def _(message: str) -> str:
    """``message`` (an English source string) in the current language."""
    return message  # catalogs: see issue 13


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (module-level constants)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural
