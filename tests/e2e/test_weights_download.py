"""Compare and Blocks in a real browser on a machine without torchvision's weights: the page
downloads them (from a slow local stand-in for download.pytorch.org) with a progress bar in MB,
then shows the network with its pretrained weights. Screenshots:
tests/e2e/screenshots/weights_{compare,blocks}_{downloading,done}.png."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from explorer import zoo
from tests.e2e.conftest import streamlit_server
from tests.e2e.helpers import no_exception, open_page, shot, wait_idle
from tests.weights_server import serve, sitecustomize, write_weights


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A fresh app server with an empty torch cache, whose download host is a local server
    that sends mobilenet_v2's (test-written, 14 MB) weights at about 2 MB/s."""
    www = tmp_path / "www"
    url, _ = write_weights("mobilenet_v2", www, scale=0.5)
    hook = sitecustomize(tmp_path / "hook", {"mobilenet_v2": url})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(hook)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    with serve(www, delay=0.5) as base:
        monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", base)
        with streamlit_server("weights-server") as app_url:
            yield app_url, tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]


def _download_then_done(page: Page, name: str) -> None:
    bar = page.get_by_text(re.compile(r"Downloading the pretrained weights of mobilenet_v2: \d+ of "
                                      r"14 MB \(leave the page to cancel\)"))
    expect(bar).to_be_visible(timeout=120_000)
    shot(page, f"weights_{name}_downloading", full_page=False)
    expect(bar).to_have_count(0, timeout=120_000)
    wait_idle(page)
    no_exception(page)


def test_compare_and_blocks_download_then_show_pretrained_weights(page: Page, server):
    app_url, cached = server
    page.goto(f"{app_url}/compare?nets=mobilenet_v2,efficientnet_lite0&stride=8")
    _download_then_done(page, "compare")
    assert cached.exists()
    expect(page.get_by_role("heading", name="mobilenet_v2", exact=True)).to_be_visible()
    expect(page.get_by_text("torchvision ImageNet weights")).to_be_visible()
    expect(page.get_by_text(re.compile("Random weights"))).to_have_count(0)
    expect(page.get_by_text(re.compile(r"(exactly|below) zero$"))).to_have_count(2)
    shot(page, "weights_compare_done", full_page=False)
    # The sidebar counts it: an empty torch cache had the packaged and the 4 trained MNIST
    # networks; now this one too.
    total = len(zoo.list_models())
    expect(page.get_by_text(f"6 of {total} networks have real weights")).to_be_visible()

    cached.unlink()  # Blocks finds it missing again and downloads it, with its own progress
    page.goto(f"{app_url}/blocks?kind=inverted_residual")
    _download_then_done(page, "blocks")
    expect(page.get_by_text(re.compile(r"through mobilenet_v2 \(torchvision "
                                       r"MobileNet_V2_Weights.IMAGENET1K_V2"))).to_be_visible()
    expect(page.get_by_text(re.compile("Random weights"))).to_have_count(0)
    expect(page.get_by_text("mean of all channels")).to_be_visible()
    shot(page, "weights_blocks_done", full_page=False)
