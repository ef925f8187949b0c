"""The Channels page in a real browser: a deep link to a channel, its top images over the bundled
photos, a short feature visualisation, and a click on a feature-map unit for its receptive
field. Screenshots: tests/e2e/screenshots/channels_*.png."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import streamlit_server
from tests.e2e.helpers import no_exception, open_page, shot, wait_idle


@pytest.fixture
def channels_url(tmp_path, monkeypatch):
    """A server of its own, so that its top-images cache lives in a temporary folder."""
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path / "cache"))
    with streamlit_server("channels-server") as url:
        yield url


def _number(page: Page, label: str):
    return page.get_by_test_id("stNumberInput").filter(has_text=label).locator("input")


def test_channel_top_images_visualisation_and_receptive_field(page: Page, channels_url: str):
    open_page(page, channels_url)
    open_page(page, channels_url, "channels",
              query="model=efficientnet_lite0&layer=features.3&channel=4")
    page.set_viewport_size({"width": 1400, "height": 1800})
    expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    expect(_number(page, "Channel (0–39)")).to_have_value("4")
    no_exception(page)

    # Top images: the bundled photos, one pass for the whole layer.
    page.get_by_test_id("stRadio").get_by_text("Bundled samples", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Find the top images").click()
    wait_idle(page)
    expect(page.get_by_text("Top 9: the images that activate channel 4 most")).to_be_visible()
    no_exception(page)
    shot(page, "channels_top")

    # Another channel comes straight from the cache (no button), and the link follows.
    _number(page, "Channel (0–39)").fill("7")
    _number(page, "Channel (0–39)").press("Enter")
    wait_idle(page)
    expect(page.get_by_text("Top 9: the images that activate channel 7 most")).to_be_visible()
    expect(page).to_have_url(re.compile(r"channel=7"))

    # Feature visualisation, short.
    page.get_by_role("tab", name="Feature visualisation").click()
    _number(page, "Steps").fill("24")
    _number(page, "Steps").press("Enter")
    _number(page, "Size (pixels)").fill("128")
    _number(page, "Size (pixels)").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Visualise").click()
    wait_idle(page)
    expect(page.get_by_text(re.compile("on a plain grey image"))).to_be_visible()
    no_exception(page)
    shot(page, "channels_visualisation")

    # Receptive field: click a unit near the top-left of the 28×28 map.
    page.get_by_role("tab", name="Receptive field").click()
    wait_idle(page)
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

    # Filters: the first convolution's 32 kernels beside their maps, and this layer's note.
    page.get_by_role("tab", name="Filters").click()
    wait_idle(page)
    expect(page.get_by_text("The first convolution (features.0.conv): 32 kernels of 3×3×3")
           ).to_be_visible()
    no_exception(page)
    shot(page, "channels_filters")
