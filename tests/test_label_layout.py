"""The Overview bubble chart's labels do not overlap (issue 14, point 5: cifar_resnet18 was
drawn over efficientnet_lite0, resnext50_32x4d over resnet34)."""
from __future__ import annotations

import math
import random

from explorer.data import catalog

from explorer.ui import label_layout


def _overlaps(xs, ys, texts, radii, chosen):
    boxes = [label_layout.label_box(x, y, t, r, p)
             for x, y, t, r, p in zip(xs, ys, texts, radii, chosen)]
    return [(texts[i], texts[j]) for i in range(len(boxes)) for j in range(i)
            if boxes[i].overlap(boxes[j]) > 0]


def test_zoo_labels_do_not_overlap():
    rows = catalog.rows()
    texts = [r["model"] for r in rows]
    lx = [math.log10(r["params"] / 1e6) for r in rows]
    ly = [math.log10(r["MACs"] / 1e9) for r in rows]
    x0, x1 = math.floor(min(lx)), math.ceil(max(lx))
    y0, y1 = math.floor(min(ly)), math.ceil(max(ly))
    xs = [(v - x0) / (x1 - x0) * 720 for v in lx]
    ys = [(1 - (v - y0) / (y1 - y0)) * 355 for v in ly]
    radii = [14.0 if r.get("top-1 (%)") else 4.5 for r in rows]
    chosen = label_layout.place(xs, ys, texts, radii, 720, 355)
    assert not _overlaps(xs, ys, texts, radii, chosen)
    naive = [0] * len(texts)  # every label to the right, as before
    assert _overlaps(xs, ys, texts, radii, naive)  # the problem the placement solves


def test_a_crowded_cluster_gets_separate_labels():
    rng = random.Random(5)
    xs = [300 + rng.uniform(-30, 30) for _ in range(8)]
    ys = [200 + rng.uniform(-30, 30) for _ in range(8)]
    texts = [f"model_{i}" for i in range(8)]
    radii = [6.0] * 8
    chosen = label_layout.place(xs, ys, texts, radii, 720, 400)
    assert len(_overlaps(xs, ys, texts, radii, chosen)) < len(_overlaps(xs, ys, texts, radii,
                                                                         [0] * 8))
