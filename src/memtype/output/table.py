"""Rich tables of records by field (style.md rule 8), laid out to the terminal's width.

Every column of sizes says what it measures: the kinds' columns carry a second header line ("RSS",
"PSS"), and the total rows say what they add. A sum of RSS over processes counts a page that N
processes share N times, so a table of several processes ends with two rows: ``sum`` (each column
added up) and ``PSS`` (the kinds' PSS, which count a shared page once and add up to the PSS total).

Nothing is cut by rich: ``layout`` drops the columns a table can spare, in a fixed order, until the
rest fits; text columns (names, paths) are cut by memtype with an ellipsis, never a number.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from rich.console import Group as RichGroup, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.kinds import KIND_COLOURS, KINDS
from memtype.model.group import total_of
from memtype.model.machine import MachineMemory
from memtype.model.records import Scan
from memtype.output.console import EDGES, make_console, new_table, show
from memtype.model.fields import Field, Registry
from memtype.model.fields_process import PROCESS
from memtype.output.human import UNITS_NOTE, cut, fit_path, percent, size
from memtype.output.system_table import machine_table

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Key", "header_line", "layout", "machine_table", "make_console", "overview", "rows_table", "show"]

LEGEND = ("Anon: private anonymous (heap, stack). Shared: shmem (memfd, /dev/shm, SysV, MAP_SHARED). "
          "CoW: copy-on-write (anon still shared after fork, KSM, unwritten private file pages). "
          "File: page cache. Device: driver pages (GPU, [vdso]). Meminfo has no anon CoW or Device figure: "
          "it counts anon CoW in anonymous and driver pages in unaccounted; its CoW row is the file part.")
SUM_NOTE = ("sum: each column added up; a page that N processes share is in N of their RSS. PSS: the kinds' "
            "PSS, a shared page divided among its processes; they add up to the PSS total.")
SIZE_WIDTH = 6  # a size column: "-99.9M" at most (output.human.size); the same in every table


class Key:
    """A text column beside the sizes: a header, how to read a row, and how it gives way to the width.

    ``drop``: 0 = always shown; otherwise columns with a higher number are dropped first when the
    table is too wide. ``shrink``: the narrowest it may be cut to (``path``: cut in the middle,
    keeping the file name; otherwise at the end); None = never cut.
    """

    __slots__ = ("header", "get", "right", "drop", "shrink", "path")

    def __init__(self, header: str, get: Callable[[Any], str], *, right: bool = False, drop: int = 0,
                 shrink: int | None = None, path: bool = False) -> None:
        self.header, self.get, self.right, self.drop, self.shrink, self.path = header, get, right, drop, shrink, path


class Column:
    """A column ready for ``layout``: header lines, cells, alignment and how it gives way."""

    __slots__ = ("header", "cells", "right", "drop", "shrink", "path", "width")

    def __init__(self, header: str, cells: list[str], *, right: bool, drop: int = 0, shrink: int | None = None,
                 path: bool = False, least: int = 0) -> None:
        self.header, self.cells, self.right = header, cells, right
        self.drop, self.shrink, self.path = drop, shrink, path
        self.width = max(least, *(len(line) for line in [*header.split("\n"), *cells]))

    @property
    def narrowest(self) -> int:
        return self.width if self.shrink is None else min(self.width, max(self.shrink, len(self.header_top)))

    @property
    def header_top(self) -> str:
        return self.header.split("\n", 1)[0]


def layout(columns: Sequence[Column], width: int | None) -> tuple[list[Column], list[str], int]:
    """Which columns fit in ``width``, and how wide each text column may be.

    Drops the droppable columns (highest ``drop`` first) until every column fits at its narrowest, then
    gives the room left to the text columns that were cut, left to right. Returns the columns kept, the
    headers dropped, and the width the whole table needs (for a "wider terminal" hint).
    """
    def need(cols: Sequence[Column], narrow: bool) -> int:
        return sum(c.narrowest if narrow else c.width for c in cols) + len(cols) - 1 + EDGES

    full = need(columns, narrow=False)
    kept = list(columns)
    dropped: list[str] = []
    if width is None:
        return kept, dropped, full
    for rank in sorted({c.drop for c in columns if c.drop}, reverse=True):
        if need(kept, narrow=True) <= width:
            break
        for c in [c for c in kept if c.drop == rank]:
            if need(kept, narrow=True) <= width:
                break
            kept.remove(c)
            dropped.append(c.header_top)
    room = width - need(kept, narrow=True)
    for c in kept:
        if c.shrink is not None:
            give = min(max(0, room), c.width - c.narrowest)
            c.width = c.narrowest + give
            room -= give
    return kept, dropped, full


def render_columns(columns: Sequence[Column], *, title: str | None, totals: int = 0) -> Table:
    """A table of laid-out columns; the last ``totals`` rows are a bold section of totals."""
    t = new_table(title)
    for c in columns:
        t.add_column(c.header, justify="right" if c.right else "left", no_wrap=True, width=c.width,
                     overflow="ellipsis", header_style=HEADER_STYLES.get(c.header_top))
    rows = len(columns[0].cells) if columns else 0
    for i in range(rows):
        is_total = i >= rows - totals
        if is_total and i == rows - totals:
            t.add_section()
        cells = []
        for c in columns:
            text = c.cells[i]
            if len(text) > c.width:
                text = fit_path(text, c.width) if c.path else cut(text, c.width)
            cells.append(Text(text))
        t.add_row(*cells, style="bold" if is_total else None)
    return t


def _measure_header(field: Field, measure: str) -> str:
    """Kinds' columns name their measure on a second header line ("Anon" over "RSS")."""
    kind = KINDS_BY_ID.get(field.id.split(".", 1)[0]) if "." in field.id else None
    return f"{kind.label}\n{measure}" if kind is not None else field.title


