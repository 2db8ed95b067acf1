"""Swap as records: the machine's swap (devices, zswap, zram; read by ``memtype.collect.swapinfo``), and
who is in it: processes, mappings and shared-memory objects (kernel-spec.md E.1, E.2).

Two kernel rules shape it:

* smaps ``Swap`` of a shmem mapping counts the *object's* swapped pages in the mapped range, in
  every process that maps it, while ``SwapPss`` counts them 0 and ``VmSwap``/pagemap not at all
  (surprise 7). So shmem swap is attributed to the object (by device and inode: a memfd, a
  ``/dev/shm`` file, a SysV segment, a ``MAP_SHARED|MAP_ANONYMOUS`` region) and listed beside its
  mappers, never summed over them. An object's swap is the largest of its mappings' (exact when
  they map the same range, the usual case; a lower bound otherwise). SysV segments have an exact
  figure in /proc/sysvipc/shm, used when present (their inode in smaps is the shmid).
* Anon swap entries shared after fork count once per process in ``Swap`` and are divided in
  ``SwapPss``, so the processes' anon ``SwapPss`` sums to the swap slots they hold.

``attribution`` splits the swap in use into those two and the rest, so the three add up to it.
"""

from __future__ import annotations

from memtype.kinds import Kind
from memtype.model.records import Mapping, ProcessMemory, Scan
from memtype.parse.swapfiles import ShmSegment, SwapDevice

_SHMEM_CLASSES = ("shmem", "shmem-hugetlb", "shmem-private")


class Zswap:
    """zswap: compressed swap pages kept in RAM in front of a swap device. ``pool`` is the RAM it uses,
    ``stored`` the swapped bytes it holds (meminfo Zswap / Zswapped, 5.19+)."""

    __slots__ = ("enabled", "compressor", "max_pool_percent", "pool", "stored")

    def __init__(self, enabled: bool | None, compressor: str | None, max_pool_percent: int | None,
                 pool: int | None, stored: int | None) -> None:
        self.enabled, self.compressor, self.max_pool_percent = enabled, compressor, max_pool_percent
        self.pool, self.stored = pool, stored


class Zram:
    """A zram block device: ``disksize`` is its capacity; ``stored`` bytes are held in ``pool`` bytes of RAM."""

    __slots__ = ("name", "disksize", "algorithm", "stored", "compressed", "pool", "is_swap")

    def __init__(self, name: str, disksize: int, algorithm: str | None, stored: int | None, compressed: int | None,
                 pool: int | None, is_swap: bool) -> None:
        self.name, self.disksize, self.algorithm = name, disksize, algorithm
        self.stored, self.compressed, self.pool, self.is_swap = stored, compressed, pool, is_swap


class SwapInfo:
    """The machine's swap. Sizes in bytes; ``None``: not reported (or not in the capture)."""

    __slots__ = ("devices", "total", "free", "cached", "swappiness", "zswap", "zram", "shm")

    def __init__(self, devices: list[SwapDevice], total: int, free: int, cached: int, swappiness: int | None,
                 zswap: Zswap, zram: list[Zram], shm: list[ShmSegment] | None) -> None:
        self.devices, self.total, self.free, self.cached = devices, total, free, cached
        self.swappiness, self.zswap, self.zram, self.shm = swappiness, zswap, zram, shm

    @property
    def used(self) -> int:
        return self.total - self.free

    @property
    def room(self) -> bool:
        """Whether the kernel could swap now: an active device with a free slot."""
        return self.free > 0


class ShmemObject:
    """A shared-memory object with swapped pages and the processes that map it."""

    __slots__ = ("name", "dev", "inode", "swap", "exact", "mappers")

    def __init__(self, name: str, dev: str, inode: int) -> None:
        self.name, self.dev, self.inode = name, dev, inode
        self.swap = 0
        self.exact = False  # True: from /proc/sysvipc/shm, not from the mappings
        self.mappers: list[tuple[int, str, int]] = []  # (pid, comm, swap of its mappings of the object)


class SwappedMapping:
    """One mapping with pages in swap."""

    __slots__ = ("pid", "comm", "mapping")

    def __init__(self, pid: int, comm: str, mapping: Mapping) -> None:
        self.pid, self.comm, self.mapping = pid, comm, mapping


