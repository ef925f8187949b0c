"""The Overview (home) page, headless: every zoo model in one table whose numbers match the
published figures, the history chart, and links to the other pages."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import zoo

ROOT = Path(__file__).resolve().parents[2]

# REFERENCE.md: torchvision num_params and _ops (GMACs); receptive fields AlexNet 195, VGG-16 212
PARAMS = {"alexnet": 61_100_840, "vgg16": 138_357_544, "googlenet": 6_624_904,
          "inception_v3": 27_161_264, "resnet18": 11_689_512, "resnet50": 25_557_032,
          "densenet121": 7_978_856, "mobilenet_v2": 3_504_872}
GMACS = {"alexnet": 0.714, "vgg16": 15.470, "googlenet": 1.498, "inception_v3": 5.713,
         "resnet18": 1.814, "resnet50": 4.089, "densenet121": 2.834, "mobilenet_v2": 0.301}
KERAS = {"mnist_plain": 78_602, "mnist_bn_dropout": 79_114, "mnist_nin": 31_850}
# Depth as the papers and the names count it: weighted layers on the longest path. AlexNet
# "eight learned layers", GoogLeNet "22 layers deep", MobileNet "28 layers".
DEPTH = {"alexnet": 8, "vgg16": 16, "googlenet": 22, "resnet18": 18, "resnet34": 34,
         "resnet50": 50, "densenet121": 121, "mobilenet_v1": 28}


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=120).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_one_row_per_model_with_published_numbers(at):
    table = at.dataframe[0].value.set_index("model")
    assert list(table.index) == zoo.list_models()
    for name, want in PARAMS.items():
        assert table.loc[name, "params"] == want
        assert table.loc[name, "MACs"] / 1e9 == pytest.approx(GMACS[name], rel=0.01)
    for name, want in KERAS.items():
        assert table.loc[name, "params (Keras)"] == want
    for name, want in DEPTH.items():
        assert table.loc[name, "depth"] == want, name
    assert table.loc["alexnet", "receptive field"] == 195
    assert table.loc["vgg16", "receptive field"] == 212
    assert table.loc["resnet50", "top-1 (%)"] == pytest.approx(80.858)
    assert table.loc["resnet50", "year"] == 2015 and table.loc["resnet50", "family"] == "ResNet"


def test_history_chart_and_intro(at):
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = charts[0].proto.spec
    assert '"type": "log"' in spec or '"type":"log"' in spec
    assert "CNN Explorer" in at.title[0].value
    # run alone there is no navigation, so the links fall back to plain labels
    text = " ".join(m.value for m in at.markdown)
    for label in ("Architecture", "Blocks", "Inference", "Compare", "Train"):
        assert label in text


def test_through_the_app_the_links_are_page_links():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not app.exception, [e.value for e in app.exception]
    links = app.get("page_link")
    assert [link.proto.page for link in links] == [
        "architecture", "blocks", "inference", "compare", "train"]
