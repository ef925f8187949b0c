"""The one place that reads the URL's query parameters: each parser takes the raw text of a link and
returns ``(value, notice)``, a valid value and ``None``, or the default and a one-line notice.

Pure functions, no Streamlit: ``explorer.ui.query`` shows the notice and reads ``st.query_params``.
Anything a link can hold is accepted without an exception: missing, empty, repeated, huge,
negative, Unicode digits (``'²'.isdigit()`` is true but ``int('²')`` fails), control characters.
A notice quotes the bad value shortened and Markdown-escaped, so it can go straight into
``st.warning``.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from explorer.i18n import _, join

__all__ = ["parse_int", "parse_choice", "parse_model", "parse_list", "shown", "MAX_SHOWN"]

MAX_SHOWN = 40  # characters of a bad value quoted back to the user
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)  # ASCII digits only
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def _text(raw: object) -> str | None:
    """The raw value as one stripped string; a repeated parameter counts by its last value."""
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else None
    if raw is None:
        return None
    return str(raw).strip()


def shown(raw: object) -> str:
    """``raw`` fit to quote in a one-line Markdown notice: printable, at most MAX_SHOWN
    characters, Markdown and LaTeX characters escaped."""
    text = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else "\N{REPLACEMENT CHARACTER}"
                   for ch in str(raw))
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN - 1] + "…"
    return "“" + _MARKDOWN.sub(r"\\\1", text) + "”"


def parse_int(raw: object, default: int, lo: int, hi: int,
              param: str = "") -> tuple[int, str | None]:
    """An integer in ``lo…hi`` written with ASCII digits; else ``default`` and a notice."""
    text = _text(raw)
    if text is None or text == "":
        return default, None
    if _INT.fullmatch(text):
        # int() of thousands of digits is slow (and refused past 4300): long means out of range.
        value = int(text) if len(text) <= 19 else None
        if value is not None and lo <= value <= hi:
            return value, None
        return default, _("The link's {param}={value} is outside {lo}…{hi}; showing {default} "
                          "instead.").format(param=param, value=shown(text), lo=lo, hi=hi,
                                             default=default)
    return default, _("The link's {param}={value} is not a whole number; showing {default} "
                      "instead.").format(param=param, value=shown(text), default=default)


def parse_choice(raw: object, options: Iterable[str], default: str,
                 param: str = "") -> tuple[str, str | None]:
    """One of ``options`` (exact match); else ``default`` and a notice listing the choices."""
    options = list(options)
    text = _text(raw)
    if text is None or text == "":
        return default, None
    if text in options:
        return text, None
    listed = join(options) if len(options) <= 8 else join(options[:8]) + ", …"
    return default, _("The link's {param}={value} is not one of {options}; showing {default} "
                      "instead.").format(param=param, value=shown(text), options=listed,
                                         default=default)


def parse_model(raw: object, options: Iterable[str], default: str,
                param: str = "model") -> tuple[str, str | None]:
    """A model name the explorer has; else ``default`` and a notice."""
    options = list(options)
    text = _text(raw)
    if text is None or text == "":
        return default, None
    if text in options:
        return text, None
    return default, _("The link names the model {value}, which the explorer does not have "
                      "here; showing {default} instead.").format(value=shown(text),
                                                                default=default)


def parse_list(raw: object, options: Sequence[str], default: Sequence[str], lo: int = 1,
               hi: int | None = None, param: str = "") -> tuple[list[str], str | None]:
    """A comma-separated list of ``options``: unknown names dropped, repeats kept once (in order
    of first appearance), and ``default`` when fewer than ``lo`` or more than ``hi`` remain.
    The notice says everything that was changed, one sentence per kind of problem."""
    text = _text(raw)
    if text is None or text == "":
        return list(default), None
    names, unknown, repeated = [], [], []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part not in options:
            if part not in unknown:
                unknown.append(part)
        elif part in names:
            if part not in repeated:
                repeated.append(part)
        else:
            names.append(part)
    notes = []
    if unknown:
        notes.append(_("The link's {param} names {values}, which the explorer does not have "
                       "here; left out.").format(param=param,
                                                 values=join(shown(u) for u in unknown[:4])))
    if repeated:
        notes.append(_("The link's {param} repeats {values}; each is shown once.").format(
            param=param, values=join(shown(r) for r in repeated[:4])))
    top = len(options) if hi is None else hi
    if not lo <= len(names) <= top:
        notes.append(_("The link's {param} needs {lo} to {hi} known names and has {n}; showing "
                       "{default} instead.").format(param=param, lo=lo, hi=top, n=len(names),
                                                    default=join(default)))
        names = list(default)
    return names, (" ".join(notes) or None)
