"""The pages' access to the URL's query parameters: ``explorer.query`` parses, this shows the notice.

Each function reads ``st.query_params[param]`` (the last value when a link repeats it), parses
it with the matching ``explorer.query`` function and, when the link's value was bad, shows the
one-line notice with ``st.warning`` and returns the fallback. Pages read a parameter when they
initialise a widget's session state (the first run), so the notice appears once per visit.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import streamlit as st

from explorer.data import query


def _raw(param: str) -> str | None:
    values = st.query_params.get_all(param)
    return values[-1] if values else None


def _notify(result):
    value, notice = result
    if notice:
        st.warning(notice, icon=":material/link_off:")
    return value


def get_int(param: str, default: int, lo: int, hi: int) -> int:
    return _notify(query.parse_int(_raw(param), default, lo, hi, param=param))


def get_choice(param: str, options: Iterable[str], default: str) -> str:
    return _notify(query.parse_choice(_raw(param), options, default, param=param))


def get_model(param: str, options: Iterable[str], default: str) -> str:
    return _notify(query.parse_model(_raw(param), options, default, param=param))


def get_list(param: str, options: Sequence[str], default: Sequence[str], lo: int = 1,
             hi: int | None = None) -> list[str]:
    return _notify(query.parse_list(_raw(param), options, default, lo, hi, param=param))
