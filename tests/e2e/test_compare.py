"""The Compare page in a real browser: three networks on an uploaded ImageNet photo, the depth
control, then CKA of a network with itself. Screenshots: tests/e2e/screenshots/compare_*.png."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from explorer.data import data_root
from tests.e2e.helpers import SHOTS, no_exception, open_page, shot, upload, wait_idle

PHOTO = data_root("imagenet-samples") / "n01530575_brambling.JPEG"
NETS = ["vgg16", "resnet50", "efficientnet_lite0"]


def pick(page: Page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def slider(page: Page, label: str):
    return page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")


def slider_steps(page: Page, label: str, steps: int) -> None:
    thumb = slider(page, label)
    for _ in range(abs(steps)):
        thumb.press("ArrowRight" if steps > 0 else "ArrowLeft")
    wait_idle(page)


def test_compare_three_networks_on_an_uploaded_photo(page: Page, app_url: str):
    assert PHOTO.is_file()
    # Through the home page first: on a fresh server, a first request straight to /compare is
    # served by Streamlit's pages/ auto-discovery before app.py's st.navigation has run.
    open_page(page, app_url)
    open_page(page, app_url, "compare", query="nets=" + ",".join(NETS) + "&stride=8")
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Compare networks")).to_be_visible()
    expect(page.get_by_role("heading", name="Compare networks")).to_be_visible()
    page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
    wait_idle(page)
    upload(page, PHOTO)
    no_exception(page)
    for name in NETS:
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    shapes = page.get_by_text(re.compile(r"(exactly|below) zero$"))
    expect(shapes).to_have_count(3)
    expect(page.get_by_test_id("stImage")).to_have_count(6)  # overlay + grid per network
    expect(page.get_by_test_id("stDownloadButton")).to_have_count(3)
    expect(page.get_by_text("256 × 28 × 28").first).to_be_visible()  # vgg16 at stride 8
    expect(slider(page, "Depth: output stride")).to_have_attribute("aria-valuetext", "/8")
    page.set_viewport_size({"width": 1400, "height": 2200})  # the whole page in one picture
    shot(page, "compare_stride8")

    slider_steps(page, "Depth: output stride", 1)  # /8 -> /16
    expect(page).to_have_url(re.compile(r"stride=16"))
    expect(page.get_by_text("512 × 14 × 14").first).to_be_visible()  # vgg16 features.23
    expect(page.get_by_text("1024 × 14 × 14").first).to_be_visible()  # resnet50 layer3
    expect(page.get_by_text("112 × 14 × 14").first).to_be_visible()  # effnet features.5
    no_exception(page)
    shot(page, "compare_stride16")

    # Layer similarity: EfficientNet-Lite0 (genuine weights) against itself, 4 photos × 2 views.
    pick(page, "Network A", "efficientnet_lite0")
    pick(page, "Network B", "efficientnet_lite0")
    slider_steps(page, "Views per image", -2)  # 8 -> 2
    page.get_by_role("button", name="Compute CKA").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name=re.compile("efficientnet_lite0 vs efficientnet_lite0, "
                                                       "8 images"))).to_be_visible()
    chart = page.get_by_test_id("stVegaLiteChart").first
    expect(chart).to_be_visible()
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 3000})
    wait_idle(page)
    shot(page, "compare_cka")
    chart.screenshot(path=str(SHOTS / "compare_cka_chart.png"))

    # The same with the user's own photos: four uploads, one view each, debiased.
    page.get_by_test_id("stRadio").get_by_text("My uploads", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("this choice gives 0")).to_be_visible()  # nothing uploaded yet
    mine = sorted(PHOTO.parent.glob("*.JPEG"))[10:14]
    page.locator("[data-testid='stFileUploaderDropzoneInput']").nth(1).set_input_files(
        [str(p) for p in mine])
    wait_idle(page)
    slider_steps(page, "Views per image", -3)  # -> 1
    page.get_by_test_id("stCheckbox").get_by_text("Debiased estimator").click()
    wait_idle(page)
    page.get_by_role("button", name="Compute CKA").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name=re.compile(
        r"efficientnet_lite0 vs efficientnet_lite0, 4 images \(debiased\)"))).to_be_visible()
    no_exception(page)


def test_compare_the_trained_mnist_networks_on_a_sample_digit(page: Page, app_url: str):
    open_page(page, app_url)
    # Opens in ImageNet mode (two small networks, to keep it quick), then switches.
    open_page(page, app_url, "compare", query="nets=resnet18,mobilenet_v2")
    page.get_by_test_id("stRadio").get_by_text("MNIST digits", exact=True).click()
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"data=mnist"))
    pick(page, "Sample image", "MNIST digit 7")
    no_exception(page)
    mnist = ["lenet5", "mnist_plain", "mnist_bn_dropout"]
    for name in mnist:
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"trained here \(\d+\.\d\d % on MNIST test\)"))
           ).to_have_count(3)
    expect(page.get_by_text(re.compile(r"(exactly|below) zero$"))).to_have_count(3)
    expect(page.get_by_test_id("stImage")).to_have_count(6)  # overlay + grid per network
    expect(page.get_by_text("16 × 5 × 5").first).to_be_visible()  # LeNet-5's S4
    expect(slider(page, "Depth: output stride")).to_have_attribute("aria-valuetext", "/4")
    page.set_viewport_size({"width": 1400, "height": 2000})
    wait_idle(page)
    shot(page, "compare_mnist")
