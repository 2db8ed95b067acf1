"""The squarified treemap layout (Bruls, Huizing and van Wijk, "Squarified Treemaps", 2000), in Python.

``squarify(sizes, x, y, w, h)`` lays out rectangles whose areas are proportional to ``sizes`` (sorted
largest first by the caller) inside the box, row by row along the box's shorter side, adding an item
to the current row while that does not worsen the row's worst aspect ratio. Pure arithmetic.
"""

from __future__ import annotations

Box = tuple[float, float, float, float]  # x, y, width, height


def _worst(row: list[float], side: float) -> float:
    """The worst aspect ratio of ``row`` (areas) laid along a side of length ``side``."""
    s = sum(row)
    if s <= 0 or side <= 0:
        return float("inf")
    big, small = max(row), min(row)
    return max(side * side * big / (s * s), (s * s) / (side * side * small)) if small > 0 else float("inf")


def squarify(sizes: list[float], x: float, y: float, w: float, h: float) -> list[Box]:
    """One box per size, in order, tiling (x, y, w, h); sizes <= 0 get an empty box."""
    total = sum(s for s in sizes if s > 0)
    out: list[Box] = [(x, y, 0.0, 0.0)] * len(sizes)
    if total <= 0 or w <= 0 or h <= 0:
        return out
    scale = w * h / total
    items = [(i, s * scale) for i, s in enumerate(sizes) if s > 0]
    row: list[tuple[int, float]] = []
    while items:
        side = min(w, h)
        areas = [a for _, a in row]
        candidate = items[0]
        if not row or _worst(areas + [candidate[1]], side) <= _worst(areas, side):
            row.append(candidate)
            items.pop(0)
            continue
        x, y, w, h = _place(row, x, y, w, h, out)
        row = []
    if row:
        _place(row, x, y, w, h, out)
    return out


def _place(row: list[tuple[int, float]], x: float, y: float, w: float, h: float, out: list[Box]) -> Box:
    """Lay ``row`` along the shorter side; returns the box left."""
    s = sum(a for _, a in row)
    if w >= h:  # a column on the left, as wide as the row needs
        cw = s / h if h else 0.0
        cy = y
        for i, a in row:
            bh = a / cw if cw else 0.0
            out[i] = (x, cy, cw, bh)
            cy += bh
        return (x + cw, y, w - cw, h)
    rh = s / w if w else 0.0
    cx = x
    for i, a in row:
        bw = a / rh if rh else 0.0
        out[i] = (cx, y, bw, rh)
        cx += bw
    return (x, y + rh, w, h - rh)
