"""HTML tables of the report: readable without JavaScript; the page's small script sorts them by a column
(``data-key`` of a header names the row attribute holding the raw value, so sizes sort as numbers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memtype.report.svg import attrs, esc


class Col:
    """A column: its title, the row attribute it sorts by (``data-KEY``), right-aligned if ``num``, and the
    kind whose colour marks its title."""

    __slots__ = ("title", "key", "num", "kind")

    def __init__(self, title: str, key: str, *, num: bool = False, kind: str = "") -> None:
        self.title, self.key, self.num, self.kind = title, key, num, kind


def table(name: str, cols: Sequence[Col], rows: Sequence[tuple[Mapping[str, object], Sequence[str]]],
          caption: str = "", foot: Sequence[tuple[Mapping[str, object], Sequence[str]]] = ()) -> str:
    """A sortable table; each row is (its data attributes, its cells' text); ``foot``: rows that stay last
    (a remainder, a total) whatever the order."""
    head = "".join("<th" + (f' data-key="{esc(c.key)}"' if c.key else "") + (' class="n"' if c.num else "") + ">"
                   + (f'<span class="sw k-{c.kind}"></span>' if c.kind else "") + f"{esc(c.title)}</th>" for c in cols)
    nums = [c.num for c in cols]

    def lines(items: Sequence[tuple[Mapping[str, object], Sequence[str]]]) -> str:
        return "".join(f"<tr{attrs(d)}>" + "".join(("<td class=n>" if n else "<td>") + esc(t)
                                                   for n, t in zip(nums, cells))
                       + "</tr>" for d, cells in items)  # </td> may be left out (HTML): bytes saved per cell

    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    tfoot = f"<tfoot>{lines(foot)}</tfoot>" if foot else ""
    return (f'<div class="tw"><table class="sortable" data-table="{esc(name)}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{lines(rows)}</tbody>{tfoot}</table></div>")
