"""Cost cards never contradict themselves (issue 14, point 2): a block that costs more than
the naive way says "× more", one that costs less says "× fewer", with a factor above 1."""
from __future__ import annotations

import re

from explorer.analysis import blocks


def _cost(naive: int, block: int) -> blocks.Cost:
    return blocks.Cost("t", "MACs", "naive", naive, "block", block, [block])


def test_the_issue_examples():
    assert _cost(1000, 3111).comparison() == "3.1× more"  # was "311.1 % … (0.3× fewer)"
    assert _cost(100, 200).comparison() == "2.0× more"  # was "200.0 % … (0.5× fewer)"
    assert _cost(120_422_400, 12_443_648).comparison() == "9.7× fewer"  # seed 000's figures
    assert _cost(5, 5).comparison() == "the same"


def test_every_cost_card_agrees_with_its_ratio():
    seen_more = seen_fewer = 0
    for kind, variants in blocks.standalone_forms().items():
        var = variants[0]
        h, w, c = var.hwc
        trace = blocks.trace_standalone(kind, var.name, h, w, c)
        same = blocks.cost_same_shapes(trace)
        for cost in ([same] if same else []) + blocks.cost_panel(kind):
            text = cost.comparison()
            m = re.fullmatch(r"(\d+\.\d)× (more|fewer)", text)
            if cost.block == cost.naive:
                assert text == "the same"
                continue
            assert m, text
            factor, word = float(m.group(1)), m.group(2)
            assert factor >= 1.0
            assert word == ("more" if cost.block > cost.naive else "fewer")
            big, small = max(cost.block, cost.naive), min(cost.block, cost.naive)
            assert abs(factor - big / small) <= 0.05
            seen_more += word == "more"
            seen_fewer += word == "fewer"
    assert seen_more and seen_fewer  # both cases occur in the real blocks
