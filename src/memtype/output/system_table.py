"""``memtype system`` for people: a rich table (JSON and CSV come from the field registry).

Only the top-level rows add up to MemTotal; sub-rows are indented, have no percentage, and are left
out of the table where the mode cannot know them (they are ``null`` in the JSON, style.md rule 3).
"""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.machine import DETAIL_IDS, SystemMemory
from memtype.output.console import new_table
from memtype.output.human import UNITS_NOTE, percent, size

TITLES = {"anonymous": "anonymous", "cow": "copy-on-write", "shared": "shared", "file": "file cache",
          "device": "device", "swap_cache": "swap cache", "kernel": "kernel", "hugetlb": "hugetlb", "free": "free",
          "unaccounted": "unaccounted"}
DETAIL_TITLES = {"cow.fork": "after fork", "cow.ksm": "KSM", "shared.mapped": "mapped",
                 "shared.unmapped": "not mapped", "file.mapped": "mapped", "file.unmapped": "not mapped",
                 "file.dirty": "dirty", "file.writeback": "writeback",
                 "kernel.slab_reclaimable": "slab reclaimable", "kernel.slab_unreclaimable": "slab unreclaimable",
                 "kernel.page_tables": "page tables", "kernel.stacks": "stacks", "kernel.vmalloc": "vmalloc",
                 "kernel.percpu": "percpu", "kernel.zswap": "zswap pool", "free.memfree": "MemFree",
                 "free.per_cpu": "per-CPU lists"}
HELP_MEMINFO = {
    "anonymous": "AnonPages, cow included; swappable",
    "cow": "not in meminfo: inside anonymous",
    "shared": "Shmem: tmpfs, memfd, SysV; swappable",
    "file": "Buffers+Cached-Shmem; droppable",
    "device": "not in meminfo: inside unaccounted",
    "swap_cache": "SwapCached: in RAM and in swap",
}
HELP_EXACT = {
    "anonymous": "ANON pages mapped once; swappable",
    "cow": "ANON mapped more than once (fork), KSM",
    "shared": "SWAPBACKED, not ANON: shmem; swappable",
    "file": "page cache (LRU or UPTODATE); droppable",
    "device": "mapped, no LRU/UPTODATE/ANON: drivers",
    "swap_cache": "SWAPCACHE pages no process maps",
}
HELP_COMMON = {
    "kernel": "slab, page tables, stacks, vmalloc…",
    "hugetlb": "Hugetlb: pool, used or free",
    "free": "MemFree + per-CPU free lists",
    "unaccounted": "the rest: drivers, other kernel",
}
DETAIL_HELP = {"kernel.vmalloc": "VmallocUsed - KernelStack",
               "kernel.slab_reclaimable": "SReclaimable", "kernel.slab_unreclaimable": "SUnreclaim",
               "kernel.page_tables": "PageTables + SecPageTables", "kernel.stacks": "KernelStack",
               "kernel.percpu": "Percpu", "kernel.zswap": "Zswap: compressed swap in RAM",
               "free.memfree": "buddy lists", "free.per_cpu": "zoneinfo pagesets (not in MemFree)"}


# -- table -------------------------------------------------------------------------------------------

def header(sm: SystemMemory) -> Text:
    h = sm.host
    parts = ["memtype system"] + ([h.hostname] if h.hostname else []) + [f"Linux {h.kernel or '?'}",
                                                                        f"{size(sm.total)} RAM"]
    parts.append("live" if h.live else f"capture {os.path.basename(h.root.rstrip('/'))}")
    return Text(" · ".join(parts), style="bold", no_wrap=True, overflow="ellipsis")


def rows_table(sm: SystemMemory) -> Table:
    source = "page flags (kernel, hugetlb, free: meminfo)" if sm.exact else "/proc/meminfo"
    t = new_table(f"Every byte of MemTotal, by {source}")
    t.add_column("kind", no_wrap=True, min_width=20)
    t.add_column("size", justify="right", no_wrap=True, min_width=7)
    t.add_column("%", justify="right", no_wrap=True, min_width=7)
    t.add_column(" what it is", overflow="ellipsis", no_wrap=True, ratio=1)
    helps = {**(HELP_EXACT if sm.exact else HELP_MEMINFO), **HELP_COMMON}
    per_cpu_known = sm.detail["free.per_cpu"] is not None
    if not per_cpu_known:  # a capture without zoneinfo
        helps["free"] = "MemFree; per-CPU free lists: in unaccounted"
    for rid, value in sm.rows.items():
        unknown = rid in sm.unknown  # meminfo has no cow or driver-page figure (null in JSON)
        t.add_row(TITLES[rid], "-" if unknown else size(value), "" if unknown else percent(value, sm.total),
                  " " + helps[rid])
        for did in DETAIL_IDS:
            sub = sm.detail[did]
            if did.startswith(rid + ".") and sub is not None and (rid != "free" or per_cpu_known):
                t.add_row(Text("  " + DETAIL_TITLES[did], style="dim"), Text(size(sub), style="dim"), "",
                          Text(" " + DETAIL_HELP.get(did, ""), style="dim"))
    t.add_section()
    t.add_row("total", size(sm.total), "100.0%", " MemTotal", style="bold")
    sw = sm.swap
    if sw["total"]:
        zswap = ""
        if sw["zswap_stored"]:
            zswap = f"; zswap: {size(sw['zswap_pool'])} of RAM holds {size(sw['zswap_stored'])}"
        t.add_row("swap used", size(sw["used"]), percent(sw["used"] or 0, sw["total"] or 0),
                  f" of {size(sw['total'])}; swap cache {size(sw['cached'])}{zswap}")
    else:
        t.add_row("swap used", "-", "", " no swap: anon and shared stay in RAM")
    return t


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
