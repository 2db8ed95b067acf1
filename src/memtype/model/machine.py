"""The whole machine by kind: every byte of MemTotal in one row, the rows adding up exactly.

The records and the pure arithmetic; ``memtype.collect.system`` reads the inputs. ``split_machine``
is the one split: ``memtype`` (the overview), ``memtype system`` and ``derive`` all take their rows
from it, so the same inputs give the same rows everywhere. Two sources (kernel-spec.md C.1, C.2):

* ``/proc/meminfo`` (default, cheap). It has no figure for anon copy-on-write or driver pages: those
  are inside ``AnonPages`` and the remainder, so the device row is unknown (``None``) and cow holds
  only its file-backed part, and sub-splits it cannot give (mapped or not) are ``None``.
* ``--exact``: a ``PageCensus`` of every PFN of ``/proc/kpageflags`` + ``/proc/kpagecount``
  (``memtype.collect.exact.system``) for the user kinds; kernel, hugetlb and free still come from
  meminfo, read as the scan begins (flags 0 covers both not-yet-initialised free memory and kernel
  allocations, spec C.2), once the scanner's own memory is allocated, so that it is in both figures.

Either way ``unaccounted`` is MemTotal minus the other rows: the remainder is shown, never dropped.

Copy-on-write is one definition in every view (spec section 0, A.6): anon pages still shared after
fork, KSM pages, **and page cache under a private writable file mapping that has not been written
yet** (shared until written). No kernel counter and no page flag tells that page cache from other
page cache: only the mappings do. So its figure (``cow.file``) is the processes' Σ PSS of it
(``Totals.cow_file_pss``), taken out of the file row; without a process scan it stays in file and
``cow.file`` is unknown. ``cow.anon`` (fork-shared anon and KSM) is the page census's with
``--exact`` and unknown from meminfo (inside ``AnonPages``). The file part is droppable, the anon part
swappable.

Kernel facts, with where they come from:

* ``Cached`` excludes the swap cache (fs/proc/meminfo.c: cached = NR_FILE_PAGES - swapcache -
  buffers), so page cache is ``Buffers + Cached - Shmem`` and SwapCached is a row of its own.
* Kernel stacks are counted twice in meminfo on VMAP_STACK kernels (x86-64 and arm64 default):
  in ``KernelStack`` and in ``VmallocUsed``. Observed here: 2000 new threads moved KernelStack by
  +32000 kB and VmallocUsed by +31968 kB. The vmalloc row is therefore VmallocUsed - KernelStack
  whenever that is not negative. (The spec's C.1 "unaccounted" formula adds both.)
* The zswap pool (``Zswap``) is RAM in no other meminfo field (zsmalloc pages are not slab): kernel.
* Free pages on the per-CPU lists are not in ``MemFree`` (NR_FREE_PAGES counts the buddy lists
  only), and since 6.7 those lists grow to ``high_max`` (38912 pages per CPU here). Observed: 48204
  pages (188 MiB) on them, and 256 MiB of new anon memory lowered MemFree by only 219 MiB. So free
  is MemFree plus the ``count:`` of every pageset in /proc/zoneinfo; without that file (an older
  capture) it is MemFree alone and the lists fall into unaccounted. (The spec's C.2 "take free memory
  from MemFree" predates the 6.7 pagesets; the kernel's own si_meminfo() also reports the buddy
  lists only.)
"""

from __future__ import annotations

from memtype.errors import ParseError
from memtype.model.reclaim import reclaim_from_meminfo
from memtype.model.reconcile import ReconcileRow, reconcile
from memtype.model.records import Row

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import HostInfo, Scan

ROW_IDS = ("anonymous", "cow", "shared", "file", "device", "swap_cache", "kernel", "hugetlb", "free", "unaccounted")
KERNEL_DETAIL = ("kernel.slab_reclaimable", "kernel.slab_unreclaimable", "kernel.page_tables", "kernel.stacks",
                 "kernel.vmalloc", "kernel.percpu", "kernel.zswap")
# cow = cow.file + cow.anon; with --exact cow.anon = cow.fork + cow.ksm
DETAIL_IDS = ("cow.file", "cow.anon", "cow.fork", "cow.ksm", "shared.mapped", "shared.unmapped", "file.mapped",
              "file.unmapped", "file.dirty", "file.writeback") + KERNEL_DETAIL + ("free.memfree", "free.per_cpu")

