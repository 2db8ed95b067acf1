"""The report's charts, each an ``svg.Chart``: bars that sum to a whole, stacked bars by kind, a treemap
and stacked areas over time. Pure functions of numbers; the sections (``sections.py``) choose them.

Every segment carries its bytes in ``data-bytes`` (and what it is in ``data-row``/``data-kind``), so a
test reads the figures out of the DOM and compares them with ``--format json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memtype.output.human import size
from memtype.report.svg import Chart, attrs, esc, legend, num
from memtype.report.treemap import squarify

W = 1000.0  # user units across every chart; the page scales them to its width


def whole_bar(name: str, label: str, parts: Sequence[tuple[str, str, int | None]], total: int,
              note: str = "") -> Chart:
    """One bar across the width for ``total`` bytes, a segment per known part (id, title, bytes), then a
    legend naming each part (unknown ones say so); the parts are expected to add up to ``total``."""
    c = Chart(name, W, 0, label)
    c.raw(f'<g data-total="{total}">')
    x, top, h = 0.0, 4.0, 34.0
    for pid, title, value in parts:
        if value is None or value <= 0 or total <= 0:
            continue
        w = W * value / total
        c.rect(x, top, w, h, f"k-{pid} edge", f"{title}: {size(value)} ({100 * value / total:.1f}%)",
               {"row": pid, "bytes": value})
        if w > 50:
            c.text(x + 4, top + 23, size(value), "lbl seg")
        x += w
    c.raw("</g>")
    legend(c, [(f"k-{pid}", title, value) for pid, title, value in parts], total)
    if note:
        c.notes.append(note)
    c.height = top + h + 4
    return c


def stacked_rows(name: str, label: str, rows: Sequence[tuple[str, Mapping[str, int], Mapping[str, object]]],
                 order: Sequence[str], titles: dict[str, str], unit_note: str) -> Chart:
    """One horizontal bar per row (label, parts by id, data attributes), parts stacked in ``order``,
    scaled to the largest row; the row's total at its end."""
    label_w, row_h, gap = 250.0, 22.0, 5.0
    biggest = max((sum(parts.values()) for _, parts, _ in rows), default=0)
    c = Chart(name, W, 0, label)
    y = 4.0
    for text, parts, data in rows:
        total = sum(parts.values())
        c.raw(f'<g class="row"{attrs(data)}>')
        c.text(label_w - 6, y + 16, _clip(text, 32), "lbl", "end")
        x = label_w
        span = W - label_w - 60
        for kid in order:
            v = parts.get(kid, 0)
            if v <= 0 or biggest <= 0:
                continue
            w = span * v / biggest
            c.rect(x, y, w, row_h, f"k-{kid}", f"{text}: {titles.get(kid, kid)} {size(v)}", {"kind": kid, "bytes": v})
            x += w
        c.text(x + 5, y + 16, size(total), "lbl")
        c.raw("</g>")
        y += row_h + gap
    if rows:
        legend(c, [(f"k-{k}", titles.get(k, k), None) for k in order], sizes=False)
    c.notes.append(unit_note)
    c.height = y + 2
    return c


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class Node:
    """A treemap node: ``name``, children or (for a leaf) a kind and bytes; ``tip`` the tooltip's path."""

    __slots__ = ("name", "children", "kind", "value", "tip")

    def __init__(self, name: str, children: list[Node] | None = None, kind: str = "", value: int = 0,
                 tip: str = "") -> None:
        self.name, self.children, self.kind, self.value, self.tip = name, children or [], kind, value, tip

    def total(self) -> int:
        return self.value if not self.children else sum(c.total() for c in self.children)


def treemap(name: str, label: str, root: Node, height: float = 560.0) -> Chart:
    """A squarified treemap of ``root``: each level's children tile their parent's box (a 14-unit header
    strip names a group when it is big enough); leaves are coloured by kind."""
    c = Chart(name, W, height, label)
    _tile(c, root, 0.0, 0.0, W, height, 0)
    return c