KINDS_BY_ID = {k.value: k for k in KINDS}
# A kind's column title in its colour (memtype.kinds.KIND_COLOURS: the report's and top's too).
HEADER_STYLES = {**{k.label: "bold " + KIND_COLOURS[k.value] for k in KINDS}, "Swap": "bold " + KIND_COLOURS["swap"]}


def value_text(field: Field, value: Any) -> str:
    """A field's value for people, by its unit: sizes as 70.3M, a percent or ratio with its %, "-" unknown."""
    if value is None:
        return "-"
    if field.unit == "bytes":
        return size(value)
    if field.unit == "ratio":
        return f"{100 * value:.1f}%"
    if field.unit == "percent":
        return f"{value:.2f}"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def rows_table(rows: Sequence[Any], keys: Sequence[Key], field_ids: Sequence[str], *,
               title: str, width: int | None, trailing: Sequence[Key] = (), drop: dict[str, int] | None = None,
               totals: str | None = "sum", label: int = -1, registry: Registry = PROCESS) -> RenderableType:
    """One row per item, figures right-aligned, then the total rows; cells are never read as markup.

    Args:
        keys: text columns before the figures; ``trailing``: after them (a path goes last).
        field_ids: the figures, fields of ``registry`` (titles and units from there); the kinds' ones
            are their ``.rss`` or ``.pss``.
        drop: field id -> drop rank (see ``Key``); sizes not named are always shown.
        totals: "total" (one exact row: the rows do not share pages, e.g. one process's mappings),
            "sum" (rows of several processes: the column sums, then the kinds' PSS), or None.
        label: which text column holds the total rows' labels (index into keys + trailing).
        title: the title; what was dropped for want of room is added to it.
    """
    drop = drop or {}
    texts = list(keys) + list(trailing)
    measure = "PSS" if any(f.endswith(".pss") for f in field_ids) else "RSS"
    body_keys = [[k.get(r) for r in rows] for k in texts]
    fields = [registry[f] for f in field_ids]
    body_sizes = [[value_text(f, f.get(r)) for r in rows] for f in fields]
    labels: list[str] = []
    if rows and totals is not None:
        tot = total_of(rows)
        if totals == "sum" and len(rows) > 1:
            labels = ["sum", "PSS"]
            for f, cells in zip(fields, body_sizes):
                pss_row = _pss_of(f.id)
                cells.append("" if f.id == "pss" else value_text(f, f.get(tot)))
                cells.append(value_text(PROCESS[pss_row], PROCESS[pss_row].get(tot)) if pss_row else "")
        else:
            labels = ["total"]
            for f, cells in zip(fields, body_sizes):
                cells.append(value_text(f, f.get(tot)))
    where = label % len(texts) if texts else 0
    for i, cells in enumerate(body_keys):
        cells.extend(labels if i == where else [""] * len(labels))
    cols = [Column(k.header, cells, right=k.right, drop=k.drop, shrink=k.shrink, path=k.path)
            for k, cells in zip(keys, body_keys[: len(keys)])]
    cols += [Column(_measure_header(f, measure), cells, right=True, drop=drop.get(f.id, 0), least=SIZE_WIDTH)
             for f, cells in zip(fields, body_sizes)]
    cols += [Column(k.header, cells, right=k.right, drop=k.drop, shrink=k.shrink, path=k.path)
             for k, cells in zip(trailing, body_keys[len(keys):])]
    kept, dropped, full = layout(cols, width)
    table = render_columns(kept, title=title, totals=len(labels))
    notes = UNITS_NOTE + (" " + SUM_NOTE if len(labels) == 2 else "")
    if dropped:
        notes += f" Not shown for want of room: {', '.join(dropped)} ({full}+ columns)."
    return RichGroup(table, Text(notes, style="dim"))


