"""Small steps the browser tests share: open a page, wait for Streamlit, upload, screenshot."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

SHOTS = Path(__file__).resolve().parent / "screenshots"


def wait_idle(page: Page, timeout: int = 120_000) -> None:
    """Wait until Streamlit has finished the current script run and drawn every element."""
    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
    page.wait_for_timeout(300)  # let a rerun triggered by the last action begin
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout)
    page.wait_for_timeout(300)


def open_page(page: Page, app_url: str, path: str = "", query: str = "") -> None:
    page.goto(f"{app_url}/{path}" + (f"?{query}" if query else ""))
    wait_idle(page)


def upload(page: Page, path: str | Path, index: int = 0) -> None:
    """Give the ``index``-th st.file_uploader on the page a file, as a user dropping it would."""
    page.locator("[data-testid='stFileUploaderDropzoneInput']").nth(index).set_input_files(str(path))
    wait_idle(page)


def shot(page: Page, name: str, full_page: bool = True) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def no_exception(page: Page) -> None:
    """Fail when the page shows a Python exception box (users must never see a traceback)."""
    expect(page.get_by_test_id("stException")).to_have_count(0)
