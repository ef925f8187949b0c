"""The Train page's "Training dynamics" in Chromium, in English and Chinese: the committed
history replays, a click on a confusion-matrix cell shows its digits, the epoch slider moves the
views, and a short run fills the same views as it trains. Screenshots in
tests/e2e/screenshots/train-dynamics-*.png."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from explorer.train import dynamics

from .helpers import no_exception, open_page, shot, wait_idle

SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "history"


def _confusion_chart(page: Page):
    return page.locator(".st-key-dyn_confusion").get_by_test_id("stVegaLiteChart")


def _click_cell(page: Page, true: int, pred: int) -> None:
    """Click cell (true, pred): the grid's extent is where the dark diagonal cells are."""
    chart = _confusion_chart(page)
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    img = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("RGB")).astype(int)
    dark = (img[..., 2] - img[..., 0] > 60) & (img[..., 0] < 120)  # the diagonal's deep blue
    ys, xs = np.nonzero(dark)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    w, h = (x1 - x0) / 10, (y1 - y0) / 10
    box = chart.bounding_box()
    page.mouse.click(box["x"] + x0 + (pred + 0.5) * w, box["y"] + y0 + (true + 0.5) * h)
    wait_idle(page)


def _hover_a_one(page: Page) -> None:
    """Hover over a point of the feature map drawn in digit 1's colour (category10 orange)."""
    chart = page.locator(".st-key-dyn_features").get_by_test_id("stVegaLiteChart").first
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    img = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("RGB")).astype(int)
    ys, xs = np.nonzero(np.abs(img - np.array([255, 127, 14])).sum(-1) < 60)
    assert len(xs), "no orange point on the map"
    box = chart.bounding_box()
    k = len(xs) // 2
    page.mouse.move(box["x"] + float(xs[k]), box["y"] + float(ys[k]))


def _thumbs(page: Page) -> list[str]:
    captions = page.get_by_test_id("stImageCaption").all_inner_texts()
    return [c for c in captions if c.startswith("#")]


def _epoch_slider(page: Page):
    return page.locator("input[type=range][aria-label=\"Epoch\"]")


def test_replay_click_a_cell_and_move_the_slider(page: Page, app_url):
    h = dynamics.History(SHIPPED / "lenet5")
    last = h.epochs[-1]
    open_page(page, app_url, "train")
    no_exception(page)
    expect(page.get_by_text("Training dynamics", exact=True)).to_be_visible(timeout=180_000)
    wait_idle(page)
    chart = _confusion_chart(page)
    chart.scroll_into_view_if_needed()
    shot(page, "train-dynamics-replay", full_page=False)
    # A cell with a few digits: 7 read as 2 at the last epoch.
    count = int(h.confusion(last)[7, 2])
    _click_cell(page, 7, 2)
    no_exception(page)
    expect(page.get_by_text("7 read as 2", exact=False).first).to_be_visible()
    assert len(_thumbs(page)) == min(count, 60)
    shot(page, "train-dynamics-cell", full_page=False)
    # The slider: one step left is the epoch before; the chosen cell stays.
    slider = _epoch_slider(page)
    slider.focus()
    page.keyboard.press("Home")
    wait_idle(page)
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    no_exception(page)
    assert len(_thumbs(page)) == min(int(h.confusion(1)[7, 2]), 60)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(
        f"{h.row(1)['test_accuracy']:.2f} %")
    shot(page, "train-dynamics-epoch1", full_page=True)
    # Hovering over a point of the feature map shows its digit (vega-tooltip draws the image).
    _hover_a_one(page)
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip.locator("img")).to_be_visible(timeout=10_000)
    expect(tooltip).to_contain_text("1")
    shot(page, "train-dynamics-hover", full_page=False)


def test_in_chinese(page: Page, app_url):
    h = dynamics.History(SHIPPED / "lenet5")
    open_page(page, app_url, "train", "lang=zh")
    expect(_confusion_chart(page)).to_be_visible(timeout=180_000)
    wait_idle(page)
    no_exception(page)
    _click_cell(page, 4, 9)
    no_exception(page)
    assert len(_thumbs(page)) == min(int(h.confusion(h.epochs[-1])[4, 9]), 60)
    _confusion_chart(page).scroll_into_view_if_needed()
    shot(page, "train-dynamics-zh", full_page=False)
    page.locator(".st-key-dyn_features").get_by_test_id("stVegaLiteChart").first.scroll_into_view_if_needed()
    shot(page, "train-dynamics-zh-features", full_page=False)


def test_a_short_run_fills_in_as_it_trains(page: Page, app_url):
    open_page(page, app_url, "train")
    page.get_by_test_id("stNumberInput").filter(has_text="Training images").locator("input").fill("6000")
    page.keyboard.press("Enter")
    wait_idle(page)
    slider = page.get_by_test_id("stSlider").filter(has_text="Epochs").get_by_role("slider")
    slider.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")  # 2 epochs
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    # While it trains: the section switches to this run and shows epoch 1 before epoch 2 ends
    # (85 batches an epoch: long enough to look while epoch 2 trains, even on a quiet machine).
    history = page.get_by_role("combobox", name="History")
    expect(history).to_have_value("this session's run", timeout=120_000)
    expect(page.get_by_text("epoch 2/2", exact=False).first).to_be_visible(timeout=120_000)
    # Epoch 2 is training: the views show epochs 0 and 1, the slider on the newest.
    assert _epoch_slider(page).get_attribute("max") == "1"
    assert _epoch_slider(page).get_attribute("aria-valuetext") == "1"
    _confusion_chart(page).scroll_into_view_if_needed()
    shot(page, "train-dynamics-live", full_page=False)
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success.first).to_contain_text("after 2 of 2 epochs on 5,400 training images",
                                          timeout=180_000)
    wait_idle(page)
    no_exception(page)
    assert _epoch_slider(page).get_attribute("aria-valuetext") == "2"  # followed the run
    expect(history).to_have_value("this session's run")
    shot(page, "train-dynamics-finished", full_page=True)
