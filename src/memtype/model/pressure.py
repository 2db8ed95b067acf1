"""What-if: if N more bytes were needed now, what would the kernel take, from whom, and would it swap?

A documented model, not a guess: the reclaim loops of mm/vmscan.c (classic LRU, ``CONFIG_LRU_GEN``
off, as on this kernel) replayed on the four LRU counters that meminfo and memory.stat report
(``memtype.model.vmscan``), checked against the kernel by cutting a cgroup's limit
(tests/live/test_pressure_live.py). What it does, in the order the kernel does it:

1. **Free memory first (machine only).** An allocation takes free pages; kswapd starts at a zone's
   low watermark and reclaims until free memory is back above the high one, so
   ``from_free = MemFree - Σ high watermarks`` (zoneinfo) and only the rest is reclaimed. In a cgroup,
   N is reclaimed from the cgroup (as when its limit is cut N below its usage, or N is written to
   memory.reclaim); its ``headroom`` under its limit is reported beside.
2. **Page cache while it is plentiful.** While the inactive file list is not low against the active
   one (``inactive × √(10 × GiB) ≥ active``) and holds at least ``1 << priority`` pages, reclaim
   scans only page cache ("cache trim"), whatever the swappiness. Active page cache is deactivated
   as the inactive list runs low. Clean pages are dropped first; dirty ones are written back, then
   dropped (``writeback``).
3. **Then anon and page cache, balanced by swappiness.** Each list is scanned in proportion to its
   size times ``swappiness`` (anon) or ``200 - swappiness`` (file), corrected by what reclaiming each
   has cost (32 per page written out, 1 per page rotated). Two kernel details decide the outcome:
   * a mapped anon page whose PTE was referenced gets a second look: its first scan only rotates it.
     The model assumes all inactive anon was touched since the last scan (true of fresh memory; the
     side that predicts less swap), so anon yields nothing until that list has been scanned once;
   * reclaim takes whole folios: one scan of the file list moves a whole page-cache folio (256 pages
     for a file written with 1 MiB writes on ext4 here). With large folios page cache goes first
     even at swappiness 190; with 4 KiB folios anon goes first from about 150 on. ``file_folio`` is
     measured from /proc/kpageflags when it can be (root, numpy), else 1 (the most swapping).
4. **Swap only where it can.** Anon and shmem (both on the anon lists) are taken only while swap has
   room, up to the free swap (for a v2 cgroup also ``memory.swap.max``), and never in a cgroup whose
   swappiness is 0. Without swap, reclaim takes page cache only.
5. **Never taken:** unevictable pages (mlocked, SHM_LOCKed, ramfs), the hugetlb pool, device pages;
   anon and shmem without swap. Kernel memory (slab shrinkers) is not modelled. What cannot be found
   is ``short``: a v1 limit cut fails with EBUSY, a v2 cgroup or the machine calls the OOM killer.

The anon lists hold anonymous and shmem pages in the order they were first touched, which no
counter shows, so what is taken from them is split in proportion to what each kind has there.
"From whom" divides each kind's take among its holders (child cgroups by their memory.stat, processes
by their resident bytes of that kind) in proportion to what they hold, as the kernel scans every
cgroup's lists in proportion to their size.

Not modelled: refaults (a thrashing page cache turns cache trim off), memory.low/min protection,
per-cgroup swappiness and separate lists per cgroup under machine-wide reclaim, kswapd's larger
batches, NUMA nodes and zones, MGLRU.
"""

from __future__ import annotations

from memtype.model.vmscan import Vmscan

MAX_SWAPPINESS = 200
KINDS = ("file", "anonymous", "shared")


class LruSizes:
    """The LRU lists (bytes): anon lists include shmem; ``shmem`` and ``dirty`` are overlays."""

    __slots__ = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "shmem", "dirty")

    def __init__(self, inactive_anon: int, active_anon: int, inactive_file: int, active_file: int, unevictable: int,
                 shmem: int, dirty: int) -> None:
        self.inactive_anon, self.active_anon = inactive_anon, active_anon
        self.inactive_file, self.active_file = inactive_file, active_file
        self.unevictable, self.shmem, self.dirty = unevictable, shmem, dirty

    @property
    def anon(self) -> int:
        return self.inactive_anon + self.active_anon

    @property
    def file(self) -> int:
        return self.inactive_file + self.active_file

    def holds(self) -> dict[str, int]:
        """What each kind has on the evictable lists (bytes)."""
        shared = min(self.shmem, self.anon)
        return {"file": self.file, "anonymous": self.anon - shared, "shared": shared}

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in LruSizes.__slots__}


