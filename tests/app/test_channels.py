"""The Channels page headless: a deep link, top images of the bundled photos computed in the
background, visualisations kept per channel, per-model defaults, the receptive field of a unit,
the filters, bad links, and the layer grid the command line writes, shown as written."""
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.data.images import sample_images

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "channels.py")


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


def _texts(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [w.value for w in at.warning] + [i.value for i in at.info]
                    + [c for _u, c in _pictures(at)])


def _until(at, done, seconds=180):
    """Run the page again until ``done(at)``: background work finishes between runs."""
    end = time.monotonic() + seconds
    while not done(at):
        assert time.monotonic() < end, "the background work did not finish"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    return at


def _pictures(at) -> list[tuple[str, str]]:
    """(data URI, caption) of every picture on the page."""
    out = []
    for element in at.get("image"):
        for img in element.proto.imgs:
            out.append((img.url, img.caption))
    return out


def _decode(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_deep_link_top_images_in_the_background_and_visualisations_per_channel():
    at = _open(model="efficientnet_lite0", layer="features.3", channel="4")
    assert at.selectbox(key="channels_layer").value == "features.3"
    assert at.number_input(key="channels_channel").value == 4
    assert at.segmented_control(key="channels_view").value == "channel"
    assert not at.warning  # genuine weights: no random-weights banner
    assert at.radio(key="channels_set").value == "pool"  # the 600 photos, where present
    at.radio(key="channels_set").set_value("samples").run()
    _button(at, "Find the top images").click().run()
    _until(at, lambda a: "activate channel 4 most" in _texts(a))
    photos = len(sample_images("photo"))
    tiles = [c for _u, c in _pictures(at) if re.match(r"-?[\d.e+-]+ · ", c)]
    assert len(tiles) == min(6, photos) + min(6, photos)  # top tiles and bottom thumbnails
    text = _texts(at)
    assert "theoretical receptive field (67×67 pixels)" in text  # features.3 fits in the image
    assert "of the images have channel 4's maximum on the map's outermost ring" in text
    # Another channel comes from the disk cache: no button, no waiting.
    at.number_input(key="channels_channel").set_value(5).run()
    assert not at.exception and "activate channel 5 most" in _texts(at)
    assert not [b for b in at.button if b.label == "Find the top images"]
    # A short visualisation of channel 5, kept when the user looks at channel 6 and comes back.
    at.number_input(key="channels_vis_steps").set_value(8)
    at.number_input(key="channels_vis_size").set_value(64)
    _button(at, "Visualise").click().run()
    assert not at.exception, at.exception
    assert "on a plain grey image" in _texts(at)
    at.number_input(key="channels_channel").set_value(6).run()
    assert "on a plain grey image" not in _texts(at)
    at.number_input(key="channels_channel").set_value(5).run()
    assert "Channel (mean activation) 5:" in _texts(at)  # back without a click
    assert at.query_params["channel"] == "5" and at.query_params["layer"] == "features.3"


def test_steps_follow_the_model():
    at = _open(model="efficientnet_lite0", view="channel")
    assert at.number_input(key="channels_vis_steps").value == 256
    at.selectbox(key="channels_model").set_value("lenet5").run()
    assert not at.exception, at.exception
    assert at.number_input(key="channels_vis_steps").value == 128  # LeNet-5's own default


def test_receptive_field_view_states_both_fields():
    at = _open(model="efficientnet_lite0", layer="features.3", channel="4", view="field")
    text = _texts(at)
    assert "**Theoretical field:** 67×67 pixels" in text
    assert re.search(r"\*\*Effective field:\*\* \d+×\d+ pixels hold 50% of the gradient, "
                     r"\d+×\d+ pixels hold 95%", text)
    at.number_input(key="channels_rf_row").set_value(0).run()
    at.number_input(key="channels_rf_col").set_value(0).run()
    text = _texts(at)
    assert "67×67 pixels (from the analysis; 41×41 of it inside the image)" in text  # clipped
    assert "hatched margin is zero padding" in text  # the box is drawn beyond the image


def test_bad_link_values_fall_back_with_a_notice():
    at = _open(model="efficientnet_lite0", layer="no.such.layer", channel="²", view="nope")
    notices = " ".join(w.value for w in at.warning)
    assert "layer" in notices and "not a whole number" in notices and "view" in notices
    assert at.selectbox(key="channels_layer").value == "features.3"  # the stride-8 stage
    assert at.number_input(key="channels_channel").value == 0
    assert at.segmented_control(key="channels_view").value == "channel"


def test_mnist_network_filters_and_digits():
    at = _open(model="lenet5", layer="c1", channel="2", view="filters")
    assert at.number_input(key="channels_channel").proto.max == 5
    text = " ".join(m.value for m in at.markdown)
    assert "The first convolution (c1): 6 kernels of 1×5×5" in text
    assert "Sample" in at.radio(key="channels_image_mode").value


def test_the_layer_grid_the_command_line_writes_is_what_the_page_shows(tmp_path, monkeypatch):
    folder = tmp_path / "digits"  # a teacher's folder, not one of the page's own sets
    folder.mkdir()
    for label, path in sample_images("digit").items():
        shutil.copy(path, folder / path.name)
    out = tmp_path / "atlas"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.channels", "atlas", "--model", "lenet5", "--layer",
         "c3", "--images", str(folder), "--out", str(out), "--channels", "0-3", "--steps", "6",
         "--k", "4", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = json.loads(proc.stdout)
    assert written["channels"] == [0, 1, 2, 3]
    monkeypatch.setenv("CNN_EXPLORER_ATLAS", str(out))

    from explorer.channels import atlas as atlases

    at = _open(model="lenet5", layer="c3", view="grid")
    cards = [(u, c) for u, c in _pictures(at) if " · top peak " in c]
    assert [c.split(" ")[0] for _u, c in cards] == ["#0", "#1", "#2", "#3"]
    assert [float(c.rsplit(" ", 1)[1]) for _u, c in cards] == pytest.approx(
        [written["top"][str(c)][0]["value"] for c in range(4)], rel=2e-3)
    on_disk = atlases.open_atlas(Path(written["path"]))
    for (uri, _c), c in zip(cards, range(4)):
        card = atlases.card(on_disk, c)
        buf = io.BytesIO()
        card.save(buf, format="JPEG", quality=88)
        assert np.array_equal(_decode(uri), np.asarray(Image.open(buf)))
    # Opening a channel shows the grid's own top images, as the command line listed them.
    _button(at, "Open #2").click().run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="channels_view").value == "channel"
    assert at.number_input(key="channels_channel").value == 2
    assert at.radio(key="channels_set").value == "atlas"
    shown = [c for _u, c in _pictures(at) if " · " in c]
    assert shown == [f"{e['value']:.3g} · {e['image']}" for e in written["top"]["2"]]
    assert "From the layer grid" in _texts(at)  # its visualisation, same settings


def test_a_layer_grid_computed_in_the_background_fills_in_and_is_kept():
    at = _open(model="lenet5", layer="c3", view="grid")
    assert "No grid of c3 yet" in _texts(at)
    at.number_input(key="channels_grid_count").set_value(3)
    at.number_input(key="channels_grid_steps_lenet5").set_value(8)
    at.radio(key="channels_grid_set").set_value("samples").run()
    _button(at, "Compute the layer grid").click().run()
    _until(at, lambda a: len([c for _u, c in _pictures(a) if " · top peak " in c]) == 3)
    assert "3 of 16 channels" in _texts(at)
    again = _open(model="lenet5", layer="c3", view="grid")  # a new visit: read from disk
    assert len([c for _u, c in _pictures(again) if " · top peak " in c]) == 3
