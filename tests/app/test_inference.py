"""The Inference page headless: predictions and maps, and every bad input ends in st.error
with the page still working."""
import io
import pickle
import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.data import data_root
from explorer import zoo

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "inference.py")
IMAGENET = data_root("imagenet-samples")
TENCH = IMAGENET / "n01440764_tench.JPEG"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb(side: int = 20_000) -> bytes:
    """A complete greyscale PNG, side × side zeros: ~400 KB that unpacks to 400 MB."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _gif() -> bytes:
    frames = [Image.open(TENCH).convert("RGB").resize((160, 120))] + [
        Image.new("RGB", (160, 120), c) for c in ("lime", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(PAGE, default_timeout=240)
    app.run()
    assert not app.exception, app.exception
    return app


def _texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def _use_sample(app) -> None:
    app.radio(key="inference_image_mode").set_value("Sample")
    app.run()


def _predicts(app) -> bool:
    return not app.exception and any(s.value.startswith("Prediction:") for s in app.subheader)


def test_default_view_predicts_and_explains(at):
    assert _predicts(at)
    assert "Genuine ImageNet weights" in _texts(at.caption)
    # Two attribution columns with downloads; deletion and insertion curves (with baselines)
    # run only on request, in the trust checks (tests/app/test_trust.py checks their numbers).
    assert len(at.get("download_button")) == 4
    assert not at.metric
    assert at.toggle(key="trust_faith_on").value is False
    at.toggle(key="trust_faith_on").set_value(True)
    at.run()
    assert not at.error and not at.exception
    table = at.dataframe[-1].value
    assert list(table.iloc[:, 0]) == ["Saliency (gradient)", "Grad-CAM", "Random order (baseline)",
                                      "Centre first (baseline)"]
    at.toggle(key="trust_faith_on").set_value(False)
    at.run()


@pytest.mark.parametrize("name, data, words", [
    ("notes.jpg", b"this is not an image, just some text\n" * 20, "text file"),
    ("half.jpg", TENCH.read_bytes()[:20_000], "truncated"),
    ("empty.jpg", b"", "empty"),
    ("bomb.png", _bomb(), "too large"),
])
def test_bad_images_show_an_error_and_the_page_keeps_working(at, name, data, words):
    at.radio(key="inference_image_mode").set_value("Upload")
    at.run()
    at.file_uploader(key="inference_image_upload").set_value((name, data, "image/jpeg"))
    at.run()
    assert not at.exception, at.exception
    assert words in _texts(at.error) and name in _texts(at.error)
    _use_sample(at)
    assert _predicts(at) and not at.error


def _no_methods(app) -> None:
    # Attribution on a new image or model costs seconds on a CPU: not what these tests check.
    app.multiselect(key="inference_methods").set_value([])


def test_animated_gif_uses_its_first_frame(at):
    _no_methods(at)
    at.radio(key="inference_image_mode").set_value("Upload")
    at.run()
    at.file_uploader(key="inference_image_upload").set_value(("anim.gif", _gif(), "image/gif"))
    at.run()
    assert _predicts(at) and not at.error
    assert "Prediction: tench" in _texts(at.subheader)
    _use_sample(at)


def _checkpoint(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_bad_checkpoints_show_an_error_and_the_page_keeps_working(at, tmp_path):
    at.selectbox(key="inference_source_efficientnet_lite0").set_value("upload")
    at.run()
    uploader = at.file_uploader(key="inference_ckpt_efficientnet_lite0")
    uploader.set_value(("mnist.pt", _checkpoint(zoo.build("mnist_plain").state_dict()),
                        "application/octet-stream"))
    at.run()
    assert not at.exception
    assert "another architecture" in _texts(at.error) and "Missing keys" in _texts(at.error)

    marker = tmp_path / "pwned"
    evil = _checkpoint({"state_dict": {}, "x": _Evil(marker)})
    at.file_uploader(key="inference_ckpt_efficientnet_lite0").set_value(
        ("evil.pt", evil, "application/octet-stream"))
    at.run()
    assert not at.exception and "Refused" in _texts(at.error)
    assert not marker.exists()

    at.selectbox(key="inference_source_efficientnet_lite0").set_value("auto")
    at.run()
    assert _predicts(at) and not at.error


def test_random_weights_are_labelled_and_offline_download_fails_cleanly(at):
    _no_methods(at)
    at.selectbox(key="inference_source_efficientnet_lite0").set_value("random")
    at.run()
    assert "Random weights" in _texts(at.warning)
    # The headline itself says the guess is meaningless, and is not "Prediction: …".
    assert not _predicts(at)
    assert any(s.value.startswith("Random weights: this guess is meaningless (")
               for s in at.subheader), _texts(at.subheader)
    at.selectbox(key="inference_source_efficientnet_lite0").set_value("auto")
    at.run()

    at.selectbox(key="inference_model").set_value("resnet18")
    at.run()
    at.selectbox(key="inference_source_resnet18").set_value("torchvision")
    at.run()
    assert not at.exception
    assert "no network" in _texts(at.error) and "random" in _texts(at.error)
    at.selectbox(key="inference_model").set_value("efficientnet_lite0")
    at.run()
    assert _predicts(at) and not at.error


def test_digits_and_occlusion_with_estimate_and_progress(at):
    at.selectbox(key="inference_model").set_value("lenet5")
    at.run()
    at.multiselect(key="inference_methods").set_value(["occlusion", "gradcam"])
    at.run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Prediction:") for s in at.subheader)
    # Occlusion says how long it will take and waits for the button.
    estimate = _texts(at.info)
    assert "Occlusion slides a grey patch" in estimate and " s on cpu" in estimate
    at.button(key="inference_run_occlusion").click()
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("download_button")) == 4  # both maps now drawn
    at.multiselect(key="inference_methods").set_value([])
    at.selectbox(key="inference_model").set_value("efficientnet_lite0")
    at.run()
    assert _predicts(at)
