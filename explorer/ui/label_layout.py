"""Where to put each point's text label in a scatter plot so that labels do not overlap each
other or the points (the Overview's bubble chart): a greedy choice among eight positions.

Pure geometry in screen pixels; the chart turns the chosen position into one text layer per
position (Vega-Lite's text offsets cannot vary per point).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["POSITIONS", "Box", "place", "label_box"]

# (x side, y side, align, distance) from the point's centre, in units of the point's radius
# plus a gap: eight directions close by, then the same eight farther out, twice. Order =
# preference.
_RING = [(1, 0, "left"), (-1, 0, "right"), (0, -1, "center"), (0, 1, "center"),
         (1, -1, "left"), (-1, -1, "right"), (1, 1, "left"), (-1, 1, "right")]
POSITIONS = [(*p, k) for k in (1, 2, 3) for p in _RING]
CHAR_PX = 6.2  # an 11 px sans-serif label, average character width
LINE_PX = 13


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def overlap(self, other: "Box") -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return w * h if w > 0 and h > 0 else 0.0


def offsets(position: int, radius: float) -> tuple[float, float, str]:
    """(dx, dy, align) in pixels for ``position`` around a point of ``radius``."""
    sx, sy, align, distance = POSITIONS[position]
    gap = (radius + 3) * distance + (distance - 1) * 4
    return sx * gap, sy * (gap + LINE_PX / 2 - 2), align


def label_box(x: float, y: float, text: str, radius: float, position: int) -> Box:
    dx, dy, align = offsets(position, radius)
    w = CHAR_PX * len(text)
    left = {"left": x + dx, "right": x + dx - w, "center": x + dx - w / 2}[align]
    return Box(left, y + dy - LINE_PX / 2, left + w, y + dy + LINE_PX / 2)


def place(xs, ys, texts, radii, width: float, height: float) -> list[int]:
    """For points at pixel positions (xs, ys) with ``radii``, the index into POSITIONS of each
    label: crowded points choose first, each taking the position that overlaps the labels
    already placed, all points and the plot's edges least (ties: the preferred order)."""
    n = len(xs)
    points = [Box(x - r, y - r, x + r, y + r) for x, y, r in zip(xs, ys, radii)]
    crowd = [sum(math.hypot(xs[i] - xs[j], ys[i] - ys[j]) < 80 for j in range(n)) for i in range(n)]
    order = sorted(range(n), key=lambda i: (-crowd[i], i))
    placed: list[Box] = []
    chosen = [0] * n
    for i in order:
        best, best_cost = 0, math.inf
        for p in range(len(POSITIONS)):
            box = label_box(xs[i], ys[i], texts[i], radii[i], p)
            cost = sum(box.overlap(b) for b in placed) * 10  # labels over labels: worst
            cost += sum(box.overlap(b) for j, b in enumerate(points) if j != i)
            outside = (max(0, -box.x0) + max(0, box.x1 - width) + max(0, -box.y0)
                       + max(0, box.y1 - height))
            cost += outside * LINE_PX * 4 + p * 0.5  # a small preference for the first ones
            if cost < best_cost:
                best, best_cost = p, cost
        chosen[i] = best
        placed.append(label_box(xs[i], ys[i], texts[i], radii[i], best))
    return chosen
