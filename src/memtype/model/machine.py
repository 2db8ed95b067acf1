"""The whole machine by kind: every byte of MemTotal in one row, the rows adding up exactly.

The records and the pure arithmetic; ``memtype.collect.system`` reads the inputs. Two sources
(kernel-spec.md C.1, C.2):

* ``/proc/meminfo`` (default, cheap). It has no copy-on-write or driver-page figure: CoW is inside
  ``AnonPages`` and driver pages inside the remainder, so those rows are 0 there, and sub-splits it
  cannot give (mapped or not) are ``None``.
* ``--exact``: a ``PageCensus`` of every PFN of ``/proc/kpageflags`` + ``/proc/kpagecount``
  (``memtype.collect.exact.system``) for the user kinds; kernel, hugetlb and free still come from meminfo,
  read as the scan begins (flags 0 covers both not-yet-initialised free memory and kernel
  allocations, spec C.2), once the scanner's own memory is allocated, so that it is in both figures.

Either way ``unaccounted`` is MemTotal minus the other rows: the remainder is shown, never dropped.

Kernel facts, with where they come from:

* ``Cached`` excludes the swap cache (fs/proc/meminfo.c: cached = NR_FILE_PAGES - swapcache -
  buffers), so file cache is ``Buffers + Cached - Shmem`` and SwapCached is a row of its own.
* Kernel stacks are counted twice in meminfo on VMAP_STACK kernels (x86-64 and arm64 default):
  in ``KernelStack`` and in ``VmallocUsed``. Observed here: 2000 new threads moved KernelStack by
  +32000 kB and VmallocUsed by +31968 kB. The vmalloc row is therefore VmallocUsed - KernelStack
  whenever that is not negative. (The spec's C.1 "unaccounted" formula adds both.)
* The zswap pool (``Zswap``) is RAM in no other meminfo field (zsmalloc pages are not slab): kernel.
* Free pages on the per-CPU lists are not in ``MemFree`` (NR_FREE_PAGES counts the buddy lists
  only), and since 6.7 those lists grow to ``high_max`` (38912 pages per CPU here). Observed: 48204
  pages (188 MiB) on them, and 256 MiB of new anon memory lowered MemFree by only 219 MiB. So free
  is MemFree plus the ``count:`` of every pageset in /proc/zoneinfo; without that file (an older
  capture) it is MemFree alone and the lists fall into unaccounted.
"""

from __future__ import annotations

from memtype.errors import ParseError
from memtype.kinds import Kind
from memtype.model.reclaim import reclaim_from_meminfo
from memtype.model.records import Row

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import HostInfo, Scan

ROW_IDS = ("anonymous", "cow", "shared", "file", "device", "swap_cache", "kernel", "hugetlb", "free", "unaccounted")
KERNEL_DETAIL = ("kernel.slab_reclaimable", "kernel.slab_unreclaimable", "kernel.page_tables", "kernel.stacks",
                 "kernel.vmalloc", "kernel.percpu", "kernel.zswap")
DETAIL_IDS = ("cow.fork", "cow.ksm", "shared.mapped", "shared.unmapped", "file.mapped", "file.unmapped",
              "file.dirty", "file.writeback") + KERNEL_DETAIL + ("free.memfree", "free.per_cpu")


class MachineRow:
    """One row of the machine table: a stable id, a title, bytes, and where the number comes from."""

    __slots__ = ("id", "title", "bytes", "help")

    def __init__(self, id: str, title: str, bytes: int, help: str) -> None:
        self.id, self.title, self.bytes, self.help = id, title, bytes, help


class MachineMemory:
    """Rows that sum to ``total`` (MemTotal); ``unaccounted`` is the remainder, never dropped."""

    __slots__ = ("total", "rows", "swap_total", "swap_free", "swap_cached", "available", "raw")

    def __init__(self, total: int, rows: list[MachineRow], swap_total: int, swap_free: int, swap_cached: int,
                 available: int | None, raw: dict[str, int]) -> None:
        self.total, self.rows = total, rows
        self.swap_total, self.swap_free, self.swap_cached, self.available = swap_total, swap_free, swap_cached, available
        self.raw = raw

    @property
    def swap_used(self) -> int:
        return self.swap_total - self.swap_free

    def row(self, row_id: str) -> int:
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