def anon_swap(p: ProcessMemory) -> int:
    """Swap of a process's private pages (anonymous and cow)."""
    return p.categories[Kind.ANONYMOUS].swap + p.categories[Kind.COW].swap


def anon_swap_pss(p: ProcessMemory) -> int:
    return p.categories[Kind.ANONYMOUS].swap_pss + p.categories[Kind.COW].swap_pss


def shmem_objects(procs: list[ProcessMemory], shm: list[ShmSegment] | None = None) -> list[ShmemObject]:
    """Shared-memory objects in swap, largest first (processes must be scanned with mappings)."""
    found: dict[tuple[str, int, str], ShmemObject] = {}
    for p in procs:
        per_object: dict[tuple[str, int, str], int] = {}
        for m in p.mappings or ():
            swap = m.categories[Kind.SHARED].swap
            if m.mapclass not in _SHMEM_CLASSES or not swap:
                continue
            key = (m.dev, m.inode, m.path) if m.inode else ("", m.start, f"{m.path or '[shared anon]'} (pid {p.pid})")
            obj = found.get(key)
            if obj is None:
                obj = found[key] = ShmemObject(key[2] or "[shared anon]", m.dev, m.inode)
            obj.swap = max(obj.swap, swap)
            per_object[key] = per_object.get(key, 0) + swap
        for key, swap in per_object.items():
            found[key].mappers.append((p.pid, p.comm, swap))
    by_shmid = {s.shmid: s for s in shm or () if s.swap is not None}
    for obj in found.values():
        seg = by_shmid.get(obj.inode) if obj.name.startswith("/SYSV") else None
        if seg is not None and seg.swap is not None:
            obj.swap, obj.exact = seg.swap, True
    known = {o.inode for o in found.values() if o.name.startswith("/SYSV")}
    for seg in shm or ():  # segments in swap that no scanned process maps
        if seg.swap and seg.shmid not in known:
            obj = ShmemObject(f"/SYSV{seg.key & 0xffffffff:08x} (shmid {seg.shmid}, not attached)", "", seg.shmid)
            obj.swap, obj.exact = seg.swap, True
            found[("sysv", seg.shmid, "")] = obj
    return sorted(found.values(), key=lambda o: o.swap, reverse=True)


def swapped_mappings(procs: list[ProcessMemory]) -> list[SwappedMapping]:
    """Every mapping with swap, largest first."""
    out = [SwappedMapping(p.pid, p.comm, m) for p in procs for m in p.mappings or () if m.totals.swap]
    return sorted(out, key=lambda s: s.mapping.totals.swap, reverse=True)


def attribution(used: int, procs: list[ProcessMemory], objects: list[ShmemObject]) -> dict[str, int]:
    """Swap in use split so it adds up: ``anonymous`` (Σ anon SwapPss: the slots processes hold),
    ``shared`` (Σ object swap), and ``rest`` = used - both: swap slots of pages back in RAM but kept
    in the swap cache, tmpfs/shm files nobody maps, and processes that could not be read."""
    anon = sum(anon_swap_pss(p) for p in procs)
    shared = sum(o.swap for o in objects)
    return {"anonymous": anon, "shared": shared, "rest": used - anon - shared}


class SwapReport:
    """What ``memtype swap`` shows: the devices, and who is in swap (``shmem_objects``, ``attribution``)."""

    __slots__ = ("info", "scan", "objects", "mappings", "attribution", "top")

    def __init__(self, info: SwapInfo, scan: Scan, objects: list[ShmemObject], mappings: list[SwappedMapping],
                 attribution: dict[str, int], top: int) -> None:
        self.info, self.scan, self.objects, self.mappings = info, scan, objects, mappings
        self.attribution, self.top = attribution, top

    def processes(self) -> list[ProcessMemory]:
        """Processes with swap, by swap (anon + the shmem they map), largest first."""
        procs = [p for p in self.scan.processes if p.totals.swap]
        return sorted(procs, key=lambda p: (p.totals.swap, p.totals.swap_pss), reverse=True)