TITLES = {"anonymous": "anonymous", "cow": "copy-on-write", "shared": "shared", "file": "file cache",
          "device": "device", "swap_cache": "swap cache", "kernel": "kernel", "hugetlb": "hugetlb", "free": "free",
          "unaccounted": "unaccounted"}
DETAIL_TITLES = {"cow.file": "file, unwritten", "cow.anon": "anon, shared", "cow.fork": "anon: after fork",
                 "cow.ksm": "anon: KSM", "shared.mapped": "mapped", "shared.unmapped": "not mapped",
                 "file.mapped": "mapped", "file.unmapped": "not mapped", "file.dirty": "dirty",
                 "file.writeback": "writeback", "kernel.slab_reclaimable": "slab reclaimable",
                 "kernel.slab_unreclaimable": "slab unreclaimable", "kernel.page_tables": "page tables",
                 "kernel.stacks": "stacks", "kernel.vmalloc": "vmalloc", "kernel.percpu": "percpu",
                 "kernel.zswap": "zswap pool", "free.memfree": "MemFree", "free.per_cpu": "per-CPU lists"}
# Where each row's figure comes from, in a table's width ("what it is").
_HELP_MEMINFO = {
    "anonymous": "AnonPages, anon cow included; swappable",
    "cow": "file part: unwritten private file pages",
    "shared": "Shmem: tmpfs, memfd, SysV; swappable",
    "file": "Buffers+Cached-Shmem-cow file; droppable",
    "device": "not in meminfo: inside unaccounted",
    "swap_cache": "SwapCached: in RAM and in swap",
}
_HELP_EXACT = {
    "anonymous": "ANON pages mapped once; swappable",
    "cow": "ANON mapped twice+, KSM, unwritten private file",
    "shared": "SWAPBACKED, not ANON: shmem; swappable",
    "file": "page cache (LRU or UPTODATE) - cow file",
    "device": "mapped, no LRU/UPTODATE/ANON: drivers",
    "swap_cache": "SWAPCACHE pages no process maps",
}
_HELP_COMMON = {
    "kernel": "slab, page tables, stacks, vmalloc…",
    "hugetlb": "Hugetlb: pool, used or free",
    "free": "MemFree + per-CPU free lists",
    "unaccounted": "the rest: drivers, other kernel",
}
DETAIL_HELP = {"cow.file": "page cache; droppable (Σ PSS of processes)", "cow.anon": "swappable",
               "cow.fork": "ANON mapped more than once", "cow.ksm": "KSM pages",
               "kernel.vmalloc": "VmallocUsed - KernelStack",
               "kernel.slab_reclaimable": "SReclaimable", "kernel.slab_unreclaimable": "SUnreclaim",
               "kernel.page_tables": "PageTables + SecPageTables", "kernel.stacks": "KernelStack",
               "kernel.percpu": "Percpu", "kernel.zswap": "Zswap: compressed swap in RAM",
               "free.memfree": "buddy lists", "free.per_cpu": "zoneinfo pagesets (not in MemFree)"}


class MachineRow:
    """One row of the machine table: a stable id, a title, bytes (``None``: not known in this mode),
    and where the number comes from."""

    __slots__ = ("id", "title", "bytes", "help")

    def __init__(self, id: str, title: str, bytes: int | None, help: str) -> None:
        self.id, self.title, self.bytes, self.help = id, title, bytes, help

    def __repr__(self) -> str:
        return f"MachineRow({self.id!r}, {self.bytes})"


class MachineMemory:
    """Rows (``ROW_IDS`` order) whose known bytes sum to ``total`` (MemTotal); ``unaccounted`` is the
    remainder, never dropped. ``detail`` holds the sub-splits by ``DETAIL_IDS`` (``None``: not known in
    this mode); ``exact``: the user kinds come from a page census."""

    __slots__ = ("total", "rows", "detail", "exact", "swap_total", "swap_free", "swap_cached", "available", "raw")

    def __init__(self, total: int, rows: list[MachineRow], detail: dict[str, int | None], exact: bool,
                 swap_total: int, swap_free: int, swap_cached: int, available: int | None,
                 raw: dict[str, int]) -> None:
        self.total, self.rows, self.detail, self.exact = total, rows, detail, exact
        self.swap_total, self.swap_free, self.swap_cached = swap_total, swap_free, swap_cached
        self.available = available
        self.raw = raw

    @property
    def swap_used(self) -> int:
        return self.swap_total - self.swap_free

    @property
    def page_cache(self) -> int:
        """All page cache, Buffers + Cached - Shmem: the file row plus cow's file part."""
        g = self.raw.get
        return g("Buffers", 0) + g("Cached", 0) - g("Shmem", 0)

    def row(self, row_id: str) -> int | None:
        """A row's bytes; None where this mode cannot know it."""
        return next(r.bytes for r in self.rows if r.id == row_id)