def split_meminfo(mi: dict[str, int]) -> MachineMemory:
    """The overview's machine rows from parsed /proc/meminfo (bytes).

    Raises:
        ParseError: it lacks MemTotal or MemFree.
    """
    if "MemTotal" not in mi or "MemFree" not in mi:
        raise ParseError("proc/meminfo", "no MemTotal/MemFree")
    g = mi.get
    rows = [
        MachineRow("anonymous", "anonymous", g("AnonPages", 0),
                   "AnonPages, cow included; swappable"),
        MachineRow("shared", "shared", g("Shmem", 0), "Shmem: tmpfs, memfd, SysV; swappable"),
        MachineRow("file", "file cache", g("Buffers", 0) + g("Cached", 0) - g("Shmem", 0),
                   "Buffers+Cached-Shmem; droppable"),
        MachineRow("swap_cache", "swap cache", g("SwapCached", 0), "SwapCached: in RAM and in swap"),
        MachineRow("kernel", "kernel", sum(v or 0 for v in kernel_parts(mi).values()),
                   "slab, stacks, page tables, vmalloc"),
        MachineRow("hugetlb", "hugetlb", hugetlb_bytes(mi), "Hugetlb: pool, used or free"),
        MachineRow("free", "free", mi["MemFree"], "MemFree"),
    ]
    rows.append(MachineRow("unaccounted", "unaccounted", mi["MemTotal"] - sum(x.bytes for x in rows),
                           "the rest: drivers, other kernel"))
    return MachineMemory(mi["MemTotal"], rows, g("SwapTotal", 0), g("SwapFree", 0), g("SwapCached", 0),
                         g("MemAvailable"), mi)


# -- memtype system -------------------------------------------------------------------------------

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


class ReconcileRow:
    """One kind at two levels: the machine's figure beside the sum of every process's PSS of that kind.

    ``difference`` = machine - processes (``None`` where the machine figure is unknown); ``meaning``
    names what the difference is made of.
    """

    __slots__ = ("kind", "system", "processes", "difference", "meaning")

    def __init__(self, kind: str, system: int | None, processes: int, meaning: str) -> None:
        self.kind, self.system, self.processes, self.meaning = kind, system, processes, meaning
        self.difference = None if system is None else system - processes


class SystemMemory:
    """``memtype system``: rows that partition MemTotal, their sub-splits, swap, and the reconciliation.

    ``rows`` (bytes, in ``ROW_IDS`` order) add up to ``total``; ``detail`` holds sub-splits (``None``:
    not known in this mode); ``census`` is the page scan of ``--exact`` (else ``None``);
    ``processes`` is the mapping-level scan used to reconcile (``None`` when skipped).
    """

    __slots__ = ("host", "total", "rows", "detail", "swap", "available", "exact", "census", "meminfo", "processes",
                 "reconcile", "notes", "reclaim")

    def __init__(self, host: HostInfo, total: int, rows: dict[str, int], detail: dict[str, int | None],
                 swap: dict[str, int | None], available: int | None, exact: bool, census: PageCensus | None,
                 meminfo: dict[str, int]) -> None:
        self.host, self.total, self.rows, self.detail, self.swap = host, total, rows, detail, swap
        self.available, self.exact, self.census, self.meminfo = available, exact, census, meminfo
        self.processes: Scan | None = None
        self.reconcile: list[ReconcileRow] | None = None
        self.notes: list[str] = []
        self.reclaim: dict[str, int] | None = None  # memtype.model.reclaim classes of the LRU lists + hugetlb

    @property
    def unknown(self) -> tuple[str, ...]:
        """Rows this mode cannot know: meminfo has no copy-on-write or driver-page figure (their bytes
        are counted in anonymous and unaccounted; the rows hold 0 so that the sum stays MemTotal)."""
        return () if self.exact else ("cow", "device")

    def row(self, row_id: str) -> int | None:
        """A top-level row's bytes; None where this mode cannot know it."""
        return None if row_id in self.unknown else self.rows[row_id]

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
                        own_anon: int | None = None) -> SystemMemory:
    """``memtype system``'s rows, sub-splits, swap and notes (module docstring).

    Args:
        mi: parsed /proc/meminfo (with MemTotal and MemFree).
        pcp: pages on the per-CPU free lists (zoneinfo); ``None``: unknown.
        census: the ``--exact`` page scan, else ``None`` (meminfo only).
        own_anon: memtype's own RssAnon during the page scan, for a note.
    """
    g = mi.get
    total = mi["MemTotal"]
    kparts = kernel_parts(mi)
    shmem, anon_pages = g("Shmem", 0), g("AnonPages", 0)
    detail: dict[str, int | None] = dict.fromkeys(DETAIL_IDS)
    detail.update(kparts)
    rows = dict.fromkeys(ROW_IDS, 0)
    if census is None:
        rows.update(anonymous=anon_pages, shared=shmem, file=g("Buffers", 0) + g("Cached", 0) - shmem,
                    swap_cache=g("SwapCached", 0))
        detail["file.dirty"], detail["file.writeback"] = g("Dirty"), g("Writeback")
    else:
        b = {k: v * host.page_size for k, v in census.pages.items()}
        detail.update({k: b[k] for k in ("cow.fork", "cow.ksm", "shared.mapped", "shared.unmapped", "file.mapped",
                                         "file.unmapped")})
        detail["file.dirty"] = census.file_dirty * host.page_size
        detail["file.writeback"] = census.file_writeback * host.page_size
        rows.update(anonymous=b["anonymous"], cow=b["cow.fork"] + b["cow.ksm"],
                    shared=b["shared.mapped"] + b["shared.unmapped"], file=b["file.mapped"] + b["file.unmapped"],
                    device=b["device"], swap_cache=b["swap_cache"])
    detail["free.memfree"] = mi["MemFree"]
    detail["free.per_cpu"] = None if pcp is None else pcp * host.page_size
    rows.update(kernel=sum(v or 0 for v in kparts.values()), hugetlb=hugetlb_bytes(mi),
                free=mi["MemFree"] + (detail["free.per_cpu"] or 0))
    rows["unaccounted"] = total - sum(v for k, v in rows.items() if k != "unaccounted")
    swap_total, swap_free = g("SwapTotal", 0), g("SwapFree", 0)
    swap = {"total": swap_total, "used": swap_total - swap_free, "cached": g("SwapCached", 0),
            "zswap_pool": g("Zswap"), "zswap_stored": g("Zswapped")}
    sm = SystemMemory(host, total, rows, detail, swap, g("MemAvailable"), census is not None, census, mi)
    try:
        sm.reclaim = reclaim_from_meminfo(mi, swap_room=swap_free > 0)
    except ValueError:  # a meminfo without the LRU lines
        sm.reclaim = None
    if census is None:
        sm.notes.append("meminfo has no copy-on-write or driver-page figure: cow is counted in anonymous and "
                        "driver pages in unaccounted; --exact (root) splits them")
        if g("SwapCached"):
            sm.notes.append("SwapCached also counts swapped-in pages that are mapped again (they are in "
                            "anonymous too), so unaccounted is short by those")
    else:
        flags_anon = rows["anonymous"] + rows["cow"]
        sm.notes.append(
            f"the scan is not atomic: it read {census.pfns} page frames in {census.seconds:.2f} s while memory "
            f"moved; anon by flags ({flags_anon // 1024} kB) and AnonPages read just before "
            f"({anon_pages // 1024} kB) differ by {(flags_anon - anon_pages) // 1024:+d} kB")
        if own_anon is not None:
            sm.notes.append(f"anonymous includes memtype's own {own_anon / 2**20:.1f} MiB (its buffers and numpy)")
        sm.notes.append("kernel, hugetlb and free are meminfo's (free memory the kernel has not initialised yet "
                        "has no page flags); unaccounted also absorbs what moved during the scan")
    return sm


