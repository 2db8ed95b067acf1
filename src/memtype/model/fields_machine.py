"""Fields of the machine views: the overview's rows, ``memtype system`` (its summary, its table rows,
the reconciliation with the processes), and the generic ``Row`` of tables that add up.

The system figures' ids are the row ids (``anonymous``, ``kernel.slab_reclaimable``); in JSON they
sit under ``rows`` and ``detail`` as memtype/1 had them (``detail`` keys are the dotted ids).
"""

from __future__ import annotations

from memtype.model.fields import RECLAIM_CLASSES, RECLAIM_HELP, Field, Registry, gauge, info, label
from memtype.model.machine import DETAIL_IDS, ROW_IDS, MachineMemory, MachineRow, SystemMemory
from memtype.model.reconcile import ReconcileRow
from memtype.model.records import Row

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter

ROW_HELP = {
    "anonymous": "anonymous pages (meminfo AnonPages: copy-on-write included; --exact: mapped once)",
    "cow": "copy-on-write: anon pages still shared after fork, KSM (--exact only: meminfo counts them in "
           "anonymous), and unwritten page cache under private writable file maps (the processes' Σ PSS)",
    "shared": "shmem: tmpfs, memfd, SysV, MAP_SHARED anonymous (meminfo Shmem)",
    "file": "page cache (Buffers + Cached - Shmem), less cow's file part",
    "device": "driver pages mapped into processes (--exact only; meminfo counts them in unaccounted)",
    "swap_cache": "pages both in RAM and in swap (SwapCached)",
    "kernel": "slab, page tables, stacks, vmalloc, percpu, the zswap pool",
    "hugetlb": "the hugetlb pool, used or free",
    "free": "MemFree plus the per-CPU free lists (zoneinfo)",
    "unaccounted": "MemTotal minus the other rows: drivers, other kernel memory",
}
DETAIL_HELP = {
    "cow.file": "cow's file part: page cache under private writable file maps, not written yet; droppable "
                "(Σ PSS of the processes; null without a process scan)",
    "cow.anon": "cow's anon part: pages shared after fork and KSM; swappable (--exact only)",
    "cow.fork": "anon pages shared after fork (part of cow.anon)", "cow.ksm": "KSM-merged pages (part of cow.anon)",
    "shared.mapped": "shmem some process maps",
    "shared.unmapped": "shmem no process maps (page flags): tmpfs and /dev/shm files, SysV segments no process "
                       "attaches",
    "file.mapped": "page cache some process maps", "file.unmapped": "page cache no process maps",
    "file.dirty": "dirty page cache (an overlay: part of mapped and unmapped)",
    "file.writeback": "page cache under writeback (an overlay)",
    "kernel.slab_reclaimable": "SReclaimable", "kernel.slab_unreclaimable": "SUnreclaim",
    "kernel.page_tables": "PageTables + SecPageTables", "kernel.stacks": "KernelStack",
    "kernel.vmalloc": "VmallocUsed - KernelStack", "kernel.percpu": "Percpu",
    "kernel.zswap": "Zswap: the compressed swap pool in RAM",
    "free.memfree": "MemFree: the buddy lists", "free.per_cpu": "zoneinfo pagesets (not in MemFree)",
}
_OVERLAYS = ("file.dirty", "file.writeback", "cow.fork", "cow.ksm")  # not parts of their row's sum


def _row(rid: str) -> Getter:
    return lambda sm: sm.row(rid)


def _detail(did: str) -> Getter:
    return lambda sm: sm.detail[did]


def _swap(name: str) -> Getter:
    return lambda sm: sm.swap[name]


def _reclaim(name: str) -> Getter:
    return lambda x: x.reclaim.get(name) if x.reclaim is not None else None


def _detail_field(did: str) -> Field:
    parent, part = did.split(".", 1)
    folded = did not in _OVERLAYS  # the parts of one row: one metric, a series per part, summing to the row
    return gauge(did, part, DETAIL_HELP[did], _detail(did), attr="detail", path=("detail", did),
                 labels=(("part", part),) if folded else (), metric=f"{parent}.part" if folded else did)


