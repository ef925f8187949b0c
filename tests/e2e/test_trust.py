"""The "Can I trust these maps?" sections in a real browser: open each check, run it, and look
at the result. Screenshots: tests/e2e/screenshots/trust_*.png."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import no_exception, open_page, shot, wait_idle

SLOW = 600_000  # a randomisation cascade on a busy 2-core CPU


def _open(page: Page, title: str):
    box = page.get_by_test_id("stExpander").filter(has_text=title)
    box.locator("summary").click()
    wait_idle(page)
    return box


def test_trust_checks_in_the_browser(page: Page, app_url: str):
    open_page(page, app_url, "inference", query="model=efficientnet_lite0")
    wait_idle(page, timeout=SLOW)
    expect(page.get_by_role("heading", name="Can I trust these maps?")).to_be_visible()

    box = _open(page, "Model randomisation test")
    box.get_by_text("Run the randomisation test").click()
    wait_idle(page, timeout=SLOW)
    no_exception(page)
    expect(box.get_by_text(re.compile(r"^Saliency \(gradient\): (passes|fails|doubtful)\."))
           ).to_be_visible()
    expect(box.get_by_test_id("stVegaLiteChart")).to_have_count(1)
    box.scroll_into_view_if_needed()
    page.set_viewport_size({"width": 1400, "height": 2400})
    wait_idle(page)
    shot(page, "trust_randomisation")

    box = _open(page, "Faithfulness: deletion and insertion")
    box.get_by_text("Compute deletion and insertion curves").click()
    wait_idle(page, timeout=SLOW)
    expect(box.get_by_test_id("stVegaLiteChart")).to_have_count(2)
    expect(box.get_by_test_id("stDataFrame")).to_be_visible()

    box = _open(page, "Grad-CAM and LayerCAM at every depth")
    box.get_by_text("Compute CAMs at every depth").click()
    wait_idle(page, timeout=SLOW)
    expect(box.get_by_text(re.compile(r"features\.1 · 112×112")).first).to_be_visible()
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 4200})
    wait_idle(page)
    shot(page, "trust_all")
