"""The process table widget: Textual's Line API over the lines, drawing only the rows on screen.

Why not ``DataTable``: at 1000 processes it cost about 250 ms of CPU per tick rebuilt (it measures
every new cell, ``_update_dimensions``), and still 60-120 ms updated in place, most of it rendering
the visible cells again after any update (its row cache is keyed on a table-wide update count) and
measuring the rows of newly read processes (textual#5273, #1892, #5959: landscape-next.md section
1.3). Here a row is made into a ``Strip`` when it is drawn, again only after a change of what it
shows (its ``signature``), and only the rows on screen are drawn: a tick costs a signature per line
and the changed rows that are visible.

It keeps DataTable's manners: a header row (a click on a title posts ``HeaderClicked``), a row cursor
moved by the arrow keys, Page Up/Down, Home/End and the mouse (a click on the cursor row posts
``RowActivated``, as Enter does in the app), and the cursor follows its line when the order changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from memtype.tui.feed import BIG, WAITING
from memtype.tui.rows import FIGURES, Line
from memtype.tui.table import Column, age_text, cells, spark, trend_cell

MARKED = (WAITING, BIG)  # the states a line shows (with its age); others draw as fresh
CURSOR = Style(reverse=True)
HEADER = Style(bold=True, underline=True)


@lru_cache(maxsize=256)
def _style(style: str | Style) -> Style:
    return style if isinstance(style, Style) else Style.parse(style) if style else Style()


def text_segments(text: Text, width: int, right: bool, under: Style) -> list[Segment]:
    """One cell: ``text`` cut (with an ellipsis) or padded to ``width`` cells, as segments over the
    widget's own style ``under`` (its colours)."""
    t = text.copy()
    if t.cell_len > width:
        t.truncate(width, overflow="ellipsis")
    t.align("right" if right else "left", width)
    base = under + _style(t.style)
    plain = t.plain
    out: list[Segment] = []
    at = 0
    for span in sorted(t.spans, key=lambda s: s.start):
        if span.start > at:
            out.append(Segment(plain[at:span.start], base))
        if span.end > span.start:
            out.append(Segment(plain[span.start:span.end], base + _style(span.style)))
        at = max(at, span.end)
    if at < len(plain):
        out.append(Segment(plain[at:], base))
    return out


