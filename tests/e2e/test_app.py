"""The app as a person meets it: every page in a real browser, no traceback anywhere."""
import pytest

from .helpers import no_exception, open_page, shot

PAGES = ["overview", "architecture", "blocks", "inference", "compare", "train"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_opens_in_the_browser(page, app_url, path):
    open_page(page, app_url, path)
    no_exception(page)
    assert page.get_by_test_id("stSidebarNav").is_visible()
    shot(page, f"app-{path}")


def test_sidebar_navigation_switches_pages(page, app_url):
    open_page(page, app_url)
    page.get_by_test_id("stSidebarNav").get_by_text("Architecture").click()
    page.wait_for_url("**/architecture**")
    open_page(page, app_url, "architecture")
    no_exception(page)
