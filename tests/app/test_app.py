"""The whole app through its router: every page opens from app.py without an exception."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]

PAGES = ["pages/overview.py", "pages/architecture.py", "pages/blocks.py",
         "pages/inference.py", "pages/compare.py", "pages/train.py"]


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_is_the_overview_and_sidebar_names_the_device(app):
    assert any("Device:" in c.value for c in app.sidebar.caption)
    assert any("MACs = multiply-accumulates" in c.value for c in app.sidebar.caption)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_from_the_router(app, page):
    app.switch_page(page)
    app.run()
    assert not app.exception, f"{page}: {app.exception}"
    assert app.title or app.header, f"{page} shows no title"
