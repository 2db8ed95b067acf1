"""``memtype system`` for people: a rich table (JSON and CSV come from the field registry).

``machine_table`` draws the machine's rows for both ``memtype system`` and the overview (``memtype``),
which show the same rows (``memtype.model.machine.split_machine``); titles and "what it is" come from
the model. Only the top-level rows add up to MemTotal; sub-rows (``system`` only) are indented, have
no percentage, and are left out where the mode cannot know them (``null`` in the JSON, style.md rule 3).
"""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.machine import DETAIL_HELP, DETAIL_IDS, DETAIL_TITLES, TITLES, MachineMemory, SystemMemory
from memtype.output.console import new_table
from memtype.output.human import UNITS_NOTE, percent, size

# -- table -------------------------------------------------------------------------------------------

def header(sm: SystemMemory) -> Text:
    h = sm.host
    parts = ["memtype system"] + ([h.hostname] if h.hostname else []) + [f"Linux {h.kernel or '?'}",
                                                                        f"{size(sm.total)} RAM"]
    parts.append("live" if h.live else f"capture {os.path.basename(h.root.rstrip('/'))}")
    return Text(" · ".join(parts), style="bold", no_wrap=True, overflow="ellipsis")


def machine_table(mm: MachineMemory, *, details: bool = False) -> Table:
    """The rows of MemTotal (and, with ``details``, their known sub-rows), total, swap."""
    source = "page flags (kernel, hugetlb, free: meminfo)" if mm.exact else "/proc/meminfo"
    t = new_table(f"Every byte of MemTotal, by {source}")
    t.add_column("kind", no_wrap=True, min_width=20 if details else 13)
    t.add_column("size", justify="right", no_wrap=True, min_width=7)
    t.add_column("%", justify="right", no_wrap=True, min_width=7)
    t.add_column(" what it is", overflow="ellipsis", no_wrap=True, ratio=1)
    for r in mm.rows:
        t.add_row(r.title, size(r.bytes), "" if r.bytes is None else percent(r.bytes, mm.total), " " + r.help)
        for did in DETAIL_IDS if details else ():
            sub = mm.detail[did]
            if did.startswith(r.id + ".") and sub is not None:
                t.add_row(Text("  " + DETAIL_TITLES[did], style="dim"), Text(size(sub), style="dim"), "",
                          Text(" " + DETAIL_HELP.get(did, ""), style="dim"))
    t.add_section()
    t.add_row("total", size(mm.total), "100.0%", " MemTotal", style="bold")
    if mm.swap_total:
        zswap, stored = mm.raw.get("Zswap"), mm.raw.get("Zswapped")
        more = f"; zswap: {size(zswap)} of RAM holds {size(stored)}" if stored else ""
        t.add_row("swap used", size(mm.swap_used), percent(mm.swap_used, mm.swap_total),
                  f" of {size(mm.swap_total)}; swap cache {size(mm.swap_cached)}{more}")
    else:
        t.add_row("swap used", "-", "", " no swap: anon and shared stay in RAM")
    return t


def rows_table(sm: SystemMemory) -> Table:
    return machine_table(sm.machine, details=True)


def reconcile_table(sm: SystemMemory) -> Table | None:
    if sm.reconcile is None or sm.processes is None:
        return None
    n = len(sm.processes.processes)
    skipped = sum(sm.processes.skip_counts().values())
    title = (f"Machine beside processes: Σ PSS of {n} process{'es' if n != 1 else ''} per kind"
             + (f" ({skipped} left out)" if skipped else ""))
    t = new_table(title)
    t.add_column("kind", no_wrap=True, min_width=14)
    for head in ("machine", "processes", "difference"):
        t.add_column(head, justify="right", no_wrap=True, min_width=len(head))
    t.add_column(" the difference is", overflow="ellipsis", no_wrap=True, ratio=1)
    for r in sm.reconcile:
        t.add_row(TITLES[r.kind], size(r.system), size(r.processes), size(r.difference), " " + r.meaning)
    return t


def render(sm: SystemMemory) -> RenderableType:
    parts: list[RenderableType] = [header(sm), rows_table(sm)]
    rec = reconcile_table(sm)
    if rec is not None:
        parts.append(rec)
    parts.extend(Text(note, style="dim") for note in sm.notes)
    parts.append(Text(UNITS_NOTE, style="dim"))
    return Group(*parts)
