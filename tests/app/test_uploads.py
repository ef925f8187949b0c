"""Uploads (issue 14): every zoo checkpoint fits the upload limit, and the page says how large
the checkpoint is and what the limit is before the upload (point 12); uploaded CKA images are
decoded once per file, not on every rerun (point 14)."""
from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from torchvision.models import get_model_weights

from explorer import zoo

from explorer.data import images
from explorer.weights.upload_limits import checkpoint_mb

ROOT = Path(__file__).resolve().parents[2]
LIMIT = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"][
    "maxUploadSize"]


def test_every_zoo_checkpoint_fits_the_upload_limit():
    sizes = {name: checkpoint_mb(name) for name in zoo.list_models()}
    assert max(sizes.values()) < LIMIT, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    assert sum(s > 50 for s in sizes.values()) >= 8  # the old 50 MB limit shut these out


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "alexnet"])
def test_checkpoint_size_matches_torchvision(name):
    params = get_model_weights(name).DEFAULT.meta["num_params"]
    assert checkpoint_mb(name) == pytest.approx(params * 4 / 2**20, rel=0.005)


def test_inference_page_states_size_and_limit_before_the_upload():
    at = AppTest.from_file(str(ROOT / "pages" / "inference.py"), default_timeout=240)
    at.query_params["model"] = "lenet5"
    at.run()
    at.selectbox(key="inference_source_lenet5").set_value("upload").run()
    assert not at.exception, at.exception
    size = f"{checkpoint_mb('lenet5'):.2g}"
    assert LIMIT == 1024  # shown as the uploader shows it: whole gigabytes above 512 MB
    assert any(c.value == f"lenet5's weights take about {size} MB in float32; this server "
               "accepts checkpoints up to 1 GB." for c in at.caption)
    [uploader] = at.get("file_uploader")
    assert uploader.proto.max_upload_size_mb == LIMIT


def _decode_script():
    import streamlit as st

    from explorer.ui.uploads import decoded_once

    files = st.session_state["files"]
    st.session_state.setdefault("runs", 0)
    st.session_state["runs"] += 1
    for name, image in decoded_once("cka", files):
        st.write(name, "error" if isinstance(image, str) else image.size)


class _File:  # what st.file_uploader hands back: a name and getvalue()
    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def test_uploaded_images_are_decoded_once_per_file(monkeypatch):
    calls = []
    real = images.read_image
    monkeypatch.setattr(images, "read_image",
                        lambda data, *a, **k: calls.append(len(data)) or real(data, *a, **k))
    files = []
    for i in range(6):
        buf = io.BytesIO()
        Image.new("RGB", (1200, 900), (40 * i, 90, 200)).save(buf, "JPEG")
        files.append(_File(f"photo{i}.jpg", buf.getvalue()))
    files.append(_File("notes.jpg", b"not an image at all\n" * 10))
    at = AppTest.from_function(_decode_script, default_timeout=60)
    at.session_state["files"] = files
    at.run()
    for _ in range(3):  # reruns: a checkbox click, a slider move...
        at.run()
    assert not at.exception, at.exception
    assert len(calls) == len(files)  # one decode per file, over four runs
    at.session_state["files"] = files[:2]  # two files left: the rest is forgotten
    at.run()
    assert len(calls) == len(files)
    assert len(at.session_state["explorer_decoded_uploads"]) == 2
