"""The Robustness page in a real browser: upload an ImageNet photo, attack it, find the smallest
ε that flips it, see where the damage grows, corrupt it, read the MNIST curves, and give a digit
network a colour photo. Screenshots: tests/e2e/screenshots/robustness_*.png."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from explorer.data import data_root
from tests.e2e.helpers import no_exception, open_page, shot, wait_idle

PHOTO = data_root("imagenet-samples") / "n01530575_brambling.JPEG"


def _tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    wait_idle(page)


def test_upload_attack_smallest_eps_damage_and_corruption(page: Page, app_url: str):
    assert PHOTO.is_file()
    open_page(page, app_url)
    page.set_viewport_size({"width": 1400, "height": 1800})
    open_page(page, app_url, "robustness", query="model=efficientnet_lite0&eps=2")
    wait_idle(page, timeout=400_000)
    expect(page.get_by_role("heading", name="Robustness")).to_be_visible()
    page.get_by_test_id("stRadio").filter(has_text="Sample").get_by_text("Upload",
                                                                          exact=True).click()
    wait_idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(PHOTO))
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_text(re.compile(
        r"^(FGSM at 2/255 turns|The prediction holds: after FGSM at 2/255)"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"amplified ×64"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Before: why"))).to_be_visible()
    shot(page, "robustness_attack")

    page.get_by_role("button", name=re.compile(r"Find the smallest ε")).click()
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_text(re.compile(r"Smallest ε: \d+/255"))).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Measure where the damage grows")).click()
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_text(re.compile(r"From the pixels to the logits"))).to_be_visible()
    page.get_by_text(re.compile(r"From the pixels to the logits")).scroll_into_view_if_needed()
    shot(page, "robustness_min_eps_damage", full_page=False)

    # A PGD attack towards a class chosen by name.
    page.get_by_test_id("stRadio").filter(has_text="FGSM").first.get_by_text("PGD",
                                                                            exact=True).click()
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_text(re.compile(
        r"^(PGD-10 at 2/255 turns|The prediction holds: after PGD-10 at 2/255)"))).to_be_visible()

    _tab(page, "Corruptions")
    box = page.get_by_test_id("stSelectbox").filter(has_text="Corruption")
    box.click()
    page.get_by_role("option", name="JPEG compression").click()
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_text(re.compile(r"JPEG compression, severity 3"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Hendrycks & Dietterich"))).to_be_visible()
    shot(page, "robustness_corruption")

    _tab(page, "MNIST: ε-curves and robust training")
    no_exception(page)
    expect(page.get_by_text(re.compile(r"a different model, shown for scale"))).to_be_visible()
    # One paragraph per shipped adversarially trained LeNet-5 (PGD, and FGSM alone).
    expect(page.get_by_text(re.compile(r"The catch"))).to_have_count(2)
    expect(page.get_by_text(re.compile(r"It is robust to both"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"It only looks robust"))).to_be_visible()
    shot(page, "robustness_mnist")


def test_a_digit_network_refuses_a_colour_photo_and_attacks_a_digit(page: Page, app_url: str):
    open_page(page, app_url)
    page.set_viewport_size({"width": 1400, "height": 1400})
    open_page(page, app_url, "robustness", query="model=lenet5&method=pgd&eps=77&target=3")
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_text(re.compile(r"^(PGD-10 at 77/255 turns|The prediction holds)"))
           ).to_be_visible()
    shot(page, "robustness_digit")
    box = page.get_by_test_id("stSelectbox").filter(has_text="Sample image")
    box.click()
    page.get_by_role("option", name="Cat (Chelsea)").click()
    wait_idle(page)
    no_exception(page)
    expect(page.get_by_text(re.compile(r"lenet5 reads grey handwritten digits"))).to_be_visible()
    shot(page, "robustness_digit_colour_photo")


def test_attack_this_image_from_the_inference_page(page: Page, app_url: str):
    open_page(page, app_url)
    page.set_viewport_size({"width": 1400, "height": 1400})
    open_page(page, app_url, "inference", query="model=lenet5")
    wait_idle(page, timeout=400_000)
    page.get_by_role("button", name="Attack this image").click()
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page).to_have_url(re.compile(r"/robustness\?.*model=lenet5"))
    expect(page.get_by_text("Image from the Inference page: MNIST digit 0")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^(FGSM at 26/255 turns 0 \(#0\)|The prediction holds)"))
           ).to_be_visible()
    shot(page, "robustness_from_inference")