def _pss_of(fid: str) -> str | None:
    """The PSS counterpart of a column for the PSS total row: the kinds' and the total's."""
    if fid == "pss":
        return "pss"
    if fid.split(".", 1)[0] in KINDS_BY_ID and (fid.endswith(".rss") or fid.endswith(".pss")):
        return fid.rsplit(".", 1)[0] + ".pss"
    return None


def header_line(scan: Scan, mm: MachineMemory | None, command: str = "") -> Text:
    """"memtype · host · Linux 6.1 · 16G RAM · live" on one line: an unknown host is left out, and a
    long capture name is cut to the console's width."""
    h = scan.host
    parts = ["memtype" + (f" {command}" if command else "")]
    if h.hostname:
        parts.append(h.hostname)
    parts.append(f"Linux {h.kernel or '?'}")
    if mm is not None:
        parts.append(f"{size(mm.total)} RAM")
    if h.live:
        parts.append("live")
    else:
        parts.append(f"capture {os.path.basename(h.root.rstrip('/'))}" + (f" of {h.captured_at}" if h.captured_at else ""))
    return Text(" · ".join(parts), style="bold", no_wrap=True, overflow="ellipsis")


PROCESS_KEYS: list[Key] = [
    Key("PID", lambda p: str(p.pid), right=True),
    Key("Name", lambda p: p.comm, shrink=8),
]


def overview(scan: Scan, mm: MachineMemory, top: int, width: int | None = None) -> RenderableType:
    """The main screen: the machine by kind, then the top processes by PSS with one column per kind."""
    procs = sorted(scan.processes, key=lambda p: p.totals.pss, reverse=True)
    shown = procs[:top]
    title = f"Top {len(shown)} of {len(procs)} processes by PSS; the kinds add up to PSS"
    ids = ["pss"] + [f"{k.value}.pss" for k in KINDS] + ["swap"]
    texts = [[k.get(p) for p in shown] for k in PROCESS_KEYS]
    fields = [PROCESS[f] for f in ids]
    sizes = [[size(f.get(p)) for p in shown] for f in fields]
    if procs:  # every process, not only those shown: the PSS of all of them, split by kind
        all_tot = total_of(procs)
        texts[0].append("")
        texts[1].append(f"all {len(procs)}")
        for f, cells in zip(fields, sizes):
            cells.append(size(f.get(all_tot)))
    cols = [Column(k.header, cells, right=k.right, shrink=k.shrink) for k, cells in zip(PROCESS_KEYS, texts)]
    cols += [Column(_measure_header(f, "PSS"), cells, right=True, least=SIZE_WIDTH) for f, cells in zip(fields, sizes)]
    kept, _, _ = layout(cols, width)
    t = render_columns(kept, title=title, totals=1 if procs else 0)
    legend = Text(LEGEND + " " + UNITS_NOTE, style="dim")
    return RichGroup(header_line(scan, mm), machine_table(mm), t, legend)
