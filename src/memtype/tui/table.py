"""The process table's columns for a terminal width, and its cells as rich ``Text``. No Textual here.

Three layouts, chosen by width (``layout``):

* narrow (80 columns): PID, user, name, then PSS, each kind's PSS and SwapPSS, each followed by one
  mark of its change since the last tick (``▲`` grew, ``▼`` shrank); ``d`` shows the changes
  themselves in place of the figures;
* medium (from 96): the same plus a sparkline of PSS;
* wide (from 136): every figure with its change beside it (``495M +2.1M``), the sparkline, and room
  for the name.

Titles come from the field registry (``rows.figure_fields``); the kinds' titles drop their " pss"
(the title line says the kinds are PSS). A stale line (the sampler's ``waiting``: the process changed
since its smaps was read, and the read waits for the CPU budget) is dimmed and its age follows the name
(``12s``); a big process whose smaps is read only every few minutes (``big``) has its age and ``*``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from memtype.output.human import size
from memtype.tui.feed import BIG, WAITING
from memtype.tui.rows import Line, figure_fields

SPARKS = "▁▂▃▄▅▆▇█"
NARROW_FIGURE, WIDE_FIGURE = 7, 13
WIDE_VALUE = 6  # a wide figure: " " + its size in 6 cells + " " + its change in 5-6 cells  # cells: a leading space, a size (<= 6 with a sign), a mark or a change
MEDIUM_WIDTH, WIDE_WIDTH = 96, 136
SPARK_WIDTH = 9
MAX_INDENT = 8  # tree levels indented; deeper ones stay at that depth (the name keeps some room)


GPU_FIGURE = "gpu.vram"  # the process registry's field (model/fields_process.py)


class Column:
    """One column: ``key`` (the sort key: a figure id, pid, user, name, trend), title, width."""

    __slots__ = ("key", "title", "width", "right")

    def __init__(self, key: str, title: str, width: int, right: bool = True) -> None:
        self.key, self.title, self.width, self.right = key, title, width, right

    def __repr__(self) -> str:
        return f"Column({self.key!r}, {self.width})"


def layout(width: int, mode: str, gpu: bool = False) -> tuple[str, list[Column]]:
    """("narrow" | "medium" | "wide", the columns) for a table ``width`` cells wide (scrollbar excluded).
    ``gpu``: a GPU column (VRAM, ``gpu.vram``) after the figures, per process, where the model has GPU data;
    it is not one of the figures that add up to PSS."""
    kind = "wide" if width >= WIDE_WIDTH else "medium" if width >= MEDIUM_WIDTH else "narrow"
    fig = WIDE_FIGURE if kind == "wide" else NARROW_FIGURE
    figures = [Column(f.id, short_title(f.id, f.title), fig) for f in figure_fields(mode)]
    if gpu and mode == "process":
        figures.append(Column(GPU_FIGURE, "GPU", fig))
    grouped = mode != "process"
    head = [Column("pid", "Procs" if grouped else "PID", 7 if kind == "wide" else 6)]
    user = Column("user", "User", 10 if kind == "wide" else 8, right=False)
    spark = [Column("trend", "Trend", SPARK_WIDTH + (4 if kind == "wide" else 0), right=False)] \
        if kind != "narrow" else []
    used = sum(c.width for c in (*head, user, *figures, *spark))
    name = Column("name", mode.capitalize() if grouped and mode != "user" else "Name",
                  max(12, width - used), right=False)
    columns = [*head, name, *figures, *spark] if mode == "user" else [*head, user, name, *figures, *spark]
    return kind, columns


def short_title(field_id: str, title: str) -> str:
    """The registry's title, less the PSS the title line states once (``Anon pss``: Anon, ``SwapPSS``: Swap)."""
    return title if field_id == "pss" else title.removesuffix(" pss").removesuffix("PSS")


def spark(history: Sequence[int], width: int) -> str:
    """The last ``width`` values as block characters, scaled between their own low and high."""
    values = list(history)[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[0 if high == 0 else 3] * len(values)
    step = (high - low) / (len(SPARKS) - 1)
    return "".join(SPARKS[round((v - low) / step)] for v in values)


def trend_cell(sparkline: str) -> Text:
    return Text(" " + sparkline, style="cyan", no_wrap=True, overflow="ellipsis", justify="left")


def signed(n: int | None) -> str:
    if n is None:
        return "new"
    if n == 0:
        return ""
    return ("+" if n > 0 else "") + size(n)


def age_text(age: float) -> str:
    return f"{age:.0f}s" if age < 99.5 else f"{age / 60:.0f}m" if age < 5970 else f"{age / 3600:.0f}h"


def cells(line: Line, columns: Sequence[Column], kind: str, *, changes_only: bool,
          history: Sequence[int] = ()) -> list[Text]:
    """The line's cells, one per column."""
    stale = line.state == WAITING
    dim = "dim" if stale else ""
    out = []
    for c in columns:
        if c.key == "pid":
            text = Text(str(line.pid) if line.pid is not None else str(line.count), style=dim)
        elif c.key == "user":
            text = Text(" " + line.user, style=dim)
        elif c.key == "name":
            text = _name(line, stale, c.width)
        elif c.key == "trend":
            text = trend_cell(spark(history, c.width - 1))
        else:
            text = _figure(line, c.key, kind, changes_only, dim)
        text.no_wrap = True
        text.overflow = "ellipsis"
        text.justify = "right" if c.right else "left"
        out.append(text)
    return out


def _name(line: Line, stale: bool, width: int) -> Text:
    text = Text(" " + "  " * min(line.depth, MAX_INDENT))  # a child's name starts under its parent's
    if line.children:
        text.append("▸ " if line.folded else "▾ ", style="bold")
    text.append(line.name)
    if line.folded:
        text.append(f" +{line.count - 1}", style="dim")
    big = line.state == BIG
    if big or stale:
        mark = (age_text(line.age) if line.age is not None else "") + ("*" if big else "")
        room = width - len(mark) - 1
        if text.cell_len > room:
            text.truncate(max(room, 4), overflow="ellipsis")
        text.append(" " + mark, style="yellow")
    return text


def _figure(line: Line, fid: str, kind: str, changes_only: bool, dim: str) -> Text:
    value = line.values.get(fid)
    delta = line.deltas.get(fid) if line.deltas else 0
    has_delta = bool(line.deltas) and fid in line.deltas
    grew = "red" if delta and delta > 0 else "green" if delta and delta < 0 else ""
    if kind == "wide":
        text = Text(size(value).rjust(WIDE_VALUE), style=dim)
        change = signed(delta) if has_delta else ""
        text.append(" " + change.rjust(WIDE_FIGURE - 7), style=grew or "dim")
        return text
    if changes_only:
        return Text(signed(delta) if has_delta else "-", style=grew or "dim")
    text = Text(size(value), style=dim)
    text.append("▲" if delta and delta > 0 else "▼" if delta and delta < 0 else " ", style=grew)
    return text
