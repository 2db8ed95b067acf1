"""The terminal side of every table: one console factory, one table factory, and printing without the
spaces rich pads each line with (a table line ends where its last cell does)."""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


def make_console(width: int | None = None, file: Any = None) -> Console:
    """A console; a fixed width and no colour for golden tests and pipes."""
    return Console(width=width, file=file, highlight=False, soft_wrap=False,
                   no_color=file is not None, force_terminal=False if file is not None else None)


EDGES = 2  # SIMPLE_HEAD leaves one blank column at each side of a table


class FitTable(Table):
    """A table that fits the width it is given, the way memtype wants.

    rich lets a table of ``no_wrap`` columns run past the console, which then crops the line, in the
    middle of a number when the last column is one. Here the flexible columns (``ratio``: the text
    ones, such as "what it is") get the room the others leave and are cut with an ellipsis; the title
    is its own line, so it wraps at the console's width and not at the table's.
    """

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        title, self.title = self.title, None
        saved = [(c.width, c.ratio) for c in self.columns]
        try:
            if title:
                yield Text(str(title))
            flexible = [c for c in self.columns if c.ratio]
            if flexible:
                natural = [max([Measurement.get(console, options, c.header).maximum, c.min_width or 0]
                               + [Measurement.get(console, options, cell).maximum for cell in c.cells])
                           for c in self.columns]
                fixed = sum(w for c, w in zip(self.columns, natural) if not c.ratio)
                room = options.max_width - fixed - (len(self.columns) - 1) - EDGES
                shares = sum(c.ratio or 0 for c in flexible)
                for c, w in zip(self.columns, natural):
                    if c.ratio:
                        c.width = max(c.min_width or 1, min(w, room * c.ratio // shares))
                        c.ratio = None
            yield from super().__rich_console__(console, options)
        finally:
            self.title = title
            for c, (width, ratio) in zip(self.columns, saved):
                c.width, c.ratio = width, ratio


def new_table(title: str | None = None) -> Table:
    """The one table style: a rule under the header and one space between columns.

    SIMPLE_HEAD draws a one-space divider between columns, so cells get no padding on top of it.
    """
    return FitTable(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, padding=0)


def show(console: Console, renderable: RenderableType) -> None:
    """Print ``renderable`` with every line's trailing blanks removed (they are padding, not data)."""
    lines = console.render_lines(renderable, console.options, pad=False, new_lines=False)
    out: list[Segment] = []
    for line in lines:
        out.extend(_rstrip(line))
        out.append(Segment.line())
    console.print(Segments(out), crop=False, overflow="ignore", no_wrap=True)


def _rstrip(line: list[Segment]) -> list[Segment]:
    segments = list(line)
    while segments:
        last = segments[-1]
        if last.control or (last.style is not None and last.style.bgcolor is not None):
            break
        text = last.text.rstrip(" ")
        if text:
            segments[-1] = Segment(text, last.style)
            break
        segments.pop()
    return segments
