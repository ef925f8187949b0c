"""Pages paint first: every page draws its title before torch, torchvision or captum is imported,
and app.py hands over to the page (sidebar drawn) without importing them.

Each script runs in a fresh interpreter (a fork of one that has imported only Streamlit) with
``st.title`` replaced by a recorder that ends the process: what is in ``sys.modules`` at that
moment is what the user waited for before seeing anything. Pages are found by globbing
``pages/*.py``, so a page added later is held to the same rule without touching this file.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
HEAVY = ("torch", "torchvision", "captum")

RUNNER = r'''
import json, os, runpy, sys, traceback
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

HEAVY = ("torch", "torchvision", "captum")
ROOT = os.getcwd()


class WhoImports:
    """Remembers the project code that first imported a heavy module, for the failure message."""
    def __init__(self, out):
        self.out = out

    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in self.out["importers"]:
            frames = [f"{os.path.relpath(f.filename, ROOT)}:{f.lineno}"
                      for f in traceback.extract_stack()
                      if f.filename.startswith(ROOT) and "<frozen" not in f.filename]
            self.out["importers"][name] = frames[-4:]
        return None


def report(out, w):
    os.write(w, json.dumps(out).encode())
    os._exit(0)  # at once: no finally block of the script (app.py's warm-up) runs after this


def check(script, out, w):
    def stop(what):
        out["reached"] = what
        out["heavy"] = sorted(m for m in HEAVY if m in sys.modules)
        report(out, w)

    def title(body, *args, **kwargs):
        out["title"] = str(body)
        stop("st.title")

    class Page:
        def run(self):
            stop("page.run()")

    st.title = title
    st.navigation = lambda *args, **kwargs: Page()
    PagesManager.uses_pages_directory = False
    sys.meta_path.insert(0, WhoImports(out))
    try:
        runpy.run_path(script, run_name="__main__")
    except BaseException as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out.setdefault("heavy", sorted(m for m in HEAVY if m in sys.modules))


results = {}
for script in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fresh interpreter state for each script, minus Streamlit's import time
        os.close(r)
        out = {"title": None, "reached": None, "importers": {}}
        try:
            check(script, out, w)
        finally:
            report(out, w)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    results[os.path.relpath(script, ROOT)] = json.loads(data)
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def painted() -> dict:
    scripts = [str(ROOT / "app.py")] + [str(ROOT / "pages" / p) for p in PAGES]
    proc = subprocess.run([sys.executable, "-c", RUNNER, *scripts], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _why(result: dict) -> str:
    where = "; ".join(f"{m} first imported via {' <- '.join(reversed(chain)) or '?'}"
                      for m, chain in result["importers"].items())
    return (f"reached {result['reached']} with {result['heavy']} imported ({where}). Draw the "
            "title, caption and controls first; import heavy modules after them, behind "
            "explorer.ui.warmup.wait() (see docs/CONTRIBUTING.md).")


def test_every_page_is_checked():
    # The navigation's pages are all files in pages/, so globbing covers what app.py lists.
    listed = set(__import__("re").findall(r"pages/(\w+\.py)", (ROOT / "app.py").read_text()))
    assert listed and listed <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_draws_its_title_before_heavy_imports(painted, page):
    result = painted[f"pages/{page}"]
    assert result.get("error") is None, f"{page} failed before its title: {result['error']}"
    assert result["title"], f"{page} never called st.title"
    assert result["heavy"] == [], f"{page}: {_why(result)}"


def test_app_hands_over_to_the_page_without_heavy_imports(painted):
    result = painted["app.py"]
    assert result.get("error") is None, result["error"]
    assert result["reached"] == "page.run()"
    assert result["heavy"] == [], f"app.py: {_why(result)}"
