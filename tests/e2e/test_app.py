"""The app as a person meets it: every page in a real browser, no traceback anywhere."""
import pytest

from .conftest import streamlit_server
from .helpers import no_exception, open_page, shot

PAGES = ["overview", "architecture", "blocks", "inference", "compare", "train", "weights"]


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


def test_a_deep_link_opened_first_on_a_fresh_server_goes_through_the_router(page):
    """Streamlit would otherwise run pages/blocks.py alone (its pages/ auto-discovery)."""
    with streamlit_server("streamlit-deeplink") as url:
        open_page(page, url, "blocks")
        no_exception(page)
        links = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
        assert any("Inference & saliency" in t for t in links), links  # the router's titles
        assert not any(t.strip() == "app" for t in links), links
        assert "Device:" in page.get_by_test_id("stSidebar").inner_text()
        assert page.locator("h1").first.inner_text() == "Blocks"
        shot(page, "app-deeplink-blocks")
