"""No Vega warnings in the browser console on any page (issue 14, point 8): the chart specs
are valid for how Streamlit draws them ("Autosize fit only works for single views", "conflicting
sort properties" were logged on every visit). Also screenshots of the pages issue 14 touched."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from .helpers import no_exception, open_page, shot, wait_idle

# page path, query, what to do after opening (None: nothing)
VISITS = [
    ("overview", ""),
    ("architecture", "model=googlenet"),
    ("architecture", "model=resnet50&view=layer"),
    ("blocks", "kind=inception_v1"),
    ("blocks", "kind=dense"),
    ("compare", "data=mnist"),
    ("train", ""),
    ("inference", "model=mnist_nin"),
]
VEGA = re.compile(r"vega|autosize|conflicting sort|^WARN\b", re.IGNORECASE)


def test_no_vega_warnings_on_any_page(page: Page, app_url):
    messages: list[str] = []
    where = ["start"]
    page.on("console", lambda m: messages.append(f"{where[0]}: {m.text}")
            if m.type in ("warning", "error") and VEGA.search(m.text) else None)
    for path, query in VISITS:
        where[0] = f"/{path}?{query}"
        open_page(page, app_url, path, query)
        page.mouse.wheel(0, 4000)  # charts below the fold render too
        wait_idle(page)
        no_exception(page)
        name = f"issue14_{path}_{re.sub(r'[^a-z0-9]+', '_', query)}".rstrip("_")
        shot(page, name)
    assert not messages, messages