def lru_from_memory_stat(stat: dict[str, int], version: int) -> LruSizes:
    """LruSizes of a cgroup (v1: the hierarchical ``total_*`` fields where present).

    Raises:
        ValueError: a required field is missing.
    """
    def get(name: str, v2name: str | None = None) -> int:
        key = name if version == 1 else (v2name or name)
        if version == 1 and f"total_{key}" in stat:
            return stat[f"total_{key}"]
        if key not in stat:
            raise ValueError(f"memory.stat lacks {key}")
        return stat[key]

    dirty = get("dirty", "file_dirty") + get("writeback", "file_writeback")
    return LruSizes(get("inactive_anon"), get("active_anon"), get("inactive_file"), get("active_file"),
                    get("unevictable"), get("shmem"), dirty)


def lru_from_meminfo(mi: dict[str, int]) -> LruSizes:
    """The machine's LruSizes from /proc/meminfo (bytes).

    Raises:
        ValueError: a required line is missing.
    """
    names = ("Inactive(anon)", "Active(anon)", "Inactive(file)", "Active(file)", "Unevictable", "Shmem")
    missing = [n for n in names if n not in mi]
    if missing:
        raise ValueError(f"meminfo lacks {', '.join(missing)}")
    return LruSizes(mi["Inactive(anon)"], mi["Active(anon)"], mi["Inactive(file)"], mi["Active(file)"],
                    mi["Unevictable"], mi["Shmem"], mi.get("Dirty", 0) + mi.get("Writeback", 0))


class Prediction:
    """The model's answer. Bytes throughout.

    ``taken`` per kind (file, anonymous, shared) sums with ``from_free`` and ``short`` to ``need``,
    to the byte; ``writeback`` is the dirty part of ``taken["file"]``; ``steps`` names the phases in
    order with the bytes each took (whole pages).
    """

    __slots__ = ("need", "from_free", "taken", "writeback", "short", "steps", "lru", "swappiness", "swap_room",
                 "cgroup", "file_folio")

    def __init__(self, need: int, lru: LruSizes, swappiness: int, swap_room: int, cgroup: bool) -> None:
        self.need, self.lru, self.swappiness, self.swap_room, self.cgroup = need, lru, swappiness, swap_room, cgroup
        self.from_free = 0
        self.taken = dict.fromkeys(KINDS, 0)
        self.writeback = 0
        self.short = 0
        self.steps: list[tuple[str, int]] = []
        self.file_folio = 1.0  # pages per page-cache folio the prediction assumed

    @property
    def swap(self) -> int:
        """Bytes that would go to swap."""
        return self.taken["anonymous"] + self.taken["shared"]

    @property
    def reclaimed(self) -> int:
        return sum(self.taken.values())


