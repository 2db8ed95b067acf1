"""SVG drawn as text: the report's charts are inline ``<svg>`` elements (no JavaScript, no library).

Every chart is a ``Chart``: a viewBox in user units that the page scales to its width (``width: 100%``),
rectangles and text, each shape with a ``<title>`` (the browser's own tooltip, also read by screen
readers). Kinds are CSS classes (``k-anonymous``...) whose fills come from ``memtype.kinds.ROW_COLOURS``
in one ``<style>`` per chart, so a chart saved on its own (``--svg DIR``) keeps its colours.

Coordinates are rounded to 0.1 unit: a 1000-unit-wide chart has no use for more, and it keeps the
file small (the report's budget is 1 MiB at 1000 processes).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from memtype.kinds import ROW_COLOURS
from memtype.output.human import size

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"  # local fonts only: no web font
# Classes that are not rows of `memtype system`: fork families' and reclaim's parts (Okabe-Ito again).
EXTRA_COLOURS = {"copied": "#D55E00", "still": "#E69F00", "own": "#F5C396", "drop": "#56B4E9", "writeback": "#F0E442",
                 "never": "#6E6E6E", "room": "#E4E4E4", "none": "#BDBDBD"}
FILLS = {**ROW_COLOURS, **EXTRA_COLOURS}
_STYLE = ("text{font-family:" + FONT + ";font-size:14px;fill:currentColor}"
          ".lbl{font-size:13px}.dim{opacity:.7}.axis{stroke:currentColor;stroke-opacity:.3;fill:none}"
          ".edge{stroke:#fff;stroke-width:.5}"
          + "".join(f".k-{rid}{{fill:{colour}}}" for rid, colour in FILLS.items()))


def esc(text: object) -> str:
    """Text for an element or a quoted attribute."""
    return escape(str(text), quote=True)


def num(x: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    r = round(x, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def attrs(data: Mapping[str, object] | None) -> str:
    """``data-*`` attributes (a test reads the numbers from the DOM; None is written as "null")."""
    if not data:
        return ""
    return "".join(f' data-{k}="{esc("null" if v is None else v)}"' for k, v in data.items())


class Chart:
    """One SVG: ``width`` x ``height`` user units, shapes appended in order, ``done()`` for the markup."""

    def __init__(self, name: str, width: float, height: float, label: str) -> None:
        self.name, self.width, self.height, self.label = name, width, height, label
        self.parts: list[str] = []
        self.keys: list[tuple[str, str]] = []  # (class, label) of the key (``legend``)
        self.notes: list[str] = []  # lines under the chart

    def rect(self, x: float, y: float, w: float, h: float, cls: str, title: str | None = None,
             data: Mapping[str, object] | None = None) -> None:
        if w <= 0 or h <= 0:
            return
        body = f"<title>{esc(title)}</title></rect>" if title else "/>"
        self.parts.append(f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" class="{cls}"'
                          f'{attrs(data)}' + (">" + body if title else body))

    def text(self, x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> None:
        a = "" if anchor == "start" else f' text-anchor="{anchor}"'
        c = f' class="{cls}"' if cls else ""
        self.parts.append(f'<text x="{num(x)}" y="{num(y)}"{a}{c}>{esc(text)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.parts.append(f'<path class="axis" d="M{num(x1)} {num(y1)}H{num(x2)}"/>' if y1 == y2 else
                          f'<path class="axis" d="M{num(x1)} {num(y1)}L{num(x2)} {num(y2)}"/>')

    def path(self, d: str, cls: str, title: str | None = None, data: Mapping[str, object] | None = None) -> None:
        tip = f"<title>{esc(title)}</title></path>" if title else "/>"
        self.parts.append(f'<path d="{d}" class="{cls}"{attrs(data)}' + (">" + tip if title else tip))

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def done(self, standalone: bool = False) -> str:
        """The ``<svg>`` element; ``standalone``: a file of its own: the XML namespace, a white background,
        its title, key and notes drawn under it."""
        if not standalone:
            return (f'<svg viewBox="0 0 {num(self.width)} {num(self.height)}" role="img" '
                    f'aria-label="{esc(self.label)}" data-chart="{esc(self.name)}" class="chart">'
                    f"<style>{_STYLE}</style>" + "".join(self.parts) + "</svg>")
        extra: list[str] = []
        x, y = 0.0, self.height + 22
        for cls, label in self.keys:
            w = 20 + 7.4 * len(label)
            if x + w > self.width and x > 0:
                x, y = 0.0, y + 20
            extra.append(f'<rect x="{num(x)}" y="{num(y - 11)}" width="12" height="12" class="{cls}"/>')
            extra.append(f'<text x="{num(x + 17)}" y="{num(y)}" class="lbl">{esc(label)}</text>')
            x += w + 12
        for line in [self.label, *self.notes]:
            y += 20
            extra.append(f'<text x="0" y="{num(y)}" class="lbl dim">{esc(line)}</text>')
        height = y + 8
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {num(self.width)} {num(height)}" '
                f'role="img" aria-label="{esc(self.label)}"><style>{_STYLE}</style>'
                f'<rect width="{num(self.width)}" height="{num(height)}" fill="#fff"/>'
                + "".join(self.parts + extra) + "</svg>")

    def key_html(self) -> str:
        """The key and notes as HTML, under the inline chart."""
        keys = "".join(f'<span class="key"><span class="sw {esc(cls)}"></span>{esc(label)}</span>'
                       for cls, label in self.keys)
        out = f'<p class="legend">{keys}</p>' if keys else ""
        return out + "".join(f'<p class="note">{esc(n)}</p>' for n in self.notes)


def legend(chart: Chart, items: list[tuple[str, str, int | None]], total: int | None = None,
           sizes: bool = True) -> None:
    """The chart's key: swatches with their names and sizes (and share of ``total``; ``sizes`` False:
    names only). The names make colour never the only cue. Inline, the page writes the key as HTML
    under the chart (it wraps and stays legible at a phone's width); a standalone SVG draws it."""
    for cls, name, value in items:
        share = "" if not total or value is None else " <0.1%" if 0 < value * 1000 < total * 1 else \
            f" {100 * value / total:.1f}%"
        label = name if not sizes else f"{name} {size(value)}{share}" if value is not None else f"{name}: unknown"
        chart.keys.append((cls, label))
