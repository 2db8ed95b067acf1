"""Swap as records: the machine's swap (devices, zswap, zram; read by ``memtype.collect.swapinfo``), and
who is in it: processes, mappings and shared-memory objects (kernel-spec.md E.1, E.2).

Two kernel rules shape it:

* smaps ``Swap`` of a shmem mapping counts the *object's* swapped pages in the mapped range, in
  every process that maps it, while ``SwapPss`` counts them 0 and ``VmSwap``/pagemap not at all
  (surprise 7). So shmem swap is attributed to the object (by device and inode: a memfd, a
  ``/dev/shm`` file, a SysV segment, a ``MAP_SHARED|MAP_ANONYMOUS`` region) and listed beside its
  mappers, never summed over them. The objects are ``memtype shm``'s (``model.shm``, one code path):
  an object's swap is the kernel's where it tells (/proc/sysvipc/shm, cachestat), else the largest
  of its mappings' (exact when they map the same range, the usual case; a lower bound otherwise).
* Anon swap entries shared after fork count once per process in ``Swap`` and are divided in
  ``SwapPss``, so the processes' anon ``SwapPss`` sums to the swap slots they hold.

``attribution`` splits the swap in use into those two and the rest, so the three add up to it.
"""

from __future__ import annotations

from memtype.kinds import Kind
from memtype.model.records import Mapping, ProcessMemory, Scan
from memtype.model.shm import ShmAccount, ShmObject
from memtype.parse.swapfiles import ShmSegment, SwapDevice


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


def shmem_objects(account: ShmAccount) -> list[ShmemObject]:
    """Shared-memory objects in swap, largest first: ``memtype shm``'s objects (``collect.shm.read_shm``)
    whose swapped bytes are known and above 0, named as their mappings are in smaps."""
    out = []
    for o in account.objects:
        if not o.swapped:
            continue
        obj = ShmemObject(_maps_name(o), o.dev, o.inode)
        obj.swap, obj.exact = o.swapped, o.measured in _EXACT
        obj.mappers = [(h.pid, h.comm or "?", h.swap or 0) for h in o.holders if h.how == "map"]
        out.append(obj)
    return sorted(out, key=lambda x: x.swap, reverse=True)


_EXACT = ("sysvipc", "cachestat")  # the kernel's own count of the object, not the largest mapping's


def _maps_name(o: ShmObject) -> str:
    """The object as /proc/PID/maps names it (``/memfd:NAME (deleted)``, ``/SYSV0000abcd (deleted)``)."""
    if o.kind == "sysv":
        key = o.name[2:] if o.name and o.name.startswith("0x") else "00000000"
        return f"/SYSV{key}" + (" (deleted)" if o.holders else f" (shmid {o.inode}, not attached)")
    if o.kind == "memfd":
        return f"/{o.name} (deleted)"
    if o.kind == "shared_anon":
        first = o.key.split(":")
        return "/dev/zero (deleted)" + (f" (pid {first[1]})" if o.key.startswith("anon:") else "")
    return f"{o.name or o.key}{' (deleted)' if o.kind == 'deleted' else ''}"


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
