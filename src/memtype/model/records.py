"""Typed records every front end reads. All sizes are bytes; ``None`` means "not reported"."""

from __future__ import annotations

from dataclasses import dataclass, field

from memtype.kinds import KINDS, Kind


@dataclass(slots=True)
class KindUsage:
    """One kind's share of a process or mapping: resident, proportional, swapped (all bytes)."""

    rss: int = 0
    pss: int = 0
    swap: int = 0
    swap_pss: int = 0

    def add(self, other: KindUsage) -> None:
        self.rss += other.rss
        self.pss += other.pss
        self.swap += other.swap
        self.swap_pss += other.swap_pss


def empty_split() -> dict[Kind, KindUsage]:
    return {k: KindUsage() for k in KINDS}


@dataclass(slots=True)
class Totals:
    """Sums over mappings. The kinds' rss/pss/swap/swap_pss add up to rss/pss/swap/swap_pss here."""

    size: int = 0
    rss: int = 0
    pss: int = 0
    uss: int = 0
    swap: int = 0
    swap_pss: int = 0
    hugetlb: int = 0  # hugetlb pages are outside Rss (spec A.7); reported beside the kinds
    device_mapped: int = 0  # size of pf/io mappings (GPU BARs, [vvar]): address space, not RAM
    locked: int = 0
    lazyfree: int = 0
    anon_huge: int = 0

    def add(self, o: Totals) -> None:
        for name in Totals.__slots__:
            setattr(self, name, getattr(self, name) + getattr(o, name))


@dataclass(slots=True)
class Mapping:
    """One mapping (VMA) with its mapping-level class and its split into kinds."""

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


@dataclass(slots=True)
class ProcessMemory:
    """A process's memory by kind, from its smaps."""

    pid: int
    comm: str
    uid: int | None
    user: str | None
    ppid: int | None
    starttime: int | None
    totals: Totals
    categories: dict[Kind, KindUsage]
    exe: str | None = None
    cmdline: list[str] | None = None
    mappings: list[Mapping] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def program(self) -> str:
        """The executable's name (ps_mem's grouping key), falling back to argv[0] and comm."""
        if self.exe:
            return self.exe.rsplit("/", 1)[-1].removesuffix(" (deleted)")
        if self.cmdline and self.cmdline[0]:
            return self.cmdline[0].split()[0].rsplit("/", 1)[-1]
        return self.comm


@dataclass(slots=True)
class Skipped:
    """A process memtype could not report, and why ("gone", "denied", "not captured", ...)."""

    pid: int
    reason: str
    path: str = ""


@dataclass
class HostInfo:
    hostname: str | None
    kernel: str | None
    page_size: int
    captured_at: str | None  # ISO time of the capture; None when live
    root: str
    live: bool


@dataclass
class Scan:
    """Every process of a machine, split by kind, with what could not be read."""

    host: HostInfo
    processes: list[ProcessMemory]
    skipped: list[Skipped] = field(default_factory=list)
    kernel_threads: int = 0
    warnings: list[str] = field(default_factory=list)

    def count(self, reason: str) -> int:
        return sum(1 for s in self.skipped if s.reason == reason)