def predict(need: int, lru: LruSizes, swappiness: int, swap_room: int, *, page_size: int, free: int | None = None,
            cgroup: bool = False, file_folio: float = 1.0) -> Prediction:
    """Run the model (module docstring).

    Args:
        need: bytes needed.
        lru: the lists of the machine or of the cgroup.
        swappiness: vm.swappiness, or the v1 cgroup's memory.swappiness (0-200).
        swap_room: bytes that can still go to swap (0: none).
        free: machine only: free bytes above the high watermarks, used before any reclaim.
        cgroup: cgroup reclaim (a limit cut, memory.reclaim) rather than the machine's.
        page_size: the machine's base page (``HostInfo.page_size``): reclaim counts, scans and takes
            pages (SWAP_CLUSTER_MAX = 32 of them a batch, mm/vmscan.c), so the lists are simulated in it.
        file_folio: pages per page-cache folio (``memtype.collect.exact.folios``); 1 when unknown, which
            predicts the most swapping.
    """
    out = Prediction(need, lru, swappiness, swap_room, cgroup)
    out.file_folio = file_folio
    if free is not None:
        out.from_free = max(0, min(need, free))
    want = -(-(need - out.from_free) // page_size)  # pages still to find
    unit = max(1, want >> 20)  # beyond 2^20 pages, simulate in larger units (the same proportions)
    block = page_size * unit
    lists = (lru.inactive_anon // block, lru.active_anon // block, lru.inactive_file // block, lru.active_file // block)
    sim = Vmscan(lists, swappiness, swap_room // block, cgroup=cgroup, file_folio=max(1, round(file_folio / unit)),
                 dirty=lru.dirty // block)
    sim.run(-(-want // unit))
    got_anon, got_file = (n * unit for n in sim.reclaimed)
    got_file = min(got_file, want)
    got_anon = min(got_anon, want - got_file)  # the last call may overshoot: the need is what is asked
    steps = [(phase.replace("swappiness", f"swappiness {swappiness}"), n * block)
             for phase, n in sim.phases.items()]
    out.steps = steps
    holds = lru.holds()
    anon_total = holds["anonymous"] + holds["shared"]
    shared = got_anon * holds["shared"] // anon_total if anon_total else 0
    out.taken = {"file": got_file * page_size, "anonymous": (got_anon - shared) * page_size,
                 "shared": shared * page_size}
    out.writeback = min(sim.written * unit, got_file) * page_size
    excess = out.from_free + out.reclaimed - need  # the kernel takes whole pages; the need may end mid-page
    if excess > 0:
        kind = max(out.taken, key=lambda k: out.taken[k])
        out.taken[kind] -= excess
        out.writeback = min(out.writeback, out.taken["file"])
    out.short = need - out.from_free - out.reclaimed  # so free + taken + short == need, to the byte
    return out


def share(taken: int, pool: int, holders: list[tuple[str, int]], top: int, rest: str = "(no process)"
          ) -> list[tuple[str, int, int]]:
    """Divide ``taken`` bytes of one kind among ``holders`` ((who, bytes held)) in proportion to what
    they hold of ``pool``; returns the ``top`` largest as (who, held, share), plus the share of what no
    holder accounts for (page cache of closed files, shmem nobody maps) as (``rest``, ...)."""
    held = sum(h for _, h in holders)
    base = max(pool, held)
    if not taken or not base:
        return []
    ranked = sorted(holders, key=lambda x: x[1], reverse=True)
    out = [(who, h, taken * h // base) for who, h in ranked[:top] if h]
    if pool > held:
        out.append((rest, pool - held, taken * (pool - held) // base))
    return out


# -- the report: a prediction for one target, and from whom ---------------------------------------

Holders = dict[str, list[tuple[str, int, int]]]  # kind -> [(who, holds, predicted share)]


class CgroupState:
    """What the model reads of one memory cgroup (bytes; ``limit`` None: none)."""

    __slots__ = ("path", "version", "stat", "usage", "limit", "swappiness", "swap_limit_room")

    def __init__(self, path: str, version: int, stat: dict[str, int]) -> None:
        self.path, self.version, self.stat = path, version, stat
        self.usage: int | None = None
        self.limit: int | None = None
        self.swappiness: int | None = None
        self.swap_limit_room: int | None = None  # v2: the least (swap.max - swap.current) up to the root


class PressureReport:
    """The model's prediction for one target, with the holders each kind is taken from."""

    __slots__ = ("prediction", "cgroup", "swap_free", "free", "cgroups", "processes", "notes")

    def __init__(self, prediction: Prediction, cgroup: CgroupState | None, swap_free: int, free: int | None) -> None:
        self.prediction, self.cgroup, self.swap_free, self.free = prediction, cgroup, swap_free, free
        self.cgroups: Holders = {}
        self.processes: Holders = {}
        self.notes: list[str] = []


class KindTake:
    """One line of the prediction: what is taken of one kind (``free``, ``file``, ``anonymous``, ``shared``,
    ``short``), out of what the target holds of it (``of``; None where it has no meaning)."""

    __slots__ = ("kind", "taken", "of")

    def __init__(self, kind: str, taken: int, of: int | None) -> None:
        self.kind, self.taken, self.of = kind, taken, of


class Holder:
    """One holder a kind is taken from: a child cgroup or a process (``source``), what it holds of the
    kind and its predicted share."""

    __slots__ = ("source", "kind", "who", "holds", "taken")

    def __init__(self, source: str, kind: str, who: str, holds: int, taken: int) -> None:
        self.source, self.kind, self.who, self.holds, self.taken = source, kind, who, holds, taken


def kind_takes(r: PressureReport) -> list[KindTake]:
    """The prediction as lines that add up to the last one, ``need``: free (machine only), each kind, short."""
    p = r.prediction
    holds = p.lru.holds()
    out = [KindTake("free", p.from_free, r.free)] if r.cgroup is None else []
    out.extend(KindTake(k, p.taken[k], holds[k]) for k in KINDS)
    out.append(KindTake("short", p.short, None))
    out.append(KindTake("need", p.need, None))
    return out


def holders(r: PressureReport) -> list[Holder]:
    """Every holder of ``r.cgroups`` and ``r.processes``, kinds in ``KINDS`` order."""
    return [Holder(source, kind, who, held, got) for source, h in (("cgroups", r.cgroups), ("processes", r.processes))
            for kind in KINDS for who, held, got in h.get(kind, [])]
