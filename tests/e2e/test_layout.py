"""Layout points of issue 14 (point 5) in a real browser at 1400 px, with element screenshots:
the Blocks diagram is drawn large enough to read, its "add" node has an outline, the per-branch
table fits its width, the standalone form's H, W and C fields line up; the Overview table shows
the receptive field and top-1 columns without sideways scrolling."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from .helpers import SHOTS, no_exception, open_page, wait_idle


def _element_shot(locator, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(SHOTS / f"{name}.png"))


def test_blocks_layout(page: Page, app_url):
    open_page(page, app_url, "blocks", "kind=inception_v1")
    no_exception(page)
    chart = page.get_by_test_id("stGraphVizChart").first
    svg = chart.locator("svg").first
    expect(svg).to_be_visible()
    # Rendered size against the graph's own size (points): node labels are 12 pt in the DOT.
    scale = svg.evaluate("s => s.getBoundingClientRect().width / s.viewBox.baseVal.width")
    assert scale * 12 >= 10, f"diagram scaled to {scale:.2f}: labels {scale * 12:.1f} px"
    _element_shot(chart, "issue14_blocks_diagram")
    # The merge node (an ellipse, "20. concat") keeps its outline.
    strokes = svg.evaluate("""s => [...s.querySelectorAll('g.node')]
        .filter(g => g.querySelector('ellipse') && /concat/.test(g.textContent))
        .map(g => g.querySelector('ellipse').getAttribute('stroke'))""")
    assert strokes and all(s not in (None, "transparent", "none") for s in strokes), strokes
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    main = page.get_by_test_id("stMainBlockContainer").bounding_box()
    box = table.bounding_box()
    assert box["x"] + box["width"] <= main["x"] + main["width"] + 1
    _element_shot(table, "issue14_blocks_branch_table")
    # The standalone form: H, W and C fields on one line.
    page.get_by_text("Standalone", exact=True).click()
    wait_idle(page)
    no_exception(page)
    tops = [page.get_by_label(label, exact=True).bounding_box()["y"]
            for label in ("H", "W", "C (input channels)")]
    assert max(tops) - min(tops) <= 2, tops
    _element_shot(page.get_by_test_id("stHorizontalBlock").filter(
        has=page.get_by_label("H", exact=True)).first, "issue14_blocks_standalone_form")
    _element_shot(page.get_by_test_id("stGraphVizChart").first, "issue14_blocks_standalone_diagram")


def test_overview_table_and_chart(page: Page, app_url):
    open_page(page, app_url, "overview")
    no_exception(page)
    table = page.get_by_test_id("stDataFrame").first
    _element_shot(table, "issue14_overview_table")
    # The grid draws on a canvas; its accessible table lists the columns in display order.
    names = table.locator("[role=columnheader]").all_inner_texts()
    assert names[:8] == ["model", "diagram", "year", "depth", "params", "MACs",
                         "receptive field", "top-1 (%)"], names
    # ... and those eight fit the table's visible width (no sideways scroll to reach them).
    widths = table.evaluate("""t => [...t.querySelectorAll('[role=columnheader]')].slice(0, 8)
        .map(h => h.getBoundingClientRect().width)""")
    assert sum(widths) <= table.bounding_box()["width"], widths
    _element_shot(page.get_by_test_id("stVegaLiteChart").first, "issue14_overview_chart")
