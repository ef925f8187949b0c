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
import gettext as _gettext
from functools import lru_cache
from pathlib import Path

__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "_", "N_", "ngettext", "set_language",
           "get_language", "language_from_locale", "format_int", "format_exact", "format_count",
           "format_si", "format_short", "format_yi", "join", "vega_count_expr", "WORD_JOINER"]

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


LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@lru_cache(maxsize=None)
def _translations(code: str) -> _gettext.NullTranslations:
    """The compiled catalog ``locale/<code>/LC_MESSAGES/messages.mo`` (English: none needed).
    Built from the .po by ``python -m explorer.i18n update``; a missing string stays English."""
    if code == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    return _gettext.translation("messages", LOCALE_DIR, languages=[code], fallback=True)


def language_from_locale(locale: str | None) -> str:
    """The UI language for a browser locale or Accept-Language header ("zh-CN",
    "zh-Hans-CN,zh;q=0.9,en;q=0.8"): the first listed language the UI speaks, else English."""
    for part in (locale or "").split(","):
        code = part.split(";")[0].strip().lower().replace("_", "-").split("-")[0]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def _(message: str) -> str:
    """``message`` (an English source string) in the current language."""
    return _translations(_current.get()).gettext(message)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (module-level constants)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(_current.get()).ngettext(singular, plural, n)


def format_int(n: int | float) -> str:
    """An exact count with thousands separators: 138,357,544 (the same in both languages)."""
    return f"{int(round(n)):,}"


WORD_JOINER = "\u2060"  # invisible; forbids a line break between a digit and 万/亿


def format_exact(n: int | float) -> str:
    """An exact count for running text: "25,557,032" in English; in Chinese with its 万/亿 reading
    beside it, as the notes write their figures: "25,557,032（2556万）". The reading stays on one
    line (a browser may break between "2556" and "万"; a word joiner forbids it)."""
    exact = format_int(n)
    if _current.get() != "zh" or abs(n) < 1e4:
        return exact
    reading = format_count(n)
    return f"{exact}（{reading[:-1]}{WORD_JOINER}{reading[-1]}）"


def format_count(n: int | float, digits: int = 3) -> str:
    """A large count made readable: "138.4 M" / "1.2 G" in English, 万/亿 in Chinese as the
    course notes write them ("1.2亿" multiplications, "1.38亿" parameters).  Below 10,000 the
    exact number."""
    n = float(n)
    if abs(n) < 1e4:
        return format_int(n)
    if _current.get() == "zh":
        unit, scale = ("亿", 1e8) if abs(n) >= 1e8 else ("万", 1e4)
        return f"{_significant(n / scale, digits)}{unit}"
    unit, scale = next((u, s) for u, s in (("G", 1e9), ("M", 1e6), ("k", 1e3)) if abs(n) >= s)
    return f"{_significant(n / scale, digits)} {unit}"


def format_si(n: int | float, spec: str = ".3g") -> str:
    """A count with a k/M/G prefix and no space, the same in every language, for text tables and
    diagrams: ``format_si(4_089_184_000, ".2f")`` -> "4.09G", ``format_si(416_520)`` -> "417k".
    Below 1,000 the whole number."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:{spec}}{unit}"
    return str(int(n))


def format_short(n: int | float) -> str:
    """A compact count for diagrams and tight labels: ``format_si`` ("6.62M", "1.5G") in English,
    the notes' 万/亿 in Chinese ("662万", "15亿"); below 10,000 the whole number in Chinese."""
    if _current.get() == "zh":
        return format_count(n)
    return format_si(n)


def format_yi(n: int | float) -> str:
    """A count in 亿 (10⁸) in every language, as note 000 writes its figures: "1.2亿", "0.12亿"
    in Chinese (no space, as the notes write it), "1.2 亿" inside English text."""
    text = f"{n / 1e8:.2g}"
    return f"{text}亿" if _current.get() == "zh" else f"{text} 亿"


def join(items) -> str:
    """Items of a list in running text: "a, b, c" in English, "a、b、c" in Chinese (the
    enumeration comma, never ASCII ", " between items of a Chinese sentence)."""
    return ("、" if _current.get() == "zh" else ", ").join(str(i) for i in items)


def vega_count_expr(scale: float = 1.0, field: str = "datum.value") -> str:
    """A Vega expression (an altair ``labelExpr``) that writes an axis tick ``field × scale`` the
    way :func:`format_count` does in the current language: 万/亿 in Chinese ("500万", "1亿",
    "1.5亿"), k/M/G in English ("5M", "100M", "1.5G"); below 10,000 the number itself."""
    v = f"({field} * {scale!r})" if scale != 1 else field
    if _current.get() == "zh":
        return (f"abs({v}) >= 1e8 ? format({v} / 1e8, '.3~r') + '亿' : "
                f"abs({v}) >= 1e4 ? format({v} / 1e4, '.3~r') + '万' : format({v}, ',.3~r')")
    return (f"abs({v}) >= 1e9 ? format({v} / 1e9, '.3~r') + 'G' : "
            f"abs({v}) >= 1e6 ? format({v} / 1e6, '.3~r') + 'M' : "
            f"abs({v}) >= 1e3 ? format({v} / 1e3, '.3~r') + 'k' : format({v}, '.3~r')")


def _significant(x: float, digits: int) -> str:
    """``x`` to ``digits`` significant figures, never in exponent form: 1244, 12.4, 1.38."""
    whole = len(str(int(abs(x)))) if abs(x) >= 1 else 1
    text = f"{x:.{max(0, digits - whole)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
