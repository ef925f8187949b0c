"""The Overview and Architecture pages in a real browser: open the app, go from the home page to
the Architecture page, pick two models, switch the view, reload the shared link, and save
screenshots to look at (tests/e2e/screenshots/overview.png, architecture_*.png)."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import no_exception, open_page, shot, wait_idle


def pick_model(page: Page, name: str) -> None:
    box = page.get_by_role("combobox", name="Model")
    box.click()
    page.keyboard.type(name)  # filters the list, as a user would
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} —")).click()
    wait_idle(page)


def shot_at(page: Page, heading: str, name: str) -> None:
    """Scroll the section under ``heading`` to the top of the window and screenshot it."""
    page.get_by_role("heading", name=heading).first.evaluate("e => e.scrollIntoView()")
    page.wait_for_timeout(500)
    shot(page, name, full_page=False)


def diagram(page: Page):
    chart = page.get_by_test_id("stGraphVizChart").first
    expect(chart.locator("svg")).to_be_visible()
    return chart


def test_overview_then_architecture(page: Page, app_url: str):
    open_page(page, app_url)
    expect(page.get_by_role("heading", name="CNN Explorer")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    no_exception(page)
    shot(page, "overview")
    page.get_by_test_id("stVegaLiteChart").first.evaluate("e => e.scrollIntoView()")
    page.wait_for_timeout(500)
    shot(page, "overview_chart", full_page=False)

    # the page link in the intro leads to the Architecture page
    page.get_by_test_id("stPageLink").filter(has_text="Architecture").first.click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Architecture").first).to_be_visible()

    pick_model(page, "googlenet")
    chart = diagram(page)
    expect(chart.get_by_text("inception3a", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Parameters (PyTorch)")
           ).to_contain_text("6,624,904")
    no_exception(page)
    shot(page, "architecture_googlenet_blocks")
    shot_at(page, "Diagram", "architecture_googlenet_diagram")
    shot_at(page, "Layers", "architecture_googlenet_table")
    shot_at(page, "Where the parameters and the computation are", "architecture_googlenet_charts")

    pick_model(page, "resnet50")
    expect(page).to_have_url(re.compile(r"model=resnet50"))
    expect(page.get_by_test_id("stMetric").filter(has_text="Parameters (PyTorch)")
           ).to_contain_text("25,557,032")
    page.get_by_test_id("stRadio").get_by_text("Layers", exact=True).click()
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"view=layer"))
    expect(diagram(page).get_by_text("layer1.0 · Bottleneck")).to_be_attached()
    no_exception(page)
    shot_at(page, "Diagram", "architecture_resnet50_layers")

    # the link is shareable: a reload opens the same model and view
    page.reload()
    wait_idle(page)
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile(r"^resnet50 "))
    expect(page.get_by_role("radio", name="Layers")).to_be_checked()
    expect(diagram(page).get_by_text("layer1.0 · Bottleneck")).to_be_attached()
    shot(page, "architecture_resnet50_reload", full_page=False)


def test_stage_view_and_bad_size(page: Page, app_url: str):
    open_page(page, app_url, "architecture", "model=vgg16&view=stage")
    chart = diagram(page)
    expect(chart.get_by_text("head", exact=True)).to_be_visible()
    size = page.get_by_test_id("stNumberInput").locator("input")
    size.fill("16")
    size.press("Enter")
    wait_idle(page)
    expect(page.get_by_test_id("stAlert").first).to_contain_text("at least 32×32")
    diagram(page)  # the rest of the page is still there
    no_exception(page)
    shot(page, "architecture_vgg16_stages_bad_size", full_page=False)
