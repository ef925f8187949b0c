"""Widgets that several pages share. Each draws itself and returns plain values."""
from __future__ import annotations

import hashlib

import streamlit as st
from PIL import Image

from explorer.data import catalog  # catalog, not zoo: pickers draw before torch loads

from explorer.data import images
from explorer.i18n import N_, _, get_language
from explorer.ui import query

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
_LAST_UPLOAD = "explorer_last_upload"  # session-state key: (name, bytes) of the latest upload
_UPLOAD_PREFIX = "Your upload: "  # option value of the latest upload (shown translated)
MODES = {"Sample": N_("Sample"), "Upload": N_("Upload"), "Camera": N_("Camera")}
# The bundled samples' labels (assets/samples/manifest.json), for translation at display.
SAMPLE_LABELS = [N_("Cat (Chelsea)"), N_("Coffee cup"), N_("Astronaut (Eileen Collins)"),
                 N_("Rocket launch (DSCOVR on Falcon 9)")]


def sample_label(label: str) -> str:
    """A sample's (or the latest upload's) label in the UI language; option values stay the
    English labels, so a language switch keeps the choice."""
    if label.startswith("MNIST digit "):
        return _("MNIST digit {digit}").format(digit=label.rsplit(" ", 1)[-1])
    if label.startswith(_UPLOAD_PREFIX):
        return _("Your upload: {name}").format(name=label[len(_UPLOAD_PREFIX):])
    return _(label)


def _model_label(name: str) -> str:
    spec = catalog.info(name)
    return f"{name} — {spec['family']}, {spec['year']}"


def model_picker(key: str, default: str | None = None, dataset: str | None = None,
                 query_param: str | None = None, label: str | None = None,
                 names: list[str] | None = None) -> str:
    """A model selectbox. With ``query_param`` the choice is read from and written to the URL,
    so a reload or a shared link opens the same model."""
    options = names if names is not None else catalog.list_models(dataset)
    if key not in st.session_state:
        fallback = default if default in options else options[0]
        st.session_state[key] = (query.get_model(query_param, options, fallback)
                                 if query_param else fallback)
    name = st.selectbox(label or _("Model"), options, key=key, format_func=_model_label)
    if query_param:
        st.query_params[query_param] = name
    return name


_DECODED = "explorer_decoded_image"  # session-state key: ((digest, lang), LoadedImage)


def _decode(data: bytes, lang: str) -> images.LoadedImage:  # notes in the UI language
    """The decoded image, kept once per session (the latest one): no process-wide cache that
    every large upload of every session would fill. Decoding reduces it to images.MAX_SIDE."""
    key = (hashlib.blake2b(data, digest_size=16).hexdigest(), lang)
    slot = st.session_state.get(_DECODED)
    if slot is not None and slot[0] == key:
        return slot[1]
    st.session_state.pop(_DECODED, None)  # let the previous one go before decoding the next
    loaded = images.read_image(data)
    st.session_state[_DECODED] = (key, loaded)
    return loaded


def image_input(key: str, digits: bool = False, camera: bool = True,
                label: str | None = None) -> tuple[Image.Image, str] | None:
    """Choose an image: a bundled sample, an upload, or the camera.

    Returns ``(RGB image, label)`` or ``None`` when there is none yet or the file is bad, in
    which case an ``st.error`` says why and what to do. ``digits`` lists the MNIST samples first.
    """
    modes = ["Sample", "Upload"] + (["Camera"] if camera else [])
    mode = st.radio(label or _("Image"), modes, key=f"{key}_mode", horizontal=True,
                    format_func=lambda m: _(MODES[m]))
    data, name = None, None
    if mode == "Sample":
        kinds = ("digit", "photo") if digits else ("photo", "digit")
        samples = {**images.sample_images(kinds[0]), **images.sample_images(kinds[1])}
        last = st.session_state.get(_LAST_UPLOAD)
        options = list(samples) + ([_UPLOAD_PREFIX + last[0]] if last else [])
        # A switch between a photo model and a digit model offers that kind's first sample
        # again, instead of keeping a cat in front of an MNIST network.
        if st.session_state.get(f"{key}_digits", digits) != digits:
            st.session_state[f"{key}_sample"] = options[0]
        st.session_state[f"{key}_digits"] = digits
        name = st.selectbox(_("Sample image"), options, key=f"{key}_sample",
                            format_func=sample_label)
        if name in samples:
            data = samples[name].read_bytes()
        else:
            data = last[1]
        name = sample_label(name)
    elif mode == "Upload":
        upload = st.file_uploader(_("Upload an image ({formats})").format(
            formats=images.FORMATS), type=UPLOAD_TYPES, key=f"{key}_upload",
            max_upload_size=images.MAX_BYTES // 2**20)  # the server's limit is for checkpoints
        if upload is None:
            st.caption(_("No file yet: drop one above, or choose a sample."))
            return None
        data, name = upload.getvalue(), upload.name
    else:
        shot = st.camera_input(_("Take a photo"), key=f"{key}_camera")
        if shot is None:
            return None
        data, name = shot.getvalue(), _("camera photo")
    try:
        loaded = _decode(data, get_language())
    except images.ImageLoadError as exc:
        st.error(_("Could not read {name}: {error}").format(name=name, error=exc))
        return None
    if mode == "Upload":
        # Other pages offer the latest upload as a sample, so the user does not upload twice.
        st.session_state[_LAST_UPLOAD] = (name, data)
    for note in loaded.notes:
        st.caption(note)
    return loaded.image, name