def _tile(c: Chart, node: Node, x: float, y: float, w: float, h: float, depth: int) -> None:
    kids = sorted((k for k in node.children if k.total() > 0), key=lambda k: -k.total())
    boxes = squarify([float(k.total()) for k in kids], x, y, w, h)
    for k, (bx, by, bw, bh) in zip(kids, boxes):
        if bw < 0.3 or bh < 0.3:
            continue
        if not k.children:
            c.rect(bx, by, bw, bh, f"k-{k.kind} edge", f"{k.tip}: {k.kind} {size(k.value)}",
                   {"kind": k.kind, "bytes": k.value} if bw * bh > 60 else None)
            continue
        head = 14.0 if bh > 40 and bw > 60 else 0.0
        c.raw(f'<g class="tm" data-node="{esc(k.name)}">')
        if head:
            c.rect(bx, by, bw, head, "k-none", f"{k.tip or k.name}: {size(k.total())}")
            c.text(bx + 3, by + 11, _clip(f"{k.name} {size(k.total())}", max(3, int(bw / 6.4))), "lbl tmh")
        _tile(c, k, bx + (1 if head else 0), by + head, bw - (2 if head else 0), bh - head - (1 if head else 0),
              depth + 1)
        c.raw("</g>")


def areas(name: str, label: str, walls: Sequence[float], series: dict[str, list[int | None]], order: Sequence[str],
          titles: dict[str, str], ticks: Sequence[tuple[float, str]], height: float = 260.0,
          top: int | None = None) -> Chart:
    """Stacked areas over time: one band per series id (``order``: bottom first), x by wall time, y by
    bytes up to ``top`` (default: the largest stack). An unknown value (None) counts as 0 in the stack
    and is said in the legend."""
    left, bottom = 70.0, 22.0
    c = Chart(name, W, height + bottom + 10, label)
    n = len(walls)
    t0, t1 = (walls[0], walls[-1]) if n else (0.0, 1.0)
    span = (t1 - t0) or 1.0
    stack = [0] * n
    peak = top if top is not None else max((sum((series[s][i] or 0) for s in order if s in series)
                                            for i in range(n)), default=0)
    peak = peak or 1

    def px(i: int) -> float:
        return left + (W - left - 8) * ((walls[i] - t0) / span if n > 1 else 0.5)

    def py(v: int) -> float:
        return 10 + height * (1 - v / peak)

    for sid in order:
        vals = series.get(sid)
        if not vals or not any(vals):
            continue
        lower = list(stack)
        upper = [lower[i] + (vals[i] or 0) for i in range(n)]
        pts = [f"{num(px(i))} {num(py(upper[i]))}" for i in range(n)]
        back = [f"{num(px(i))} {num(py(lower[i]))}" for i in reversed(range(n))]
        if n == 1:  # one sample: a thin column
            x = px(0)
            pts = [f"{num(x - 3)} {num(py(upper[0]))}", f"{num(x + 3)} {num(py(upper[0]))}"]
            back = [f"{num(x + 3)} {num(py(lower[0]))}", f"{num(x - 3)} {num(py(lower[0]))}"]
        last = vals[-1]
        c.path("M" + "L".join(pts + back) + "Z", f"k-{sid}", f"{titles.get(sid, sid)}: last {size(last)}",
               {"series": sid, "last": last})
        stack = upper
    for frac in (0.0, 0.5, 1.0):
        yv = 10 + height * (1 - frac)
        c.line(left, yv, W - 8, yv)
        c.text(left - 6, yv + 4, size(int(peak * frac)), "lbl", "end")
    for i, (t, text) in enumerate(ticks):
        x = left + (W - left - 8) * ((t - t0) / span)
        anchor = "start" if i == 0 else "end" if i == len(ticks) - 1 else "middle"
        c.text(x, height + 28, text, "lbl", anchor)
    return c
