"""The Inference page in a real browser: upload an ImageNet photo, see the predictions and two
saliency maps side by side. Screenshots: tests/e2e/screenshots/inference_*.png."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from explorer.data import data_root
from tests.e2e.helpers import no_exception, open_page, shot, wait_idle

PHOTO = data_root("imagenet-samples") / "n02007558_flamingo.JPEG"


def test_upload_predict_and_explain(page: Page, app_url: str):
    assert PHOTO.is_file()
    open_page(page, app_url, "inference", query="model=efficientnet_lite0")
    expect(page.get_by_role("heading", name="Inference")).to_be_visible()
    page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
    wait_idle(page)
    # helpers.upload waits 120 s at most; attribution on a busy 2-core CPU can take longer.
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(PHOTO))
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(page.get_by_role("heading", name=re.compile(r"^Prediction: flamingo"))).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()  # top-k bars
    expect(page.get_by_text(re.compile(r"Forward pass [\d.]+ ms on"))).to_be_visible()
    # Original, preprocessed view, and the two default maps (Saliency, Grad-CAM).
    expect(page.get_by_test_id("stImage")).to_have_count(4)
    expect(page.get_by_role("strong").filter(has_text="Saliency (gradient)")).to_be_visible()
    expect(page.get_by_role("strong").filter(has_text=re.compile(r"^Grad-CAM$"))).to_be_visible()
    expect(page.get_by_test_id("stDownloadButton")).to_have_count(4)
    page.set_viewport_size({"width": 1400, "height": 1900})  # the top of the page in one picture
    wait_idle(page)
    shot(page, "inference_flamingo")

    # Deletion and insertion for the uploaded photo's maps, with their baselines.
    box = page.get_by_test_id("stExpander").filter(has_text="Faithfulness: deletion and insertion")
    box.locator("summary").click()
    wait_idle(page)
    box.get_by_text("Compute deletion and insertion curves").click()
    wait_idle(page, timeout=400_000)
    no_exception(page)
    expect(box.get_by_test_id("stVegaLiteChart")).to_have_count(2)
    expect(box.get_by_test_id("stDataFrame")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 2500})
    wait_idle(page)
    shot(page, "inference_flamingo_deletion")
