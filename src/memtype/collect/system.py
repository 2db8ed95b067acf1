"""The machine's memory by kind from /proc/meminfo; the rows add up to MemTotal exactly.

Mapping: kernel-spec.md C.1. One correction to the spec, from fs/proc/meminfo.c: ``Cached`` already
excludes the swap cache (cached = NR_FILE_PAGES - swapcache - buffers), so file cache is
``Buffers + Cached - Shmem`` and SwapCached is its own row.
"""

from __future__ import annotations

from memtype.errors import FileMissing, ParseError
from memtype.parse.procfiles import parse_meminfo
from memtype.source.root import Root

KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables", "SecPageTables", "Percpu", "VmallocUsed")


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


def machine_memory(root: Root | str = "/") -> MachineMemory:
    """Read and split /proc/meminfo.

    Raises:
        FileMissing: the root has no proc/meminfo. ParseError: it lacks MemTotal.
    """
    r = root if isinstance(root, Root) else Root(root)
    mi = parse_meminfo(r.read_text("proc/meminfo"))
    return split_meminfo(mi)


def split_meminfo(mi: dict[str, int]) -> MachineMemory:
    if "MemTotal" not in mi or "MemFree" not in mi:
        raise ParseError("proc/meminfo", "no MemTotal/MemFree")
    g = mi.get
    hugetlb = g("Hugetlb")
    if hugetlb is None:
        hugetlb = g("HugePages_Total", 0) * g("Hugepagesize", 0)
    rows = [
        MachineRow("anonymous", "anonymous", g("AnonPages", 0),
                   "AnonPages, cow included; swappable"),
        MachineRow("shared", "shared", g("Shmem", 0), "Shmem: tmpfs, memfd, SysV; swappable"),
        MachineRow("file", "file cache", g("Buffers", 0) + g("Cached", 0) - g("Shmem", 0),
                   "Buffers+Cached-Shmem; droppable"),
        MachineRow("swap_cache", "swap cache", g("SwapCached", 0), "SwapCached: in RAM and in swap"),
        MachineRow("kernel", "kernel", sum(g(k, 0) for k in KERNEL_FIELDS),
                   "slab, stacks, page tables, vmalloc"),
        MachineRow("hugetlb", "hugetlb", hugetlb, "Hugetlb: pool, used or free"),
        MachineRow("free", "free", mi["MemFree"], "MemFree"),
    ]
    rows.append(MachineRow("unaccounted", "unaccounted", mi["MemTotal"] - sum(x.bytes for x in rows),
                           "the rest: drivers, other kernel"))
    return MachineMemory(mi["MemTotal"], rows, g("SwapTotal", 0), g("SwapFree", 0), g("SwapCached", 0),
                         g("MemAvailable"), mi)


__all__ = ["FileMissing", "MachineMemory", "MachineRow", "machine_memory", "split_meminfo"]