def kernel_parts(mi: dict[str, int]) -> dict[str, int | None]:
    """The kernel's own memory from meminfo, by detail id (``None`` where the kernel lacks the field)."""
    g = mi.get
    stacks, vmalloc = g("KernelStack"), g("VmallocUsed")
    if stacks is not None and vmalloc is not None and vmalloc >= stacks:
        vmalloc -= stacks  # VMAP_STACK: stacks are in VmallocUsed too (module docstring)
    tables = g("PageTables")
    if tables is not None:
        tables += g("SecPageTables", 0)  # KVM/IOMMU secondary page tables (6.0+)
    return {"kernel.slab_reclaimable": g("SReclaimable"), "kernel.slab_unreclaimable": g("SUnreclaim"),
            "kernel.page_tables": tables, "kernel.stacks": stacks, "kernel.vmalloc": vmalloc,
            "kernel.percpu": g("Percpu"), "kernel.zswap": g("Zswap")}


def hugetlb_bytes(mi: dict[str, int]) -> int:
    """The hugetlb pool, used or free: ``Hugetlb`` (all sizes, 5.7+), else the default size's pool."""
    found = mi.get("Hugetlb")
    return found if found is not None else mi.get("HugePages_Total", 0) * mi.get("Hugepagesize", 0)


class PageCensus:
    """Pages per bucket over all PFNs, with the file-cache overlays (dirty, writeback).

    ``pages`` maps each name of ``memtype.collect.exact.system.BUCKETS`` to a page count; ``flag_keys`` is
    the raw histogram (KPF bits -> pages) for offline analysis, page-types style.
    """

    __slots__ = ("pfns", "pages", "file_dirty", "file_writeback", "seconds", "flag_keys")

    def __init__(self, pfns: int, pages: dict[str, int], file_dirty: int, file_writeback: int, seconds: float,
                 flag_keys: dict[tuple[int, int], int]) -> None:
        self.pfns, self.pages, self.file_dirty, self.file_writeback = pfns, pages, file_dirty, file_writeback
        self.seconds, self.flag_keys = seconds, flag_keys


def cow_file_of(processes: Scan | None) -> int | None:
    """cow's file-backed part of the machine: Σ PSS of it over the processes read (module docstring);
    None without a process scan."""
    return None if processes is None else sum(p.totals.cow_file_pss for p in processes.processes)


def split_machine(mi: dict[str, int], page_size: int, *, per_cpu_pages: int | None = None,
                  census: PageCensus | None = None, cow_file: int | None = None) -> MachineMemory:
    """The one split of the machine into rows that add up to MemTotal (module docstring).

    Args:
        mi: parsed /proc/meminfo (bytes).
        page_size: the machine's page size (``HostInfo.page_size``): census and pageset counts are pages.
        per_cpu_pages: free pages on the per-CPU lists (zoneinfo pagesets); None: unknown.
        census: the ``--exact`` page scan, else None (meminfo only).
        cow_file: cow's file part (``cow_file_of``), None without a process scan.

    Raises:
        ParseError: meminfo lacks MemTotal or MemFree.
    """
    if "MemTotal" not in mi or "MemFree" not in mi:
        raise ParseError("proc/meminfo", "no MemTotal/MemFree")
    g = mi.get
    total = mi["MemTotal"]
    kparts = kernel_parts(mi)
    detail: dict[str, int | None] = dict.fromkeys(DETAIL_IDS)
    detail.update(kparts)
    rows: dict[str, int | None] = dict.fromkeys(ROW_IDS, 0)
    if census is None:
        page_cache = g("Buffers", 0) + g("Cached", 0) - g("Shmem", 0)
        cow_file = None if cow_file is None else max(0, min(cow_file, page_cache))
        rows.update(anonymous=g("AnonPages", 0), cow=cow_file, shared=g("Shmem", 0),
                    file=page_cache - (cow_file or 0), device=None, swap_cache=g("SwapCached", 0))
        detail["file.dirty"], detail["file.writeback"] = g("Dirty"), g("Writeback")
    else:
        b = {k: v * page_size for k, v in census.pages.items()}
        flags_file = b["file.mapped"] + b["file.unmapped"]
        cow_file = None if cow_file is None else max(0, min(cow_file, flags_file))
        file_mapped = max(0, b["file.mapped"] - (cow_file or 0))  # cow's file pages are mapped, by definition
        detail.update({k: b[k] for k in ("cow.fork", "cow.ksm", "shared.mapped", "shared.unmapped")})
        detail.update({"file.mapped": file_mapped, "file.unmapped": flags_file - (cow_file or 0) - file_mapped,
                       "file.dirty": census.file_dirty * page_size,
                       "file.writeback": census.file_writeback * page_size})
        rows.update(anonymous=b["anonymous"], cow=b["cow.fork"] + b["cow.ksm"] + (cow_file or 0),
                    shared=b["shared.mapped"] + b["shared.unmapped"], file=flags_file - (cow_file or 0),
                    device=b["device"], swap_cache=b["swap_cache"])
        detail["cow.anon"] = b["cow.fork"] + b["cow.ksm"]
    detail["cow.file"] = cow_file
    detail["free.memfree"] = mi["MemFree"]
    detail["free.per_cpu"] = None if per_cpu_pages is None else per_cpu_pages * page_size
    rows.update(kernel=sum(v or 0 for v in kparts.values()), hugetlb=hugetlb_bytes(mi),
                free=mi["MemFree"] + (detail["free.per_cpu"] or 0))
    rows["unaccounted"] = total - sum(v or 0 for k, v in rows.items() if k != "unaccounted")
    out = [MachineRow(rid, TITLES[rid], value, _help(rid, census is not None, detail)) for rid, value in rows.items()]
    return MachineMemory(total, out, detail, census is not None, g("SwapTotal", 0), g("SwapFree", 0),
                         g("SwapCached", 0), g("MemAvailable"), mi)


