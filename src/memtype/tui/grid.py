"""The process table widget: a DataTable kept in step with the lines in place, not rebuilt per tick.

Rebuilding a 1000-row DataTable every tick costs about 250 ms of CPU here (Textual measures every new
cell, ``DataTable._update_dimensions``; textual#5273 and #1892 in landscape-next.md section 1.3), which
alone would take 12% of a core at a 2 s interval. So ``show`` only:

* updates the cells that changed (``update_cell(update_width=False)``: the columns have fixed widths,
  nothing to measure), skipping unchanged lines by a signature of what they show;
* adds the new lines and removes the gone ones (a mass change, a new filter, is one rebuild);
* reorders the rows in one ``sort`` by the lines' positions (carried by the PID cell, ``KeyedText``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from memtype.tui.rows import FIGURES, Line
from memtype.tui.table import Column, age_text, cells, spark, trend_cell

REBUILD_SHARE = 0.25  # more rows than this share added or removed at once: clear and add them all


class KeyedText(Text):
    """A cell that knows its line (the PID cell): ``DataTable.sort`` only sees cells."""

    line_key = ""


class ProcessGrid(DataTable[Text]):
    """Rows keyed by ``Line.key``; ``show`` makes them the given lines, in order."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", cell_padding=0, zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.signatures: dict[str, tuple[object, ...]] = {}
        self.shown_cells: dict[str, list[Text]] = {}
        self.order: list[str] = []
        self.column_keys: list[str] = []

    def set_columns(self, columns: Sequence[Column], headers: Sequence[Text]) -> None:
        """New columns (a new width or mode): everything is added again by the next ``show``."""
        self.clear(columns=True)
        for c, title in zip(columns, headers):
            self.add_column(title, width=c.width, key=c.key)
        self.column_keys = [c.key for c in columns]
        self.signatures.clear()
        self.shown_cells.clear()
        self.order = []

    def set_headers(self, headers: Sequence[Text]) -> None:
        for key, title in zip(self.column_keys, headers):
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None and column.label != title:
                column.label = title
                self._update_count += 1  # the header row's render cache is keyed on it
        self.refresh()

    def show(self, lines: Sequence[Line], columns: Sequence[Column], kind: str, *, changes_only: bool,
             history: dict[str, Sequence[int]]) -> None:
        """Make the rows ``lines``, in their order (``history``: PSS per line key, for the sparkline)."""
        wanted = {line.key for line in lines}
        gone = [k for k in self.order if k not in wanted]
        new = [line for line in lines if line.key not in self.signatures]
        if self.order and (len(gone) + len(new)) > REBUILD_SHARE * max(len(lines), len(self.order)):
            self.clear()
            self.signatures.clear()
            self.shown_cells.clear()
            self.order = []
            gone, new = [], list(lines)
        for key in gone:
            self.remove_row(key)
            del self.signatures[key]
            del self.shown_cells[key]
        trend = next((c.width for c in columns if c.key == "trend"), 0)
        for line in lines:
            h = history.get(line.key, ())
            signature = _signature(line, kind, changes_only)
            sparkline = spark(h, trend - 1) if trend else ""
            before = self.shown_cells.get(line.key)
            if before is not None and self.signatures.get(line.key) == signature:
                if trend and before[-1].plain != " " + sparkline:  # only the sparkline moved
                    cell = trend_cell(sparkline)
                    self.update_cell(line.key, "trend", cell, update_width=False)
                    before[-1] = cell
                continue
            row = cells(line, columns, kind, changes_only=changes_only, history=h)
            pid = KeyedText(row[0].plain, style=row[0].style, justify=row[0].justify, no_wrap=True)
            pid.line_key = line.key
            row[0] = pid
            if before is not None:
                for c, cell, old in zip(columns, row, before):
                    if cell != old:  # rich Text compares text and styles
                        self.update_cell(line.key, c.key, cell, update_width=False)
            else:
                self.add_row(*row, key=line.key)
            self.signatures[line.key] = signature
            self.shown_cells[line.key] = row
        order = [line.key for line in lines]
        if order != self.order or new:
            position = {k: i for i, k in enumerate(order)}
            self.sort(self.column_keys[0], key=lambda cell: position[cell.line_key])
            self.order = order


def _signature(line: Line, kind: str, changes_only: bool) -> tuple[object, ...]:
    """What the line's cells show but the sparkline: equal signatures draw the same cells."""
    return (kind, changes_only, line.pid, line.count, line.user, line.name, line.depth, bool(line.children),
            line.folded, line.state, age_text(line.age) if line.state and line.age is not None else None,
            tuple(line.values.get(f) for f in FIGURES),
            tuple(line.deltas.get(f) for f in FIGURES) if line.deltas else None)
