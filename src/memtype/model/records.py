"""Typed records every front end reads. All sizes are bytes; ``None`` means "not reported".

Slotted classes rather than dataclasses: ``dataclasses`` pulls in ``inspect`` (about 7 ms of
every run's start-up, measured with ``python -X importtime``), and memtype's start-up is part of
what the benchmark compares with ``cat``. The records (``Mapping``, ``ProcessMemory``, ``Skipped``,
``HostInfo``, ``Scan``) are read-only once built (``memtype.model.frozen``); a step that refines one
(``--exact``, the reclaim fit) returns a new one with ``replace``. ``KindUsage`` and ``Totals`` are
plain value types, also used as accumulators for sums a caller owns (``model.group``): nothing
changes the instances a record holds.
"""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.frozen import Frozen, FrozenValue, fill

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.freed import Freed, MappingFate


class KindUsage:
    """One kind's share of a process or mapping: resident, proportional, swapped (all bytes)."""

    __slots__ = ("rss", "pss", "swap", "swap_pss")

    def __init__(self, rss: int = 0, pss: int = 0, swap: int = 0, swap_pss: int = 0) -> None:
        self.rss, self.pss, self.swap, self.swap_pss = rss, pss, swap, swap_pss

    def add(self, other: KindUsage) -> None:
        self.rss += other.rss
        self.pss += other.pss
        self.swap += other.swap
        self.swap_pss += other.swap_pss

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.rss, self.pss, self.swap, self.swap_pss)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KindUsage) and self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"KindUsage(rss={self.rss}, pss={self.pss}, swap={self.swap}, swap_pss={self.swap_pss})"


def empty_split() -> dict[Kind, KindUsage]:
    return {k: KindUsage() for k in KINDS}


