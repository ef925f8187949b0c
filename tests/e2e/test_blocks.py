"""The Blocks page in a real browser: step through an Inception module and a residual block with
an uploaded photo, and save screenshots (tests/e2e/screenshots/blocks-*.png) to look at."""

from playwright.sync_api import Page, expect

from explorer.data import data_root
from .helpers import no_exception, open_page, shot, upload, wait_idle

PHOTO = data_root("imagenet-samples") / "n01530575_brambling.JPEG"


def _open_blocks(page: Page, app_url: str, query: str) -> None:
    # The first request of a fresh server must go through app.py (st.navigation): a deep link
    # as the very first request is served from pages/ alone (no router, no sidebar, no wide
    # layout).
    open_page(page, app_url)
    open_page(page, app_url, "blocks", query)


def _choose(page: Page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def _tall(page: Page) -> None:
    """Streamlit scrolls inside its own container, so a full-page screenshot is the viewport:
    make it tall enough to hold the diagram, the step, the activations and the cost panel."""
    page.set_viewport_size({"width": 1400, "height": 2600})
    wait_idle(page)


def _next(page: Page, times: int) -> None:
    for _ in range(times):
        page.get_by_role("button", name="Next ▶").click()
        wait_idle(page)


def _upload_photo(page: Page) -> None:
    page.get_by_test_id("stRadio").filter(has_text="Sample").get_by_text(
        "Upload", exact=True).click()
    wait_idle(page)
    upload(page, PHOTO)


def test_step_through_an_inception_module_with_an_upload(page, app_url):
    assert PHOTO.exists(), PHOTO
    _open_blocks(page, app_url, "kind=inception_v1")
    _upload_photo(page)
    expect(page.get_by_text("n01530575_brambling.JPEG through googlenet")).to_be_visible()
    _next(page, 3)  # branch 2 starts with its 1×1 reduction
    expect(page.get_by_text("Step 4 of 20: conv 1×1")).to_be_visible()
    expect(page.get_by_text("mean of all channels")).to_be_visible()
    no_exception(page)
    _tall(page)
    shot(page, "blocks-inception-step4")
    slider = page.get_by_test_id("stSlider").get_by_role("slider")
    slider.focus()
    page.keyboard.press("End")  # the concatenation
    wait_idle(page)
    expect(page.get_by_text("concat: 64+128+32+32 = 256 channels").first).to_be_visible()
    expect(page.get_by_text("120,422,400").first).to_be_visible()
    no_exception(page)
    shot(page, "blocks-inception-concat")


def test_step_through_a_residual_block_with_an_upload(page, app_url):
    _open_blocks(page, app_url, "kind=basic")
    _choose(page, "Model and block", "resnet18 · layer2.0: projection shortcut")
    _upload_photo(page)
    expect(page.get_by_text("through resnet18")).to_be_visible()
    _next(page, 7)  # conv1, bn1, relu, conv2, bn2, downsample conv, bn -> the add
    expect(page.get_by_text("Step 8 of 9: add")).to_be_visible()
    expect(page.get_by_text("add: 128×28×28 + 128×28×28 → 128×28×28 (shapes must match)")
           .first).to_be_visible()
    no_exception(page)
    _tall(page)
    shot(page, "blocks-residual-add")
