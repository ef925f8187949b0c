"""Bad deep links, page by page (issue 14, point 9): Unicode digits, repeated networks, unknown
names and enumerations open the page with the default and a one-line notice, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[2] / "pages"


def run(page: str, **params) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link")]


@pytest.mark.parametrize("size", ["²", "¹²", "-3", "99999999999999999999"])
def test_architecture_bad_size(size):
    at = run("architecture", model="resnet18", size=size)
    assert at.number_input(key="arch_size_resnet18").value == 224  # the native size
    [notice] = notices(at)
    assert notice.startswith("The link's size=") and notice.endswith("showing 224 instead.")
    assert "size" not in at.query_params  # the link is rewritten to the valid view


def test_architecture_bad_view_and_model():
    at = run("architecture", model="doesnotexist", view="sideways")
    assert at.selectbox(key="arch_model").value == "googlenet"
    assert at.radio(key="arch_view").value == "block"
    assert len(notices(at)) == 2
    assert at.query_params["model"] in ("googlenet", ["googlenet"])


def test_blocks_bad_kind():
    at = run("blocks", kind="inception_v9")
    assert at.selectbox(key="blk_kind").value == "inception_v1"
    assert len(notices(at)) == 1


def test_compare_repeated_nets_and_unicode_stride():
    at = run("compare", data="mnist", nets="lenet5,lenet5,mnist_plain", stride="⁸")
    assert [s.value for s in at.subheader] == ["lenet5", "mnist_plain"]
    text = " ".join(notices(at))
    assert "repeats “lenet5”" in text and "stride=“⁸”" in text
    assert at.query_params["nets"] in ("lenet5,mnist_plain", ["lenet5,mnist_plain"])


def test_compare_one_network_twice_falls_back_to_the_default():
    at = run("compare", data="mnist", nets="mnist_plain,mnist_plain")
    assert at.multiselect(key="compare_nets_mnist").value == ["lenet5", "mnist_plain",
                                                              "mnist_bn_dropout"]
    assert "needs 2 to 4" in " ".join(notices(at))


def test_inference_unknown_model():
    at = run("inference", model="doesnotexist")
    assert at.selectbox(key="inference_model").value == "efficientnet_lite0"
    [notice] = notices(at)
    assert "“doesnotexist”" in notice


def test_unknown_language_in_the_link():
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=240)
    at.query_params["lang"] = "tlh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["ui_language"] == "en"  # the browser's (none here): English
    [notice] = [w.value for w in at.sidebar.warning if w.value.startswith("The link")]
    assert "lang=“tlh”" in notice and "showing en instead" in notice
    assert at.query_params["lang"] in ("en", ["en"])
