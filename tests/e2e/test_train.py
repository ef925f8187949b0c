"""The Train page in Chromium: the reproduction table, a digit drawn with the mouse on the
canvas, and a photographed digit uploaded; screenshots in tests/e2e/screenshots/train-*.png."""

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from explorer.data import data_root
from explorer import train

from .helpers import no_exception, open_page, shot, upload, wait_idle

DATA = data_root("mnist")


def _predictions(page):
    # The table of the networks' readings, in its keyed container ("Read your own digit").
    return page.locator(".st-key-train_digit").get_by_test_id("stDataFrame")


def test_draw_a_digit_and_the_networks_read_it(page, app_url):
    open_page(page, app_url, "train")
    no_exception(page)
    expect(page.get_by_text("The source's numbers beside ours")).to_be_visible()
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # A "7": the top bar, then the diagonal down to the bottom left.
    page.mouse.move(x0 + 0.25 * w, y0 + 0.2 * h)
    page.mouse.down()
    for t in np.linspace(0, 1, 12):
        page.mouse.move(x0 + (0.25 + 0.5 * t) * w, y0 + 0.2 * h)
    for t in np.linspace(0, 1, 16):
        page.mouse.move(x0 + (0.75 - 0.3 * t) * w, y0 + (0.2 + 0.65 * t) * h)
    page.mouse.up()
    wait_idle(page)
    no_exception(page)
    expect(page.get_by_text("What the networks see (28×28)")).to_be_visible(timeout=30_000)
    table = _predictions(page)
    expect(table).to_be_visible()
    shot(page, "train-draw")


def test_upload_a_photographed_digit(page, app_url, tmp_path):
    x, y = train.load_mnist(DATA, train=False)
    digit = 255 - x[0].numpy()  # dark ink on light paper; MNIST test image 0 is a 7
    photo = Image.new("L", (300, 220), 240)
    photo.paste(Image.fromarray(digit).resize((120, 120), Image.BICUBIC).point(lambda v: min(v, 240)),
                (150, 60))
    path = tmp_path / "my_seven.png"
    photo.convert("RGB").save(path)
    assert int(y[0]) == 7

    open_page(page, app_url, "train")
    page.get_by_test_id("stRadio").filter(has_text="Digit input").get_by_text("Photo or sample").click()
    wait_idle(page)
    page.get_by_test_id("stRadio").filter(has_text="Digit image").get_by_text("Upload").click()
    wait_idle(page)
    upload(page, path)
    no_exception(page)
    expect(page.get_by_text("What the networks see (28×28)")).to_be_visible(timeout=30_000)
    shot(page, "train-upload")


def test_train_a_small_run_and_see_the_curves(page, app_url):
    open_page(page, app_url, "train")
    shot(page, "train-top", full_page=False)
    page.get_by_test_id("stNumberInput").filter(has_text="Training images").locator("input").fill("600")
    page.keyboard.press("Enter")
    wait_idle(page)
    slider = page.get_by_test_id("stSlider").filter(has_text="Epochs").get_by_role("slider")
    slider.focus()
    page.keyboard.press("Home")  # the slider's minimum, 1 epoch (whatever the default) ...
    page.keyboard.press("ArrowRight")  # ... then 2
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success).to_contain_text("after 2 of 2 epochs on 540 training images", timeout=120_000)
    wait_idle(page)
    no_exception(page)
    # The run's own curves (the training-dynamics section below has charts of its own).
    charts = page.locator(".st-key-train_curves").get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(2)
    charts.first.scroll_into_view_if_needed()
    page.mouse.wheel(0, 200)
    page.wait_for_timeout(500)
    shot(page, "train-curves", full_page=False)