class Totals:
    """Sums over mappings. The kinds' rss/pss/swap/swap_pss add up to rss/pss/swap/swap_pss here.

    ``cow_file``/``cow_file_pss`` are the file-backed part of the cow kind: page cache under a private
    writable file mapping that the process has not written yet (kernel-spec A.6: cow until written,
    then a private anon copy). Like page cache it is droppable; the rest of cow (``cow_anon``: anon
    pages still shared after fork, KSM) is swappable.
    """

    __slots__ = ("size", "rss", "pss", "uss", "swap", "swap_pss", "hugetlb", "device_mapped", "locked", "lazyfree",
                 "anon_huge", "file_huge", "cow_file", "cow_file_pss")

    def __init__(self, size: int = 0, rss: int = 0, pss: int = 0, uss: int = 0, swap: int = 0, swap_pss: int = 0,
                 hugetlb: int = 0, device_mapped: int = 0, locked: int = 0, lazyfree: int = 0,
                 anon_huge: int = 0, file_huge: int = 0, cow_file: int = 0, cow_file_pss: int = 0) -> None:
        self.size = size
        self.rss = rss
        self.pss = pss
        self.uss = uss  # Private_Clean + Private_Dirty
        self.swap = swap
        self.swap_pss = swap_pss
        self.hugetlb = hugetlb  # hugetlb pages are outside Rss (spec A.7); reported beside the kinds
        self.device_mapped = device_mapped  # size of pf/io mappings (GPU BARs, [vvar]): address space, not RAM
        self.locked = locked
        self.lazyfree = lazyfree
        self.anon_huge = anon_huge  # anon THP mapped with PMDs (smaps AnonHugePages)
        self.file_huge = file_huge  # file THP mapped with PMDs (smaps FilePmdMapped, 4.15+)
        self.cow_file = cow_file  # resident bytes of the cow kind that are page cache (class docstring)
        self.cow_file_pss = cow_file_pss

    def add(self, o: Totals) -> None:
        for name in Totals.__slots__:
            setattr(self, name, getattr(self, name) + getattr(o, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in Totals.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Totals) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return "Totals(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


class Mapping(Frozen):
    """One mapping (VMA) with its mapping-level class and its split into kinds (read-only)."""

    __slots__ = ("start", "end", "perms", "offset", "dev", "inode", "path", "vmflags", "mapclass", "totals",
                 "categories", "fate")

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str
    vmflags: tuple[str, ...]
    mapclass: str
    totals: Totals
    categories: dict[Kind, KindUsage]
    fate: MappingFate | None  # what killing its process frees of it (``maps --freed``)

    def __init__(self, start: int, end: int, perms: str, offset: int, dev: str, inode: int, path: str,
                 vmflags: tuple[str, ...], mapclass: str, totals: Totals, categories: dict[Kind, KindUsage],
                 fate: MappingFate | None = None) -> None:
        fill(self, start, end, perms, offset, dev, inode, path, vmflags, mapclass, totals, categories, fate)

    def __repr__(self) -> str:
        return f"Mapping({self.start:x}-{self.end:x} {self.perms} {self.mapclass} {self.path!r})"


class ProcessMemory(Frozen):
    """A process's memory by kind, from its smaps (read-only: ``replace`` gives a changed copy)."""

    __slots__ = ("pid", "comm", "uid", "user", "ppid", "starttime", "totals", "categories", "exe", "cmdline",
                 "mappings", "problems", "cgroup", "reclaim", "exact", "pages", "kernel", "freed", "gpu")

    pid: int
    comm: str
    uid: int | None
    user: str | None
    ppid: int | None
    starttime: int | None
    totals: Totals
    categories: dict[Kind, KindUsage]
    exe: str | None
    cmdline: list[str] | None
    mappings: list[Mapping] | None
    problems: list[str]
    cgroup: str | None  # memory cgroup path ("/system.slice/x.service"), when asked for
    reclaim: dict[str, int] | None  # {"drop","writeback","swap","never"} bytes, when computed
    exact: bool  # every page was classified (``--exact``)
    pages: dict[str, int | None] | None  # page-only detail of an exact scan (bytes)
    kernel: dict[str, int | None] | None  # the kernel's memory for it: page_tables, kernel_stack (bytes), threads
    freed: Freed | None  # what a kill would free (``memtype.model.freed``), when asked for
    gpu: dict[str, Any] | None  # its GPU memory (model.gpu.process_gpu, + "host": gpu_host); never in the kinds

    def __init__(self, pid: int, comm: str, uid: int | None, user: str | None, ppid: int | None,
                 starttime: int | None, totals: Totals, categories: dict[Kind, KindUsage], exe: str | None = None,
                 cmdline: list[str] | None = None, mappings: list[Mapping] | None = None,
                 problems: list[str] | None = None, cgroup: str | None = None,
                 reclaim: dict[str, int] | None = None, exact: bool = False,
                 pages: dict[str, int | None] | None = None, kernel: dict[str, int | None] | None = None,
                 freed: Freed | None = None, gpu: dict[str, Any] | None = None) -> None:
        fill(self, pid, comm, uid, user, ppid, starttime, totals, categories, exe, cmdline, mappings,
             problems if problems is not None else [], cgroup, reclaim, exact, pages, kernel, freed, gpu)

    @property
    def key(self) -> tuple[int, int | None]:
        """The process's identity, ``(pid, starttime)``: a reused PID is another process."""
        return (self.pid, self.starttime)

    @property
    def program(self) -> str:
        """The executable's name (ps_mem's grouping key), falling back to argv[0] and comm."""
        if self.exe:
            return self.exe.rsplit("/", 1)[-1].removesuffix(" (deleted)")
        if self.cmdline and self.cmdline[0]:
            return self.cmdline[0].split()[0].rsplit("/", 1)[-1]
        return self.comm

    def __repr__(self) -> str:
        return f"ProcessMemory(pid={self.pid}, comm={self.comm!r}, rss={self.totals.rss}, pss={self.totals.pss})"


class Skipped(FrozenValue):
    """A process memtype could not report, and why: a ``SKIP_REASONS`` key (read-only)."""

    __slots__ = ("pid", "reason", "path")

    pid: int
    reason: str
    path: str

    def __init__(self, pid: int, reason: str, path: str = "") -> None:
        fill(self, pid, reason, path)

    def __repr__(self) -> str:
        return f"Skipped({self.pid}, {self.reason!r}, {self.path!r})"


# Why a process is in ``Scan.skipped`` (one line per reason for the notes; style.md rule 6).
SKIP_REASONS = {
    "kernel": "a kernel thread: no user memory",
    "zombie": "a zombie: it exited and freed its memory, but its parent has not reaped it",
    "gone": "it exited while being read",
    "denied": "the kernel refused to show its smaps",
    "not captured": "the capture does not hold its smaps",
    "unreadable": "its files are damaged",
    "error": "a read error",
    "not sampled": "its smaps was not read in this sample (counters only)",
}


class HostInfo(FrozenValue):
    """The machine a scan describes (read-only).

    ``smaps_absent``: the smaps fields memtype reads that this kernel does not print (``LazyFree``
    before 4.12, ``SwapPss`` before 4.3...); the figures made from them are unknown, not 0, although
    the records hold 0 there so that sums stay plain ints on the hot path (review L3). Empty until
    a scan has read a smaps.
    """

    __slots__ = ("hostname", "kernel", "page_size", "captured_at", "root", "live", "page_size_note", "smaps_absent")

    hostname: str | None
    kernel: str | None
    page_size: int  # bytes: sysconf live; a capture's manifest, else its smaps KernelPageSize
    captured_at: str | None  # ISO time of the capture; None when live
    root: str
    live: bool
    page_size_note: str | None  # set where the page size was assumed
    smaps_absent: frozenset[str]

    def __init__(self, hostname: str | None, kernel: str | None, page_size: int, captured_at: str | None,
                 root: str, live: bool, page_size_note: str | None = None,
                 smaps_absent: frozenset[str] = frozenset()) -> None:
        fill(self, hostname, kernel, page_size, captured_at, root, live, page_size_note, smaps_absent)


class Scan(Frozen):
    """Every process of a machine, split by kind, with what could not be read and why (read-only)."""

    __slots__ = ("host", "processes", "skipped", "warnings")

    host: HostInfo
    processes: list[ProcessMemory]
    skipped: list[Skipped]  # kernel threads too ("kernel")
    warnings: list[str]

    def __init__(self, host: HostInfo, processes: list[ProcessMemory], skipped: list[Skipped] | None = None,
                 warnings: list[str] | None = None) -> None:
        fill(self, host, processes, skipped if skipped is not None else [], warnings if warnings is not None else [])

    @property
    def kernel_threads(self) -> int:
        return self.count("kernel")

    def count(self, reason: str) -> int:
        return sum(1 for s in self.skipped if s.reason == reason)

    def skip_counts(self) -> dict[str, int]:
        """Processes skipped per reason, kernel threads apart (they are ``kernel_threads``)."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            if s.reason != "kernel":
                counts[s.reason] = counts.get(s.reason, 0) + 1
        return counts


class Row(FrozenValue):
    """One line of a table whose lines add up: ``memtype system``'s rows (to MemTotal), who is in swap (to
    the swap used), the machine's file cache (to Buffers + Cached - Shmem). ``parent``: the row this one
    splits (a sub-row, not part of the top-level sum); ``bytes`` None: not known in this mode (read-only)."""

    __slots__ = ("id", "bytes", "parent")

    id: str
    bytes: int | None
    parent: str | None

    def __init__(self, id: str, bytes: int | None, parent: str | None = None) -> None:
        fill(self, id, bytes, parent)

    def __repr__(self) -> str:
        return f"Row({self.id!r}, {self.bytes}, parent={self.parent!r})"
