"""Uploaded images decoded once per session, not on every rerun (a checkbox click reruns the
whole page; six photos took 3–4 s to decode again each time)."""
from __future__ import annotations

import hashlib

import streamlit as st
from PIL import Image

from explorer.data import images

_STORE = "explorer_decoded_uploads"  # session state: {(key, digest, max_side): image or error}


def decoded_once(key: str, files, max_side: int = 512) -> list[tuple[str, Image.Image | str]]:
    """``[(file name, RGB image reduced to max_side, or the reason it cannot be read)]`` for
    the uploaded ``files`` of the uploader ``key``. Decoded results stay in this session while
    the file stays uploaded; removed files are forgotten."""
    store = st.session_state.setdefault(_STORE, {})
    out, current = [], set()
    for f in files or []:
        data = f.getvalue()
        k = (key, hashlib.blake2b(data, digest_size=16).hexdigest(), max_side)
        current.add(k)
        if k not in store:
            try:
                store[k] = images.read_image(data, max_side=max_side).image
            except images.ImageLoadError as exc:
                store[k] = str(exc)
        out.append((f.name, store[k]))
    for k in [k for k in store if k[0] == key and k not in current]:
        del store[k]
    return out
