"""The Channels page headless: a deep link, top images of the bundled photos, a visualisation,
the receptive field of a unit, the filters, bad links and an MNIST network."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.data.images import sample_images

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "channels.py")


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path / "cache"))


def _open(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_deep_link_top_images_visualisation_and_receptive_field():
    at = _open(model="efficientnet_lite0", layer="features.3", channel="4")
    assert at.selectbox(key="channels_layer").value == "features.3"
    assert at.number_input(key="channels_channel").value == 4
    assert not at.warning  # genuine weights: no random-weights banner
    # Receptive field tab: starts at the channel's strongest unit, with both sizes stated.
    text = " ".join(m.value for m in at.markdown)
    assert "**Theoretical field:** 67×67 pixels" in text
    assert re.search(r"\*\*Effective field:\*\* \d+×\d+ pixels hold 95%", text)
    at.number_input(key="channels_rf_row").set_value(0).run()
    at.number_input(key="channels_rf_col").set_value(0).run()
    text = " ".join(m.value for m in at.markdown)
    assert "67×67 pixels (from the analysis; 41×41 of it inside the image)" in text  # clipped
    # Top images over the bundled photos: one pass, then from the disk cache.
    assert at.radio(key="channels_set").value == "pool"  # the 600 photos, where present
    at.radio(key="channels_set").set_value("samples").run()
    n_images = len(at.get("image"))
    _button(at, "Find the top images").click().run()
    assert not at.exception, at.exception
    assert any("Top 9" in m.value for m in at.markdown)
    photos = len(sample_images("photo"))
    # top and bottom crops (k ≥ the photos), and one per channel in the browser below
    assert len(at.get("image")) == n_images + 2 * photos + 16
    opener = next(b for b in at.button if b.label.startswith("Open #"))
    opener.click().run()  # the channel browser opens that channel
    assert at.number_input(key="channels_channel").value == int(opener.label[len("Open #"):])
    at.number_input(key="channels_channel").set_value(5).run()  # another channel: no button
    assert not at.exception and any("activate channel 5 most" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.label == "Find the top images"]
    # A short visualisation.
    at.number_input(key="channels_vis_steps").set_value(8)
    at.number_input(key="channels_vis_size").set_value(64)
    _button(at, "Visualise").click().run()
    assert not at.exception, at.exception
    assert any("on a plain grey image" in str(img.proto) for img in at.get("image"))
    assert at.query_params["channel"] == "5" and at.query_params["layer"] == "features.3"


def test_bad_link_values_fall_back_with_a_notice():
    at = _open(model="efficientnet_lite0", layer="no.such.layer", channel="²")
    notices = " ".join(w.value for w in at.warning)
    assert "layer" in notices and "not a whole number" in notices
    assert at.selectbox(key="channels_layer").value == "features.3"  # the stride-8 stage
    assert at.number_input(key="channels_channel").value == 0


def test_mnist_network_filters_and_digits():
    at = _open(model="lenet5", layer="c1", channel="2")
    assert at.number_input(key="channels_channel").proto.max == 5
    text = " ".join(m.value for m in at.markdown)
    assert "The first convolution (c1): 6 kernels of 1×5×5" in text
    assert "Sample" in at.radio(key="channels_image_mode").value
    assert at.radio(key="channels_set").options[0] == "Bundled samples"
