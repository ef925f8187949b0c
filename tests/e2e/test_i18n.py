"""The Chinese UI in a real browser (issue 13): every page in Chinese with a CJK font (亿 and
残差块 drawn, not empty boxes), the browser's language chosen by default, and the sidebar's
switch keeping the page's state. Screenshots: tests/e2e/screenshots/zh-*.png."""
import re
import subprocess

import pytest
from playwright.sync_api import expect

from .helpers import no_exception, open_page, shot, wait_idle

CJK = re.compile(r"[\u4e00-\u9fff]")
PAGES = [("overview", "", "CNN Explorer"), ("architecture", "model=resnet50", "网络结构"),
         ("blocks", "kind=inception_v1", "块"), ("inference", "model=lenet5", "推理"),
         ("compare", "data=mnist", "网络对比"), ("train", "", "在 MNIST 上训练小型经典网络"),
         ("weights", "", None), ("channels", "", None)]


def test_a_chinese_font_is_installed():
    """Without one (Debian: fonts-noto-cjk, which .ci/run installs) Chromium draws 亿 as a box."""
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    assert "CJK" in fonts or "Noto Sans SC" in fonts, "no Chinese font: apt-get install fonts-noto-cjk"


@pytest.mark.parametrize("path,query,title", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_in_chinese(page, app_url, path, query, title):
    open_page(page, app_url, path, "&".join(q for q in (query, "lang=zh") if q))
    no_exception(page)
    heading = page.locator("h1").first.inner_text()
    if title:
        assert heading.startswith(title), heading
    else:
        assert CJK.search(heading), heading
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "总览" in nav and "网络结构" in nav, nav
    shot(page, f"zh-{path}")


def test_the_seed_arithmetic_in_yi_is_drawn(page, app_url):
    open_page(page, app_url, "blocks", "kind=inception_v1&lang=zh")
    panel = page.get_by_text("1.2亿 与 0.12亿").first
    expect(panel).to_be_visible()
    panel.scroll_into_view_if_needed()
    shot(page, "zh-blocks-yi", full_page=False)


def test_the_browser_language_is_the_default(browser, app_url):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    try:
        pg = context.new_page()
        open_page(pg, app_url, "architecture", "model=vgg16")
        assert pg.locator("h1").first.inner_text() == "网络结构"
        assert "lang=zh" in pg.url
    finally:
        context.close()


def test_the_sidebar_switch_keeps_the_page_state(page, app_url):
    open_page(page, app_url, "architecture", "model=resnet18&view=layer&lang=zh")
    assert page.locator("h1").first.inner_text() == "网络结构"
    page.get_by_test_id("stSidebar").get_by_text("English", exact=True).click()
    wait_idle(page)
    no_exception(page)
    assert page.locator("h1").first.inner_text() == "Architecture"
    assert "model=resnet18" in page.url and "view=layer" in page.url and "lang=en" in page.url
    # The browser shows the kept choices under their new labels (it remembers them by label).
    checked = page.locator("[data-testid='stRadio'] label:has(input:checked)").all_inner_texts()
    assert [t.strip() for t in checked] == ["English", "Layers"], checked
    shot(page, "zh-switch-to-english", full_page=False)
    page.get_by_test_id("stSidebar").get_by_text("简体中文", exact=True).click()
    wait_idle(page)
    assert page.locator("h1").first.inner_text() == "网络结构"
    assert "model=resnet18" in page.url and "lang=zh" in page.url