def _help(rid: str, exact: bool, detail: dict[str, int | None]) -> str:
    if rid == "free" and detail["free.per_cpu"] is None:  # a capture without zoneinfo
        return "MemFree; per-CPU free lists: in unaccounted"
    if rid == "cow" and detail["cow.file"] is None:
        return "ANON mapped twice+, KSM (file part: in file)" if exact else "not in meminfo: inside anonymous"
    if rid == "file" and detail["cow.file"] is None:
        return "page cache (LRU or UPTODATE); droppable" if exact else "Buffers+Cached-Shmem; droppable"
    return (_HELP_EXACT if exact else _HELP_MEMINFO).get(rid) or _HELP_COMMON[rid]


# -- memtype system -------------------------------------------------------------------------------

class SystemMemory:
    """``memtype system``: the machine's rows (``machine``, from ``split_machine``), swap, notes, and the
    reconciliation with the processes.

    ``rows`` (bytes, in ``ROW_IDS`` order; 0 where this mode cannot know a row, see ``unknown``) add up
    to ``total``; ``detail`` holds sub-splits (``None``: not known in this mode); ``census`` is the page
    scan of ``--exact`` (else ``None``); ``processes`` is the mapping-level scan used to reconcile
    (``None`` when skipped).
    """

    __slots__ = ("host", "machine", "total", "rows", "detail", "swap", "available", "exact", "census", "meminfo",
                 "processes", "reconcile", "notes", "reclaim")

    def __init__(self, host: HostInfo, machine: MachineMemory, swap: dict[str, int | None],
                 census: PageCensus | None, meminfo: dict[str, int]) -> None:
        self.host, self.machine, self.swap, self.census, self.meminfo = host, machine, swap, census, meminfo
        self.total, self.detail, self.available, self.exact = machine.total, machine.detail, machine.available, \
            machine.exact
        self.rows = {r.id: r.bytes or 0 for r in machine.rows}
        self.processes: Scan | None = None
        self.reconcile: list[ReconcileRow] | None = None
        self.notes: list[str] = []
        self.reclaim: dict[str, int] | None = None  # memtype.model.reclaim classes of the LRU lists + hugetlb

    @property
    def unknown(self) -> tuple[str, ...]:
        """Rows this mode cannot know: meminfo has no driver-page figure, and no copy-on-write one but
        the processes' file part (their bytes are counted in unaccounted and anonymous; the rows hold 0
        so that the sum stays MemTotal)."""
        return tuple(r.id for r in self.machine.rows if r.bytes is None)

    def row(self, row_id: str) -> int | None:
        """A top-level row's bytes; None where this mode cannot know it."""
        return self.machine.row(row_id)

    def table_rows(self) -> list[Row]:
        """The rows, each followed by its sub-rows (``parent`` set), then ``total`` (MemTotal): the
        top-level rows that are known add up to it."""
        out = []
        for rid in ROW_IDS:
            out.append(Row(rid, self.row(rid)))
            out.extend(Row(did, self.detail[did], rid) for did in DETAIL_IDS if did.startswith(rid + "."))
        out.append(Row("total", self.total))
        return out


