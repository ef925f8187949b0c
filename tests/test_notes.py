"""The UI cites the course notes by title, never by the project's internal "seed 00x" numbers
(issue 14, point 7)."""
from __future__ import annotations

import re
from pathlib import Path

from explorer import train, zoo

from explorer.analysis import blocks

from explorer.i18n import notes

INTERNAL = re.compile(r"\bseed\s*00\d", re.IGNORECASE)
PAGES = Path(__file__).resolve().parents[1] / "pages"


def test_model_cards_cite_notes_by_title():
    for name in zoo.list_models():
        spec = zoo.get_spec(name)
        assert not INTERNAL.search(spec.description), name
        assert not INTERNAL.search(spec.paper), name
    assert "deeplearning.ai course notes" in zoo.get_spec("resnet50").description


def test_block_costs_and_variants_cite_notes_by_title():
    for kind, variants in blocks.standalone_forms().items():
        assert not any(INTERNAL.search(v.name) for v in variants), kind
        for cost in blocks.cost_panel(kind):
            assert not INTERNAL.search(cost.seed + cost.title + cost.note), (kind, cost.seed)
    seeds = {c.seed for k in blocks.standalone_forms() for c in blocks.cost_panel(k)}
    assert any(notes.cite("000") in s for s in seeds) and notes.cite("004") in seeds


def test_train_table_and_page_text():
    for row in train.SEED_REPORTED.values():
        assert not INTERNAL.search(row["label"] + row["source"])
    for page in PAGES.glob("*.py"):  # the strings pages show (comments and docstrings aside)
        shown = re.findall(r'_\(\s*"((?:[^"\\]|\\.)*)"', page.read_text(encoding="utf-8"))
        assert not any(INTERNAL.search(s) for s in shown), page.name
