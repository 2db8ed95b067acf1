"""``memtype diff`` for people: the summary, then the processes that changed (sorted by growth), the
programs, and the machine's rows; every figure is B - A."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from memtype.kinds import KINDS
from memtype.model.diff import SAME, Diff
from memtype.model.fields import Registry
from memtype.model.fields_diff import DIFF_GROUP, DIFF_PROCESS
from memtype.output.diff_text import signed
from memtype.output.human import UNITS_NOTE, size
from memtype.output.table import SIZE_WIDTH, Column, layout, render_columns

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

FIGURES = ["pss", *(f"{k.value}.pss" for k in KINDS), "swap"]


def render(d: Diff, summary: list[str], *, top: int, width: int | None) -> RenderableType:
    parts: list[RenderableType] = [Text(line) for line in summary]
    changed = [p for p in d.processes if p.change != SAME]
    if changed:
        cols = [Column("PID", [str(p.pid) for p in changed[:top]], right=True),
                Column("User", [p.user or "?" for p in changed[:top]], right=False, drop=3, shrink=6),
                Column("Name", [p.comm for p in changed[:top]], right=False, shrink=12),
                Column("Change", [p.change for p in changed[:top]], right=False, drop=2)]
        cols += _figures(changed[:top], DIFF_PROCESS)
        parts += [Text(""), _table(cols, f"{min(top, len(changed))} of {len(changed)} processes that changed, "
                                         "by growth (PSS, B - A)", width)]
    programs = [g for g in d.groups.get("program", []) if g.pss or any(g.kinds.values()) or g.appeared
                or g.went_away][:top]
    if programs:
        cols = [Column("Program", [g.key for g in programs], right=False, shrink=12, path=True),
                Column("Procs", [f"{g.before_count}->{g.after_count}" for g in programs], right=True)]
        cols += _figures(programs, DIFF_GROUP)
        parts += [Text(""), _table(cols, "programs, by growth", width)]
    if d.machine is not None:
        rows = [r for r in d.machine if r.delta]
        if rows:
            cols = [Column("Machine", [r.id for r in rows], right=False),
                    Column("A", [size(r.before) for r in rows], right=True, least=SIZE_WIDTH),
                    Column("B", [size(r.after) for r in rows], right=True, least=SIZE_WIDTH),
                    Column("B - A", [signed(r.delta) for r in rows], right=True, least=SIZE_WIDTH)]
            parts += [Text(""), _table(cols, "the machine's rows (memtype system, from meminfo)", width)]
    parts.append(Text(UNITS_NOTE + " Kinds are PSS (they add up to the PSS column).", style="dim"))
    return Group(*parts)


def _figures(items: Sequence[Any], registry: Registry) -> list[Column]:
    out = []
    for fid in FIGURES:
        f = registry[fid]
        out.append(Column(f.title, [signed(f.get(x)) for x in items], right=True, least=SIZE_WIDTH,
                          drop=1 if fid in ("swap", "device.pss") else 0))
    return out


def _table(cols: list[Column], title: str, width: int | None) -> RenderableType:
    kept, dropped, full = layout(cols, width)
    table = render_columns(kept, title=title)
    if dropped:
        return Group(table, Text(f"Not shown for want of room: {', '.join(dropped)} ({full}+ columns).",
                                 style="dim"))
    return table
