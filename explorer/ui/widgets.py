"""Widgets that several pages share. Each draws itself and returns plain values."""
from __future__ import annotations

import streamlit as st
from PIL import Image

from explorer import images, zoo
from explorer.ui import query

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
_LAST_UPLOAD = "explorer_last_upload"  # session-state key: (name, bytes) of the latest upload


def _model_label(name: str) -> str:
    spec = zoo.get_spec(name)
    return f"{name} — {spec.family}, {spec.year}"


def model_picker(key: str, default: str | None = None, dataset: str | None = None,
                 query_param: str | None = None, label: str = "Model",
                 names: list[str] | None = None) -> str:
    """A model selectbox. With ``query_param`` the choice is read from and written to the URL,
    so a reload or a shared link opens the same model."""
    options = names if names is not None else zoo.list_models(dataset)
    if key not in st.session_state:
        fallback = default if default in options else options[0]
        st.session_state[key] = (query.get_model(query_param, options, fallback)
                                 if query_param else fallback)
    name = st.selectbox(label, options, key=key, format_func=_model_label)
    if query_param:
        st.query_params[query_param] = name
    return name


@st.cache_data(max_entries=64, show_spinner=False)
def _decode(data: bytes) -> images.LoadedImage:
    return images.read_image(data)


def image_input(key: str, digits: bool = False, camera: bool = True,
                label: str = "Image") -> tuple[Image.Image, str] | None:
    """Choose an image: a bundled sample, an upload, or the camera.

    Returns ``(RGB image, label)`` or ``None`` when there is none yet or the file is bad, in
    which case an ``st.error`` says why and what to do. ``digits`` lists the MNIST samples first.
    """
    modes = ["Sample", "Upload"] + (["Camera"] if camera else [])
    mode = st.radio(label, modes, key=f"{key}_mode", horizontal=True)
    data, name = None, None
    if mode == "Sample":
        kinds = ("digit", "photo") if digits else ("photo", "digit")
        samples = {**images.sample_images(kinds[0]), **images.sample_images(kinds[1])}
        last = st.session_state.get(_LAST_UPLOAD)
        options = list(samples) + ([f"Your upload: {last[0]}"] if last else [])
        # A switch between a photo model and a digit model offers that kind's first sample
        # again, instead of keeping a cat in front of an MNIST network.
        if st.session_state.get(f"{key}_digits", digits) != digits:
            st.session_state[f"{key}_sample"] = options[0]
        st.session_state[f"{key}_digits"] = digits
        name = st.selectbox("Sample image", options, key=f"{key}_sample")
        if name in samples:
            data = samples[name].read_bytes()
        else:
            data = last[1]
    elif mode == "Upload":
        upload = st.file_uploader(f"Upload an image ({images.FORMATS})", type=UPLOAD_TYPES,
                                  key=f"{key}_upload")
        if upload is None:
            st.caption("No file yet: drop one above, or choose a sample.")
            return None
        data, name = upload.getvalue(), upload.name
    else:
        shot = st.camera_input("Take a photo", key=f"{key}_camera")
        if shot is None:
            return None
        data, name = shot.getvalue(), "camera photo"
    try:
        loaded = _decode(data)
    except images.ImageLoadError as exc:
        st.error(f"Could not read {name}: {exc}")
        return None
    if mode == "Upload":
        # Other pages offer the latest upload as a sample, so the user does not upload twice.
        st.session_state[_LAST_UPLOAD] = (name, data)
    for note in loaded.notes:
        st.caption(note)
    return loaded.image, name