_MEANING = {
    "anonymous": "anon no process maps (freeing)",
    "cow": "estimate by mapping vs by page",
    "shared": "shmem no process maps (tmpfs)",
    "file": "page cache no process maps",
    "device": "by flags vs by mapping class",
}
_MEANING_MEMINFO = {
    "anonymous": "anon no process maps (PSS: +cow)",
    "cow": "not in meminfo: in anonymous",
    "device": "not in meminfo: in unaccounted",
}
ORDER = (Kind.ANONYMOUS, Kind.COW, Kind.SHARED, Kind.FILE, Kind.DEVICE)


def reconcile(sm: SystemMemory, result: Scan) -> list[ReconcileRow]:
    """Per kind: Σ PSS over processes beside the machine's figure, and what the difference is.

    PSS divides each shared page among its mappers, so over all processes it sums to the pages
    mapped: the difference is memory of that kind no (readable) process maps. At mapping level the
    kinds are estimates (spec A.6), and page cache under a private writable mapping is cow there but
    file by its flags, so the cow and file differences also hold that.
    """
    pss = {k: sum(p.categories[k].pss for p in result.processes) for k in Kind}
    rows = sm.rows
    if sm.exact:
        return [ReconcileRow(k.value, rows[k.value], pss[k], _MEANING[k.value]) for k in ORDER]
    return [
        ReconcileRow("anonymous", rows["anonymous"], pss[Kind.ANONYMOUS] + pss[Kind.COW],
                     _MEANING_MEMINFO["anonymous"]),
        ReconcileRow("cow", None, pss[Kind.COW], _MEANING_MEMINFO["cow"]),
        ReconcileRow("shared", rows["shared"], pss[Kind.SHARED], _MEANING["shared"]),
        ReconcileRow("file", rows["file"], pss[Kind.FILE], _MEANING["file"]),
        ReconcileRow("device", None, pss[Kind.DEVICE], _MEANING_MEMINFO["device"]),
    ]
