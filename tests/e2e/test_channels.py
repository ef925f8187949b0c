"""The Channels page in a real browser: a layer grid prepared on the command line (a deep layer of
EfficientNet-Lite0), a channel opened from it with its top images and their activation maps,
then a channel's top images computed in the background, a short visualisation, a click on a
feature-map unit for its receptive field, and the filters.
Screenshots: tests/e2e/screenshots/channels_*.png."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from explorer.data import data_root
from tests.e2e.conftest import ROOT, streamlit_server
from tests.e2e.helpers import no_exception, open_page, shot, wait_idle


@pytest.fixture(scope="module")
def channels_url(tmp_path_factory):
    """A server of its own: its caches in a temporary folder, and a small layer grid of
    features.6 (4 channels over the 100 ImageNet samples, short visualisations) prepared as a
    teacher would."""
    tmp = tmp_path_factory.mktemp("channels")
    env = {"CNN_EXPLORER_CACHE": str(tmp / "cache"), "CNN_EXPLORER_ATLAS": str(tmp / "atlas")}
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.channels", "atlas", "--model", "efficientnet_lite0",
         "--layer", "features.6", "--images", str(data_root("imagenet-samples")), "--out",
         env["CNN_EXPLORER_ATLAS"], "--channels", "0-3", "--steps", "16", "--k", "6"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the server inherits them
    try:
        with streamlit_server("channels-server") as url:
            yield url
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _number(page: Page, label: str):
    return page.get_by_test_id("stNumberInput").filter(has_text=label).locator("input")


def _view(page: Page, name: str) -> None:
    page.get_by_text(name, exact=True).first.click()  # the View control's segment
    wait_idle(page)


def test_layer_grid_and_a_deep_channel_s_top_images(page: Page, channels_url: str):
    open_page(page, channels_url)
    page.set_viewport_size({"width": 1400, "height": 1600})
    open_page(page, channels_url, "channels",
              query="model=efficientnet_lite0&layer=features.6&view=grid")
    expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    expect(page.get_by_role("button", name="Open #3")).to_be_visible()
    expect(page.get_by_text(re.compile(r"4 of 192 channels"))).to_be_visible()
    no_exception(page)
    shot(page, "channels_grid")

    page.get_by_role("button", name="Open #3").click()
    wait_idle(page)
    expect(page.get_by_text("Top 6: the images that activate channel 3 most")).to_be_visible()
    expect(page.get_by_text(re.compile(r"smallest square around the unit that holds 80%"))
           ).to_be_visible()
    expect(page).to_have_url(re.compile(r"view=channel"))
    no_exception(page)
    shot(page, "channels_deep_top")


def test_top_images_visualisation_receptive_field_and_filters(page: Page, channels_url: str):
    open_page(page, channels_url)
    page.set_viewport_size({"width": 1400, "height": 1800})
    open_page(page, channels_url, "channels",
              query="model=efficientnet_lite0&layer=features.3&channel=4")
    expect(_number(page, "Channel (0–39)")).to_have_value("4")
    no_exception(page)

    # Top images: the bundled photos, one pass for the whole layer in the background.
    page.get_by_test_id("stRadio").get_by_text("Bundled samples", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Find the top images").click()
    expect(page.get_by_text("Top 4: the images that activate channel 4 most")).to_be_visible(
        timeout=120_000)
    wait_idle(page)
    no_exception(page)

    # Another channel comes straight from the cache (no button), and the link follows.
    _number(page, "Channel (0–39)").fill("7")
    _number(page, "Channel (0–39)").press("Enter")
    wait_idle(page)
    expect(page.get_by_text("Top 4: the images that activate channel 7 most")).to_be_visible()
    expect(page).to_have_url(re.compile(r"channel=7"))

    # Feature visualisation, short, beside the top images.
    _number(page, "Steps").fill("24")
    _number(page, "Steps").press("Enter")
    _number(page, "Size (pixels)").fill("128")
    _number(page, "Size (pixels)").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Visualise").click()
    wait_idle(page)
    expect(page.get_by_text(re.compile("on a plain grey image"))).to_be_visible()
    no_exception(page)
    shot(page, "channels_channel")

    # Receptive field: click a unit near the top-left of the 28×28 map.
    _view(page, "Receptive field")
    chart = page.locator("[data-testid='stVegaLiteChart'] svg.marks:visible").first
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    chart.click(position={"x": box["width"] * 0.12, "y": box["height"] * 0.2})
    wait_idle(page)
    row, col = (int(_number(page, label).input_value()) for label in ("Row", "Column"))
    assert 2 <= row <= 8 and 0 <= col <= 6, (row, col)
    expect(page.get_by_text(re.compile(r"Theoretical field:.*67×67 pixels"))).to_be_visible()
    no_exception(page)
    shot(page, "channels_receptive_field")

    # Filters: the first convolution's 32 kernels beside their maps.
    _view(page, "Filters")
    expect(page.get_by_text("The first convolution (features.0.conv): 32 kernels of 3×3×3")
           ).to_be_visible()
    no_exception(page)
    shot(page, "channels_filters")
