"""Rich tables for the terminal. Only this module formats sizes for people (style.md rule 8)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group as RichGroup, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.kinds import KINDS
from memtype.model.group import total_of
from memtype.model.machine import MachineMemory
from memtype.model.records import Scan
from memtype.output.fields import FIELDS
from memtype.output.human import percent, size

if TYPE_CHECKING:
    from memtype.output.fields import HasMemory

LEGEND = ("Anon: private anonymous (heap, stack). Shared: shmem (memfd, /dev/shm, SysV, MAP_SHARED). "
          "CoW: copy-on-write (anon still shared after fork, KSM, unwritten private file pages). "
          "File: page cache. Device: driver pages (GPU, [vdso]). Meminfo has no CoW or Device row: "
          "it counts CoW in anonymous and driver pages in unaccounted.")

KeyColumn = tuple[str, Callable[[Any], str], dict[str, Any]]


def make_console(width: int | None = None, file: Any = None) -> Console:
    """A console; a fixed width and no colour for golden tests and pipes."""
    return Console(width=width, file=file, highlight=False, soft_wrap=False,
                   no_color=file is not None, force_terminal=False if file is not None else None)


def rows_table(rows: Sequence[HasMemory], keys: Sequence[KeyColumn], field_ids: Sequence[str], *,
               title: str | None = None, total_label: str | None = "total",
               trailing: Sequence[KeyColumn] = (), width: int | None = None) -> Table:
    """One row per item, sizes right-aligned, and a total row that is the exact sum.

    ``keys`` come before the sizes, ``trailing`` after them: a long path goes last and is the one cut
    to fit ``width``. Cell text is never read as markup: "[heap]" stays "[heap]".
    """
    # SIMPLE_HEAD draws a one-space divider between columns: no padding needed on top of it.
    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, padding=0)
    body = [[f(r) for _, f, _ in keys] + [size(FIELDS[i].get(r)) for i in field_ids] +
            [f(r) for _, f, _ in trailing] for r in rows]
    if total_label is not None and rows:
        tot = total_of(rows)  # type: ignore[arg-type]
        body.append([total_label] + [""] * (len(keys) - 1) + [size(FIELDS[i].get(tot)) for i in field_ids] +
                    [""] * len(trailing))
    headers = [h for h, _, _ in keys] + [FIELDS[i].title for i in field_ids] + [h for h, _, _ in trailing]
    widths = [max([len(h)] + [len(row[c]) for row in body]) for c, h in enumerate(headers)]
    fixed = len(keys) + len(field_ids)
    used = sum(min(w, opts.get("max_width") or w) + 1 for w, (_, _, opts) in zip(widths, keys))
    used += sum(max(6, w) + 1 for w in widths[len(keys):fixed])
    room = None if width is None else max(8, width - used - 1)
    for header, _, opts in keys:
        t.add_column(header, **opts)
    for fid in field_ids:
        t.add_column(FIELDS[fid].title, justify="right", no_wrap=True, min_width=6)
    for header, _, opts in trailing:
        t.add_column(header, **({**opts, "max_width": room} if room else opts))
    for i, row in enumerate(body):
        is_total = total_label is not None and i == len(body) - 1
        if is_total:
            t.add_section()
        t.add_row(*[Text(c) for c in row], style="bold" if is_total else None)
    return t


def machine_table(mm: MachineMemory) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title="Machine memory (/proc/meminfo)", title_justify="left", pad_edge=False)
    t.add_column("kind", no_wrap=True, min_width=11)
    t.add_column("size", justify="right", no_wrap=True, min_width=6)
    t.add_column("%", justify="right", no_wrap=True, min_width=6)
    t.add_column("what it is", overflow="ellipsis", no_wrap=True, ratio=1)
    for r in mm.rows:
        t.add_row(r.title, size(r.bytes), percent(r.bytes, mm.total), r.help)
    t.add_section()
    t.add_row("total", size(mm.total), "100.0%", "MemTotal", style="bold")
    if mm.swap_total:
        t.add_row("swap used", size(mm.swap_used), percent(mm.swap_used, mm.swap_total),
                  f"of {size(mm.swap_total)} swap")
    else:
        t.add_row("swap used", "-", "", "no swap: anon and shared stay in RAM")
    return t


def header_line(scan: Scan, mm: MachineMemory | None) -> Text:
    h = scan.host
    parts = [f"memtype · {h.hostname or 'unknown host'}", f"Linux {h.kernel or '?'}"]
    if mm is not None:
        parts.append(f"{size(mm.total)} RAM")
    if h.live:
        parts.append("live")
    else:
        parts.append(f"capture {os.path.basename(h.root.rstrip('/'))}" + (f" of {h.captured_at}" if h.captured_at else ""))
    return Text(" · ".join(parts), style="bold")


PROCESS_KEYS: list[KeyColumn] = [
    ("PID", lambda p: str(p.pid), {"justify": "right", "no_wrap": True}),
    ("Name", lambda p: p.comm, {"overflow": "ellipsis", "no_wrap": True, "max_width": 15}),
]
KIND_RSS = [f"{k.value}.rss" for k in KINDS]


def overview(scan: Scan, mm: MachineMemory, top: int) -> RenderableType:
    """The main screen: the machine by kind, then the top processes by PSS with one column per kind."""
    procs = sorted(scan.processes, key=lambda p: p.totals.pss, reverse=True)
    shown = procs[:top]
    title = f"Top {len(shown)} of {len(procs)} processes by PSS; the kinds add up to PSS"
    t = rows_table(shown, PROCESS_KEYS, ["pss"] + [f"{k.value}.pss" for k in KINDS] + ["swap"], title=title,
                   total_label=None)
    for k in KINDS:
        t.columns[3 + KINDS.index(k)].header = k.label
    if procs:
        all_tot = total_of(procs)
        t.add_section()
        t.add_row("", f"all {len(procs)}", size(all_tot.totals.pss),
                  *[size(all_tot.categories[k].pss) for k in KINDS], size(all_tot.totals.swap), style="bold")
    legend = Text(LEGEND, style="dim")
    return RichGroup(header_line(scan, mm), machine_table(mm), t, legend)