def system_from_meminfo(host: HostInfo, mi: dict[str, int], pcp: int | None, census: PageCensus | None,
                        own_anon: int | None = None, processes: Scan | None = None) -> SystemMemory:
    """``memtype system``'s rows, sub-splits, swap and notes (module docstring).

    Args:
        mi: parsed /proc/meminfo (with MemTotal and MemFree).
        pcp: pages on the per-CPU free lists (zoneinfo); ``None``: unknown.
        census: the ``--exact`` page scan, else ``None`` (meminfo only).
        own_anon: memtype's own RssAnon during the page scan, for a note.
        processes: the process scan: cow's file part comes from it, and the reconciliation.
    """
    machine = split_machine(mi, host.page_size, per_cpu_pages=pcp, census=census, cow_file=cow_file_of(processes))
    sm = system_of(host, machine, mi, census)
    sm.notes.extend(machine_notes(machine, census, own_anon))
    if processes is not None:
        sm.processes = processes
        sm.reconcile = reconcile(sm, processes)
        sm.notes.append(UNMAPPED_NOTE)
    return sm


def system_of(host: HostInfo, machine: MachineMemory, mi: dict[str, int], census: PageCensus | None = None
              ) -> SystemMemory:
    """``memtype system``'s record of a machine already split (``split_machine``, a Model's ``machine``):
    swap and zswap from meminfo, the reclaim classes of its LRU lists; no notes, no reconciliation."""
    g = mi.get
    swap_total, swap_free = g("SwapTotal", 0), g("SwapFree", 0)
    swap = {"total": swap_total, "used": swap_total - swap_free, "cached": g("SwapCached", 0),
            "zswap_pool": g("Zswap"), "zswap_stored": g("Zswapped")}
    sm = SystemMemory(host, machine, swap, census, mi)
    try:
        sm.reclaim = reclaim_from_meminfo(mi, swap_room=swap_free > 0)
    except ValueError:  # a meminfo without the LRU lines
        sm.reclaim = None
    return sm


COW_NOTE = ("copy-on-write is one definition in every view: anon pages still shared after fork, KSM, and page "
            "cache under a private writable file mapping not written yet; no page flag marks that page cache, "
            "so its figure (cow, file part) is the processes' Σ PSS of it, taken out of file cache")
UNMAPPED_NOTE = ("\"no process maps\" counts what no process memtype read maps: shmem of tmpfs and /dev/shm files, "
                 "SysV segments no process attaches, memory freed as it is counted, and the pages of processes "
                 "memtype could not read (left out)")


def machine_notes(machine: MachineMemory, census: PageCensus | None, own_anon: int | None = None) -> list[str]:
    """What the rows cannot say by themselves (printed under the table, in the JSON notes)."""
    notes = []
    d = machine.detail
    if census is None:
        notes.append("meminfo has no figure for anon copy-on-write or driver pages: anon cow is counted in "
                     "anonymous and driver pages in unaccounted; --exact (root) splits them")
        if machine.raw.get("SwapCached"):
            notes.append("SwapCached also counts swapped-in pages that are mapped again (they are in anonymous "
                         "too), so unaccounted is short by those")
    else:
        anon_pages = machine.raw.get("AnonPages", 0)
        flags_anon = (machine.row("anonymous") or 0) + (d["cow.anon"] or 0)
        notes.append(
            f"the scan is not atomic: it read {census.pfns} page frames in {census.seconds:.2f} s while memory "
            f"moved; anon by flags ({flags_anon // 1024} kB) and AnonPages read just before "
            f"({anon_pages // 1024} kB) differ by {(flags_anon - anon_pages) // 1024:+d} kB")
        if own_anon is not None:
            notes.append(f"anonymous includes memtype's own {own_anon / 2**20:.1f} MiB (its buffers and numpy)")
        notes.append("kernel, hugetlb and free are meminfo's (free memory the kernel has not initialised yet "
                     "has no page flags); unaccounted also absorbs what moved during the scan")
    notes.append(COW_NOTE if d["cow.file"] is not None else
                 COW_NOTE.split("; no page flag")[0] + "; its file part is read from the processes' mappings, "
                 "which --no-processes skips: it is in file cache here")
    return notes
