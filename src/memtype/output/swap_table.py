"""``memtype swap`` for people: rich tables (JSON and CSV come from the field registry: ``output/documents.py``)."""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.kinds import Kind
from memtype.model.swap import SwapInfo, SwapReport, anon_swap
from memtype.model.swappiness import SwappinessView, mglru_note
from memtype.output.console import new_table
from memtype.output.human import UNITS_NOTE, percent, size


# -- tables ------------------------------------------------------------------------------------------

def _table(title: str) -> Table:
    return new_table(title)


def devices_table(i: SwapInfo) -> Table:
    t = _table("Swap devices (/proc/swaps)")
    t.add_column("device", overflow="ellipsis", no_wrap=True, ratio=1, min_width=12)
    t.add_column("type", no_wrap=True)
    for head in ("size", "used", "%"):
        t.add_column(head, justify="right", no_wrap=True, min_width=6)
    t.add_column("prio", justify="right", no_wrap=True)
    for d in i.devices:
        t.add_row(Text(d.path), d.type, size(d.size), size(d.used), percent(d.used, d.size), str(d.priority))
    t.add_section()
    t.add_row("total", "", size(i.total), size(i.used), percent(i.used, i.total), "", style="bold")
    return t


def _settings(i: SwapInfo) -> Text:
    lines = [f"vm.swappiness {i.swappiness if i.swappiness is not None else '?'}: 0-200, how readily reclaim swaps "
             "rather than drops page cache",
             f"swap cache {size(i.cached)}: pages both in RAM and in swap"]
    z = i.zswap
    if z.enabled:
        ratio = f", {z.stored / z.pool:.1f}x" if z.pool and z.stored else ""
        lines.append(f"zswap on ({z.compressor or '?'}, at most {z.max_pool_percent}% of RAM): a pool of "
                     f"{size(z.pool)} of RAM holds {size(z.stored)} of swapped pages{ratio}")
    elif z.enabled is not None:
        lines.append("zswap off" + (f" (but its pool still holds {size(z.stored)})" if z.stored else ""))
    for d in i.zram:
        use = "swap device" if d.is_swap else "not used as swap"
        lines.append(f"{d.name}: {size(d.disksize)} zram ({d.algorithm or '?'}, {use}): {size(d.stored)} stored "
                     f"in {size(d.pool)} of RAM")
    return Text("\n".join(lines), style="dim")


def swappiness_text(v: SwappinessView, top: int) -> Text:
    """Where each swappiness is in force, and what 0 means on this kernel."""
    lines = ["per cgroup: " + v.per_cgroup]
    for c in v.cgroups[:top]:
        how = "as its parent: copied when made" if c.inherited else "set, or made before vm.swappiness changed"
        lines.append(f"  {c.path}: memory.swappiness {c.value}, {how}")
    if len(v.cgroups) > top:
        lines.append(f"  +{len(v.cgroups) - top} more (--top, or --format json for all)")
    lines.append("what 0 means here: " + v.zero)
    note = mglru_note(v.mglru)
    if note:
        lines.append(note)
    return Text("\n".join(lines), style="dim")


def attribution_table(r: SwapReport) -> Table:
    a = r.attribution
    t = _table("Who is in swap: the rows add up to the swap used")
    t.add_column("part", no_wrap=True, min_width=18)
    t.add_column("size", justify="right", no_wrap=True, min_width=7)
    t.add_column(" what it is", overflow="ellipsis", no_wrap=True, ratio=1)
    t.add_row("anonymous", size(a["anonymous"]), " Σ anon SwapPss of processes: the slots they hold")
    t.add_row("shared objects", size(a["shared"]), f" {len(r.objects)} memfd/shm/SysV/tmpfs objects (below)")
    t.add_row("the rest", size(a["rest"]), " swap cache of pages back in RAM, unmapped tmpfs, unread processes")
    t.add_section()
    t.add_row("used", size(r.info.used), "", style="bold")
    return t


def processes_table(r: SwapReport) -> Table | None:
    procs = r.processes()
    if not procs:
        return None
    shown = procs[: r.top]
    t = _table(f"{len(shown)} of {len(procs)} processes in swap, by swap")
    t.add_column("PID", justify="right", no_wrap=True)
    t.add_column("Name", overflow="ellipsis", no_wrap=True, max_width=16)
    for head in ("Swap", "SwapPSS", "Anon\nswap", "Shared\nswap"):  # the kinds' part of Swap
        t.add_column(head, justify="right", no_wrap=True, min_width=7)
    for p in shown:
        t.add_row(str(p.pid), Text(p.comm), size(p.totals.swap), size(p.totals.swap_pss), size(anon_swap(p)),
                  size(p.categories[Kind.SHARED].swap))
    return t


def objects_table(r: SwapReport) -> Table | None:
    if not r.objects:
        return None
    t = _table("Shared-memory objects in swap (counted once, whoever maps them)")
    t.add_column("Swap", justify="right", no_wrap=True, min_width=7)
    t.add_column(" object", overflow="ellipsis", no_wrap=True, ratio=2)
    t.add_column(" mapped by", overflow="ellipsis", no_wrap=True, ratio=1)
    for o in r.objects[: r.top]:
        who = ", ".join(f"{pid} {comm}" for pid, comm, _ in o.mappers[:3]) or "nobody"
        if len(o.mappers) > 3:
            who += f" +{len(o.mappers) - 3}"
        t.add_row(size(o.swap), Text(" " + o.name), Text(" " + who))
    return t


def mappings_table(r: SwapReport) -> Table | None:
    if not r.mappings:
        return None
    t = _table(f"Top {min(r.top, len(r.mappings))} of {len(r.mappings)} mappings in swap")
    t.add_column("PID", justify="right", no_wrap=True)
    t.add_column("Class", no_wrap=True, max_width=13, overflow="ellipsis")
    for head in ("Swap", "SwapPSS"):
        t.add_column(head, justify="right", no_wrap=True, min_width=7)
    t.add_column(" mapping", overflow="ellipsis", no_wrap=True, ratio=1)
    for s in r.mappings[: r.top]:
        m = s.mapping
        t.add_row(str(s.pid), m.mapclass, size(m.totals.swap), size(m.totals.swap_pss),
                  Text(f" {m.start:x} {m.path or '[anon]'}"))
    return t


def render(r: SwapReport, in_force: SwappinessView | None = None) -> RenderableType:
    h = r.scan.host
    head = Text(" · ".join(["memtype swap"] + ([h.hostname] if h.hostname else []) + [f"Linux {h.kernel or '?'}"]
                           + (["live"] if h.live else [f"capture {os.path.basename(h.root.rstrip('/'))}"])),
                style="bold", no_wrap=True, overflow="ellipsis")
    parts: list[RenderableType] = [head]
    if r.info.devices or r.info.total:
        parts.append(devices_table(r.info))
    else:
        parts.append(Text("No swap device is active: anonymous and shared memory stay in RAM.", style="bold"))
    parts.append(_settings(r.info))
    if in_force is not None:
        parts.append(swappiness_text(in_force, r.top))
    if r.info.total:
        parts.append(attribution_table(r))
    for table in (processes_table(r), objects_table(r), mappings_table(r)):
        if table is not None:
            parts.append(table)
    parts.append(Text(UNITS_NOTE, style="dim"))
    return Group(*parts)