class ProcessGrid(ScrollView, can_focus=True):
    """Rows keyed by ``Line.key`` under a header; ``show`` makes them the given lines, in order."""

    DEFAULT_CSS = "ProcessGrid { height: 1fr; }"
    BINDINGS = [Binding("up", "cursor(-1)", show=False), Binding("down", "cursor(1)", show=False),
                Binding("pageup", "page(-1)", show=False), Binding("pagedown", "page(1)", show=False),
                Binding("home", "cursor(-1000000000)", show=False), Binding("end", "cursor(1000000000)", show=False)]
    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class HeaderClicked(Message):
        """A click on a column's title."""

        def __init__(self, column_key: str) -> None:
            super().__init__()
            self.column_key = column_key

    class RowActivated(Message):
        """A click on the cursor's row (Enter, in the app)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.columns: list[Column] = []
        self.headers: list[Text] = []
        self.lines: list[Line] = []
        self.strips: dict[str, tuple[tuple[object, ...], Strip | None]] = {}
        self.kind, self.changes_only = "narrow", False
        self.row_cells: dict[str, list[Text]] = {}
        self.sparks: dict[str, tuple[str, Strip]] = {}
        self.history: dict[str, Sequence[int]] = {}
        self.trend = 0
        self.width_used = 0

    # -- data -------------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.lines)

    def set_columns(self, columns: Sequence[Column], headers: Sequence[Text]) -> None:
        self.columns, self.headers = list(columns), list(headers)
        self.width_used = sum(c.width for c in columns)
        self.strips.clear()
        self.row_cells.clear()
        self.sparks.clear()
        self.refresh()

    def set_headers(self, headers: Sequence[Text]) -> None:
        if [h.plain for h in headers] != [h.plain for h in self.headers]:
            self.headers = list(headers)
            self.refresh_line(0)

    def show(self, lines: Sequence[Line], columns: Sequence[Column], kind: str, *, changes_only: bool,
             history: dict[str, Sequence[int]]) -> None:
        """Make the rows ``lines``, in their order (``history``: PSS per line key, for the sparkline).

        A row's strip is made when it is first drawn, and again only when what it shows changed (its
        signature): rows off screen cost their signature alone. The sparkline is a strip of its own
        (it moves every tick while the figures often stand still)."""
        self.kind, self.changes_only = kind, changes_only
        under = self.rich_style
        keep: dict[str, tuple[tuple[object, ...], Strip | None]] = {}
        for line in lines:
            signature = _signature(line, kind, changes_only, under)
            old = self.strips.get(line.key)
            keep[line.key] = old if old is not None and old[0] == signature else (signature, None)
            if keep[line.key] is not old:
                self.row_cells.pop(line.key, None)
        for key in self.strips.keys() - keep.keys():
            self.row_cells.pop(key, None)
            self.sparks.pop(key, None)
        self.strips, self.history = keep, history
        self.trend = next((c.width for c in columns if c.key == "trend"), 0)
        self.lines = list(lines)
        self.virtual_size = Size(self.width_used, len(lines) + 1)
        if self.cursor_row >= len(lines):
            self.cursor_row = max(0, len(lines) - 1)
        self.refresh()

    def _cells(self, index: int) -> list[Text]:
        line = self.lines[index]
        row = self.row_cells.get(line.key)
        if row is None:
            row = self.row_cells[line.key] = cells(line, self.columns, self.kind, changes_only=self.changes_only,
                                                   history=self.history.get(line.key, ()))
        return row

    def _row_strip(self, index: int) -> Strip:
        key = self.lines[index].key
        signature, strip = self.strips[key]
        if strip is None:
            row = self._cells(index)
            strip = self._strip(row[:-1] if self.trend else row, self.rich_style)
            self.strips[key] = (signature, strip)
        return strip

    def _strip(self, row: Sequence[Text], under: Style) -> Strip:
        segments: list[Segment] = []
        for c, cell in zip(self.columns, row):
            segments.extend(text_segments(cell, c.width, c.right, under))
        return Strip(segments, sum(c.width for c in self.columns[:len(row)]))

    def _spark(self, key: str) -> Strip:
        sparkline = spark(self.history.get(key, ()), self.trend - 1)
        was = self.sparks.get(key)
        if was is None or was[0] != sparkline:
            was = self.sparks[key] = (sparkline, Strip(text_segments(trend_cell(sparkline), self.trend, False,
                                                                     self.rich_style), self.trend))
        return was[1]

    def cells_at(self, index: int) -> list[str]:
        """The text of row ``index``'s cells (tests, and whoever reads the table)."""
        key = self.lines[index].key
        shown = [c.plain for c in self._cells(index)]
        if self.trend:
            shown[-1] = " " + spark(self.history.get(key, ()), self.trend - 1)
        return shown

    # -- drawing ------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = int(self.scroll_offset.x), int(self.scroll_offset.y)
        if y == 0:
            segments: list[Segment] = []
            for c, title in zip(self.columns, self.headers):
                segments.extend(text_segments(title, c.width, c.right, self.rich_style))
            strip = Strip(segments, self.width_used)
        else:
            index = scroll_y + y - 1
            if index >= len(self.lines):
                return Strip.blank(width, self.rich_style)
            key = self.lines[index].key
            strip = self._row_strip(index)
            if self.trend:  # drawn for the rows on screen only
                strip = Strip.join([strip, self._spark(key)])
            if index == self.cursor_row and self.has_focus_within:
                strip = strip.apply_style(CURSOR)
            elif index == self.cursor_row:
                strip = strip.apply_style(Style(underline=True))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # -- the cursor ---------------------------------------------------------------------------------------

    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        self.cursor_row = max(0, min(row, len(self.lines) - 1))
        if scroll:
            self._scroll_to_cursor()

    def watch_cursor_row(self, old: int, new: int) -> None:
        top = int(self.scroll_offset.y)
        for index in (old, new):
            self.refresh_line(index - top + 1)

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step * max(1, self.size.height - 2))

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            x = event.x + int(self.scroll_offset.x)
            for c in self.columns:
                if x < c.width:
                    self.post_message(self.HeaderClicked(c.key))
                    return
                x -= c.width
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if 0 <= index < len(self.lines):
            if index == self.cursor_row:
                self.post_message(self.RowActivated(index))
            self.move_cursor(row=index, scroll=False)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


def _signature(line: Line, kind: str, changes_only: bool, under: Style) -> tuple[object, ...]:
    """What the line's cells but the sparkline show: equal signatures draw the same row."""
    return (kind, changes_only, under, line.pid, line.count, line.user, line.name, line.depth, bool(line.children),
            line.folded, line.state in MARKED,
            age_text(line.age) if line.state in MARKED and line.age is not None else None,
            tuple(line.values.get(f) for f in FIGURES),
            tuple(line.deltas.get(f) for f in FIGURES) if line.deltas else None)