SYSTEM = Registry("system", "every byte of MemTotal by kind (memtype system)", [
    info("exact", "Exact", "rows from a page-flag scan (--exact) rather than /proc/meminfo", lambda sm: sm.exact),
    gauge("total", "MemTotal", "MemTotal: the rows add up to it", lambda sm: sm.total),
    gauge("available", "Available", "MemAvailable: the kernel's estimate of what can be allocated without swapping",
          lambda sm: sm.available),
    *[gauge(rid, rid, ROW_HELP[rid], _row(rid), attr="rows", path=("rows", rid), labels=(("row", rid),), metric="row")
      for rid in ROW_IDS],
    *[_detail_field(did) for did in DETAIL_IDS],
    gauge("swap.total", "Swap", "SwapTotal", _swap("total"), attr="swap"),
    gauge("swap.used", "Used", "SwapTotal - SwapFree", _swap("used"), attr="swap"),
    gauge("swap.cached", "Cached", "SwapCached: pages both in RAM and in swap", _swap("cached"), attr="swap"),
    gauge("swap.zswap_pool", "Zswap", "Zswap: RAM the compressed pool uses", _swap("zswap_pool"), attr="swap"),
    gauge("swap.zswap_stored", "Zswapped", "Zswapped: swapped bytes the pool holds", _swap("zswap_stored"),
          attr="swap"),
    *[gauge(f"reclaim.{c}", f"Reclaim {c}", f"the LRU lists and hugetlb: {RECLAIM_HELP[c]}", _reclaim(c),
            attr="reclaim", labels=(("class", c),), metric="reclaim") for c in RECLAIM_CLASSES],
    gauge("scan.page_frames", "PFNs", "--exact: page frames scanned", lambda sm: sm.census.pfns if sm.census else None,
          unit="count", attr="census"),
    gauge("scan.seconds", "Seconds", "--exact: how long the page scan took",
          lambda sm: round(sm.census.seconds, 3) if sm.census else None, unit="seconds", attr="census",
          metric="scan.duration"),
], aliases={"memtotal": "total"},
    exclude={"host": "the envelope's host", "rows": "read through the row fields", "detail": "the sub-row fields",
             "meminfo": "the raw input", "processes": "the scan: the envelope's summary",
             "reconcile": "records of their own (reconcile)", "notes": "the envelope's notes",
             "census": "its scan.* fields, and scan.buckets in JSON", "unknown": "read as null rows",
             "table_rows": "rows of their own (row)", "machine": "the rows these fields read (split_machine)"},
    partitions={"total": ROW_IDS, "kernel": tuple(d for d in DETAIL_IDS if d.startswith("kernel.")),
                "free": ("free.memfree", "free.per_cpu"), "cow": ("cow.file", "cow.anon"),
                "cow.anon": ("cow.fork", "cow.ksm"),
                "shared": ("shared.mapped", "shared.unmapped"), "file": ("file.mapped", "file.unmapped")},
    null_objects=("reclaim", "scan"))

ROW = Registry("row", "one line of a table that adds up (system rows, who is in swap, the file cache split)", [
    label("row", "Row", "the row's id: a top-level row, or parent.part for a sub-row; total: what they add up to",
          lambda r: r.id, attr="id"),
    label("parent", "Parent", "the row a sub-row splits (empty: a top-level row)", lambda r: r.parent),
    gauge("bytes", "Size", "its bytes (empty: not known in this mode)", lambda r: r.bytes),
], labels=("row",))

RECONCILE = Registry("reconcile", "one kind at two levels: the machine's figure beside the processes' PSS", [
    label("kind", "Kind", "the kind", lambda r: r.kind),
    gauge("system", "Machine", "the machine's figure of the kind (null: meminfo has none)", lambda r: r.system),
    gauge("processes", "Processes", "Σ PSS of the kind over every process read", lambda r: r.processes),
    gauge("difference", "Difference", "machine - processes: memory of the kind no (readable) process maps",
          lambda r: r.difference),
    info("difference_is", "The difference is", "what the difference is made of", lambda r: r.meaning, attr="meaning"),
], labels=("kind",), aliases={"machine": "system", "meaning": "difference_is"})


def _mrow(rid: str) -> Getter:
    return lambda mm: next((r.bytes for r in mm.rows if r.id == rid), None)


_OVERVIEW_ROWS = ROW_IDS  # the rows of memtype system (model.machine.split_machine), unknown ones null

MACHINE = Registry("machine", "the overview's machine rows: memtype system's rows (memtype with no command)", [
    gauge("total", "MemTotal", "MemTotal: the rows add up to it", lambda mm: mm.total),
    gauge("available", "Available", "MemAvailable", lambda mm: mm.available),
    *[gauge(rid, rid, ROW_HELP[rid], _mrow(rid), attr="rows", path=("rows", rid), labels=(("row", rid),),
            metric="row") for rid in _OVERVIEW_ROWS],
    gauge("swap.total", "Swap", "SwapTotal", lambda mm: mm.swap_total, attr="swap_total"),
    gauge("swap.free", "Free", "SwapFree", lambda mm: mm.swap_free, attr="swap_free"),
    gauge("swap.used", "Used", "SwapTotal - SwapFree", lambda mm: mm.swap_used, attr="swap_used"),
    gauge("swap.cached", "Cached", "SwapCached", lambda mm: mm.swap_cached, attr="swap_cached"),
], exclude={"rows": "read through the row fields (machine_row)", "raw": "the raw meminfo", "row": "a method",
             "detail": "memtype system's sub-rows (the system fields)", "exact": "the overview reads meminfo only",
             "page_cache": "file + cow.file (the files view's file_cache)"},
    partitions={"total": _OVERVIEW_ROWS})

MACHINE_ROW = Registry("machine_row", "one row of the overview's machine table", [
    label("row", "Kind", "the row's id", lambda r: r.id, attr="id"),
    info("title", "Kind", "its title", lambda r: r.title),
    gauge("bytes", "Size", "its bytes", lambda r: r.bytes),
    info("help", "What it is", "where the figure comes from", lambda r: r.help),
], labels=("row",))

REGISTRIES = (SYSTEM, ROW, RECONCILE, MACHINE, MACHINE_ROW)
COVERS: tuple[tuple[Registry, type], ...] = (
    (SYSTEM, SystemMemory), (ROW, Row), (RECONCILE, ReconcileRow), (MACHINE, MachineMemory), (MACHINE_ROW, MachineRow))

