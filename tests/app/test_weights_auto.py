"""'Automatic' weights on the pages that run a network (Inference, Compare, Blocks), headless:
with a local stand-in for download.pytorch.org each page downloads torchvision's weights with a
progress bar and then uses them; without a network it falls back to random weights at once,
remembers that for the session, offers a retry, and says "random" beside every result."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from explorer.ui import models
from tests.weights_server import dead_url, hub_file, patch_url, serve, write_weights

PAGES = Path(__file__).resolve().parents[2] / "pages"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """mobilenet_v2 weights (every float tensor halved: not the explorer's random ones) served
    locally, with torchvision's URL for them pointing there."""
    www = tmp_path_factory.mktemp("www")
    url, state = write_weights("mobilenet_v2", www, scale=0.5)
    with pytest.MonkeyPatch.context() as mp, serve(www) as base:
        patch_url(mp, "mobilenet_v2", url)
        mp.setenv("CNN_EXPLORER_WEIGHTS_URL", base)
        yield url, state


@pytest.fixture
def progress_texts(monkeypatch):
    """Every text the page's progress bars showed (they are emptied once done)."""
    seen: list[str] = []
    real = st.progress

    class Bar:
        def __init__(self, bar):
            self.bar = bar

        def progress(self, value, text=None):
            seen.append(text)
            return self.bar.progress(value, text=text)

        def empty(self):
            return self.bar.empty()

    def spy(value, text=None, **kwargs):
        seen.append(text)
        return Bar(real(value, text=text, **kwargs))

    monkeypatch.setattr(st, "progress", spy)
    return seen


def _page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=240)
    at.query_params.update(query)
    return at


def _texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


@pytest.mark.parametrize("page, query", [
    ("inference.py", {"model": "mobilenet_v2"}),
    ("compare.py", {"nets": "mobilenet_v2,efficientnet_lite0"}),
    ("blocks.py", {"kind": "inverted_residual"}),  # mobilenet_v2's features.2 first
])
def test_auto_downloads_with_progress_then_uses_the_pretrained_weights(
        page, query, served, progress_texts, tmp_path, monkeypatch):
    url, state = served
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # a fresh cache: the page must download
    at = _page(page, **query)
    if page == "inference.py":
        at.session_state["inference_methods"] = []  # predictions only: maps are tested elsewhere
    at.run()
    assert not at.exception, at.exception
    assert not at.error, _texts(at.error)
    assert hub_file(url).exists()
    assert any(t and t.startswith("Downloading the pretrained weights of mobilenet_v2:")
               and "MB (leave the page to cancel)" in t for t in progress_texts), progress_texts
    assert "Random weights" not in _texts(at.warning)
    loaded = models.get_model("mobilenet_v2")  # what "automatic" now resolves to
    assert loaded.source == "torchvision"
    assert torch.equal(loaded.model.state_dict()["classifier.1.weight"],
                       state["classifier.1.weight"])
    if page == "inference.py":
        assert "**Weights:** torchvision MobileNet_V2_Weights.IMAGENET1K_V2" in _texts(at.caption)
        assert any(s.value.startswith("Prediction: ") for s in at.subheader)
    elif page == "compare.py":
        assert ":material/verified: torchvision ImageNet weights" in _texts(at.caption)
    else:
        assert "through mobilenet_v2 (torchvision MobileNet_V2_Weights" in _texts(at.caption)


def test_offline_is_found_within_the_probe_timeout_remembered_and_retried(tmp_path, monkeypatch):
    # A black-holed network: connecting never returns. Without the probe's own time limit this
    # test would hang until pytest's timeout.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", "https://weights.example.invalid")
    release, calls = threading.Event(), []

    def hang(*args, **kwargs):
        calls.append(args[0])
        release.wait()
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        at = _page("inference.py", model="resnet18")
        at.session_state["inference_methods"] = []
        at.run()
        assert not at.exception, at.exception
        assert len(calls) == 1
        warned = _texts(at.warning)
        assert "Random weights: resnet18's pretrained weights could not be downloaded" in warned
        assert any(s.value.startswith("Random weights: this guess is meaningless (")
                   for s in at.subheader)
        # Remembered for the session: another run does not wait for the network again ...
        at.slider(key="inference_topk").set_value(3).run()
        assert len(calls) == 1 and not at.exception
        # ... until the user asks for another try.
        at.button(key="inference_resnet18_retry").click().run()
        assert len(calls) == 2 and not at.exception
    finally:
        release.set()


@pytest.mark.parametrize("page, query, words", [
    ("compare.py", {"nets": "resnet18,efficientnet_lite0"},
     ["Random weights: these maps show the untrained resnet18"]),
    ("blocks.py", {"kind": "basic"},
     ["Random weights: these activations show what the untrained architecture does"]),
])
def test_random_weights_are_said_beside_the_activations(page, query, words, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", dead_url())
    at = _page(page, **query)
    at.run()
    assert not at.exception, at.exception
    warned = _texts(at.warning)
    for w in words:
        assert w in warned
    # The network with genuine weights gets no such warning.
    assert "untrained efficientnet_lite0" not in warned
    assert any(b.label == "Try the download again" for b in at.button)


def test_the_weights_page_downloads_with_progress_and_says_when_offline(
        served, progress_texts, tmp_path, monkeypatch):
    url, state = served
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    at = _page("weights.py")
    at.run()
    assert not at.exception, at.exception

    def row(name):
        return at.dataframe[0].value.set_index("model").loc[name]

    assert row("mobilenet_v2")["on this machine"] == "↓ random until downloaded"
    assert row("mobilenet_v2")["size (MB)"] == pytest.approx(13.598)  # torchvision's metadata
    assert row("lenet5")["on this machine"] == "✓ real weights"
    assert row("nin")["on this machine"].startswith("✗ random only")
    assert "mobilenet_v2 (13.6 MB)" in at.selectbox(key="weights_pick").options
    at.session_state["weights_pick"] = "mobilenet_v2"
    at.button(key="weights_one").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert "Downloaded: mobilenet_v2." in _texts(at.success)
    assert hub_file(url).exists()
    assert any(t and "mobilenet_v2: " in t and " MB" in t for t in progress_texts)
    assert row("mobilenet_v2")["on this machine"] == "✓ real weights (cached)"

    monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", dead_url())
    at.session_state["weights_pick"] = "alexnet"  # mobilenet_v2 has left the list of missing ones
    at.button(key="weights_all").click().run()
    assert not at.exception
    assert "no network" in _texts(at.error)
    at.run()  # remembered: the page says so and offers a retry instead of the buttons
    assert "could not reach the download host" in _texts(at.warning)
    assert any(b.label == "Try the download again" for b in at.button)
