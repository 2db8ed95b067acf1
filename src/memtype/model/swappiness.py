"""Swappiness: the rule the reclaim model follows for it, a what-if and a sweep over its values.

The rule, as ``mm/vmscan.c`` of Linux 6.18 applies it with the classic LRU (``CONFIG_LRU_GEN`` off or
``/sys/kernel/mm/lru_gen/enabled`` 0; this machine has no lru_gen at all) and as
``memtype.model.vmscan`` replays it:

**Which value.** ``sc_swappiness(sc, memcg)``: the ``swappiness=`` of a proactive reclaim (v2
``memory.reclaim``, commit 68cd9050d871; ``swappiness=max`` = ``SWAPPINESS_ANON_ONLY`` = 201 since
6.16: anon only), else ``mem_cgroup_swappiness(memcg)``: on cgroup v2 always ``vm.swappiness`` (v2 has
no per-cgroup knob); on v1 the cgroup's own ``memory.swappiness`` (the root's is ``vm.swappiness``).
``get_scan_count`` runs once per cgroup lruvec, so on v1 even machine-wide reclaim balances each
cgroup's pages by that cgroup's value. A v1 cgroup copies its parent's value when it is made
(``mem_cgroup_css_alloc``) and keeps it: a later ``sysctl vm.swappiness`` does not reach cgroups
that exist (observed here: a child made at 30 stayed 30 when its parent went to 50).

**Range.** 0..200 (``MIN_SWAPPINESS``, ``MAX_SWAPPINESS``): the sysctl (``proc_dointvec_minmax`` to
``SYSCTL_TWO_HUNDRED``) and v1 ``memory.swappiness`` (``mem_cgroup_swappiness_write``) refuse 201 and
-1 with EINVAL (observed here, both).

**The order of the tests in get_scan_count** (the first that holds decides):

1. no swap room (``!can_reclaim_anon_pages``: ``get_nr_swap_pages()``, for a v2 cgroup
   ``mem_cgroup_get_nr_swap_pages`` = the least ``swap.max - swap.current`` up the tree), and no
   demotion target: SCAN_FILE, whatever the swappiness;
2. cgroup reclaim (a v1 limit, v2 ``memory.high/max``, ``memory.reclaim``) with swappiness 0:
   SCAN_FILE: this cgroup's anon and shmem are never swapped by its own reclaim;
3. ``SWAPPINESS_ANON_ONLY`` (proactive only): SCAN_ANON;
4. priority 0 (the last, most desperate pass) and swappiness > 0: SCAN_EQUAL, every list by size;
5. ``file_is_tiny`` (machine reclaim only: ``file + free <= Σ high watermarks`` while inactive anon
   is not low): SCAN_ANON, *whatever the swappiness, 0 included*;
6. ``cache_trim_mode`` (``inactive_file >> priority`` and the inactive file list not low and no
   refaults since the last reclaim, ``prepare_scan_control``): SCAN_FILE: while inactive page cache
   is plentiful swappiness changes nothing;
7. SCAN_FRACT, ``calculate_pressure_balance``: with costs ``a``, ``f`` (below), ``T = 2(a + f)``,
   ``ap = swappiness (T+1) / (2a+f+1)``, ``fp = (200 - swappiness) (T+1) / (a+2f+1)``; each list is
   scanned ``(size >> priority) × ap or fp / (ap + fp)``. At 100 both weigh the same; 200 is *not*
   anon only (``fp`` = 0 under SCAN_FRACT, but tests 4 and 6 still scan page cache).

**What 0 means, then.** Not "no swap". In a cgroup's own reclaim (v1 ``memory.swappiness`` 0, or
``memory.reclaim "N swappiness=0"``) anon is never scanned: a v1 limit cut below the page cache fails
(EBUSY) or OOMs. Machine-wide (``vm.swappiness`` 0, and a v1 cgroup's 0 under machine reclaim)
anon weighs 0 and priority 0 does not scan equally, but ``file_is_tiny`` still swaps anon once page
cache and free memory are down to the high watermarks. ``MADV_PAGEOUT`` ignores swappiness altogether
(kernel-spec.md).

**Costs (refaults).** ``lru_note_cost`` charges each type ``32 × pages written (swap-out, dirty file)
+ pages rotated`` as reclaim scans it, and ``workingset_refault`` charges a refaulting folio's pages as
IO (``lru_note_cost_refault``), so a type that thrashes weighs less next time; the costs halve when
they pass a quarter of the LRU. The model starts the costs at 0 (the lruvec's history is not exported)
and does not model refaults after the cut, which also would switch cache trim off.

**Large folios.** ``isolate_lru_folios`` takes whole folios and counts their pages: a scan target of 32
pages of page cache takes one 256-page ext4 folio, so page cache goes far faster than its fraction
says; an anon folio whose PTE was referenced is only rotated on its first scan
(``folio_check_references``). With 1 MiB file folios page cache goes first even at 190.

**Seen on this kernel** (tests/live/test_swappiness_live.py, v1 limit cuts): with more inactive page
cache than the cut, 0, 60 and 200 take the same (page cache only); with active page cache in 1 MiB
folios 0, 60 and 100 take page cache only and 200 swaps the whole cut though 64 MiB of page cache is
there; in 4 KiB folios anon comes in from 100; a cut at 0 beyond the page cache fails (EBUSY). Anon
and shmem share the anon lists and go oldest first (by first touch), which no counter shows: the
model splits the swap between them in proportion (``predict``), right in total, not in the split.

``sweep`` runs ``memtype.model.pressure.predict`` once per value on the same lists; ``verdict`` says in
one sentence what changes and where it stops mattering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from memtype.model.pressure import KINDS, Prediction

MIN_SWAPPINESS, MAX_SWAPPINESS = 0, 200
DEFAULT_SWEEP = (0, 10, 30, 60, 100, 150, 200)
MiB = 1 << 20
Size = Callable[[int], str]


class SweepPoint:
    """The prediction at one swappiness; ``current``: the value in force for the target."""

    __slots__ = ("swappiness", "prediction", "current")

    def __init__(self, swappiness: int, prediction: Prediction, current: bool) -> None:
        self.swappiness, self.prediction, self.current = swappiness, prediction, current

    def taken(self) -> tuple[int, ...]:
        """What it takes per kind, then short: equal tuples mean the swappiness made no difference."""
        p = self.prediction
        return (*(p.taken[k] for k in KINDS), p.short)


class Sweep:
    """The predictions for one need and target at several swappiness values (ascending)."""

    __slots__ = ("need", "cgroup", "version", "swap_room", "points", "notes")

    def __init__(self, need: int, cgroup: str | None, version: int | None, swap_room: int,
                 points: list[SweepPoint]) -> None:
        self.need, self.cgroup, self.version, self.swap_room, self.points = need, cgroup, version, swap_room, points
        self.notes: list[str] = []

    @property
    def current(self) -> SweepPoint:
        return next(p for p in self.points if p.current)

    def verdict(self, size: Size) -> str:
        return verdict(self.points, self.cgroup is not None, self.swap_room, size)


def sweep_values(values: Iterable[int], current: int) -> list[int]:
    """The values asked for and the one in force, each once, ascending."""
    return sorted({*values, current})


def sweep(predict_at: Callable[[int], Prediction], values: Sequence[int], current: int) -> list[SweepPoint]:
    """One prediction per value (``sweep_values``), the current one marked."""
    return [SweepPoint(s, predict_at(s), s == current) for s in sweep_values(values, current)]


def difference(now: Prediction, then: Prediction) -> dict[str, int]:
    """``then - now`` per kind, for the swap and for what is short (bytes; positive: taken more)."""
    out = {k: then.taken[k] - now.taken[k] for k in KINDS}
    out["swap"] = then.swap - now.swap
    out["short"] = then.short - now.short
    return out


def describe(p: Prediction, size: Size) -> str:
    """What a prediction takes, in words: ``1.2G of page cache and 300M swapped (anon 200M, shmem 100M)``."""
    parts = [f"{size(p.taken['file'])} of page cache"]
    if p.swap:
        parts.append(f"{size(p.swap)} swapped (anon {size(p.taken['anonymous'])}, shmem {size(p.taken['shared'])})")
    else:
        parts.append("no swap")
    text = " and ".join(parts)
    if p.short:
        text += f", {size(p.short)} short"
    return text


def _why_flat(points: Sequence[SweepPoint], swap_room: int, size: Size) -> str:
    p = points[0].prediction
    if p.from_free >= p.need:
        return "free memory above the watermarks covers it, nothing is reclaimed"
    if not swap_room:
        return "there is no swap room, so reclaim can only drop page cache (get_scan_count: SCAN_FILE)"
    if p.steps and all(phase.startswith("page cache first") for phase, _ in p.steps):
        return ("the inactive page cache covers it, and the kernel reclaims that (cache trim mode) before it "
                "looks at swappiness")
    if not p.taken["file"] and not p.lru.file:
        return "there is no page cache left, only anon and shmem"
    if not any(q.prediction.swap for q in points):
        return (f"every value takes {describe(p, size)}: page cache goes first (cache trim while the inactive list "
                "is plentiful, and a referenced anon page is only rotated on its first scan)")
    return f"every value takes {describe(p, size)}"


def verdict(points: Sequence[SweepPoint], cgroup: bool, swap_room: int, size: Size) -> str:
    """One sentence: what changes over the sweep and where it stops mattering (``size`` writes a size)."""
    if not points:
        return "No values to compare."
    need = points[0].prediction.need
    tolerance = max(MiB, need // 100)  # a batch of pages either way is no difference a user would see

    def same(a: SweepPoint, b: SweepPoint) -> bool:
        return all(abs(x - y) <= tolerance for x, y in zip(a.taken(), b.taken()))

    lo, hi = points[0], points[-1]
    if all(same(lo, p) for p in points):
        return f"Swappiness makes no difference to this need here: {_why_flat(points, swap_room, size)}."
    low_end = lo
    for p in points:
        if not same(lo, p):
            break
        low_end = p
    high_start = hi
    for p in reversed(points):
        if not same(hi, p):
            break
        high_start = p
    low = (f"at {lo.swappiness}" if low_end is lo else f"from {lo.swappiness} to {low_end.swappiness}")
    high = (f"at {hi.swappiness}" if high_start is hi else f"from {high_start.swappiness} to {hi.swappiness}")
    text = (f"Swappiness matters here between {low_end.swappiness} and {high_start.swappiness}: {low} the kernel "
            f"would take {describe(lo.prediction, size)}; {high}, {describe(hi.prediction, size)}")
    if high_start is not hi:
        text += f"; above {high_start.swappiness} nothing changes"
    if cgroup and lo.swappiness == 0 and lo.prediction.short and not hi.prediction.short:
        text += " (0 in a cgroup's own reclaim never swaps: the cut fails or the OOM killer runs)"
    return text + "."


def meaning_of_zero(version: int | None) -> str:
    """What swappiness 0 does on this kernel (module docstring), for ``memtype swap``."""
    machine = ("vm.swappiness 0 is not 'no swap': machine-wide reclaim still swaps anon once page cache and "
               "free memory are down to the high watermarks (file_is_tiny)")
    if version == 1:
        return (machine + "; a v1 cgroup's memory.swappiness 0 stops its own limit reclaim from swapping at all "
                "(it fails or OOMs instead), though machine-wide reclaim may still swap it as above.")
    if version == 2:
        return (machine + "; but a cgroup's own reclaim (memory.high, memory.max) then never swaps: v2 cgroups use "
                "vm.swappiness, and 0 there means page cache only (so does memory.reclaim \"SIZE swappiness=0\").")
    return machine + "."


# -- where each value is in force (memtype swap) ---------------------------------------------------

class CgroupSwappiness:
    """A v1 memory cgroup whose ``memory.swappiness`` differs from ``vm.swappiness``: its own reclaim and
    machine-wide reclaim of its pages use this value (``inherited``: its parent has the same value, so
    it was most likely copied when the cgroup was made rather than set)."""

    __slots__ = ("path", "value", "inherited")

    def __init__(self, path: str, value: int, inherited: bool) -> None:
        self.path, self.value, self.inherited = path, value, inherited


class SwappinessView:
    """The swappiness in force: the machine's, the cgroups that differ, and what 0 means here.

    ``version``: the memory cgroup hierarchy's (None: none found); ``cgroups`` is empty on v2, which has
    no per-cgroup knob; ``mglru``: lru_gen is on (the classic-LRU rule above does not apply; None: not
    known, as in a capture without /sys/kernel/mm); ``reclaim_arg``: whether ``memory.reclaim`` exists
    (v2: it takes ``swappiness=``)."""

    __slots__ = ("machine", "version", "cgroups", "mglru", "reclaim_arg")

    def __init__(self, machine: int | None, version: int | None, cgroups: list[CgroupSwappiness],
                 mglru: bool | None, reclaim_arg: bool) -> None:
        self.machine, self.version, self.cgroups = machine, version, cgroups
        self.mglru, self.reclaim_arg = mglru, reclaim_arg

    @property
    def zero(self) -> str:
        """What 0 means on this kernel (``meaning_of_zero``)."""
        return meaning_of_zero(self.version)

    @property
    def per_cgroup(self) -> str:
        """Where per-cgroup values come from, in one line."""
        if self.version == 2:
            return ("cgroup v2 has no per-cgroup swappiness: every cgroup follows vm.swappiness"
                    + ("; memory.reclaim takes \"SIZE swappiness=N\" (or =max: anon only) for one proactive reclaim"
                       if self.reclaim_arg else ""))
        if self.version == 1:
            if not self.cgroups:
                return "every v1 memory cgroup has vm.swappiness's value"
            return (f"{len(self.cgroups)} v1 memory cgroups differ from vm.swappiness (a v1 cgroup copies its "
                    "parent's value when made and keeps it: a later sysctl does not reach it)")
        return "no memory cgroup hierarchy found"


def mglru_note(on: bool | None) -> str | None:
    """The warning for a kernel that runs MGLRU, whose swappiness works by generations instead."""
    if not on:
        return None
    return ("MGLRU is on (/sys/kernel/mm/lru_gen/enabled): reclaim ages generations and swappiness only picks "
            "which type to evict first; this model follows the classic LRU and may be wrong here")


def what_if_note(n: str, cgroup: bool, version: int | None) -> str:
    """What "as if swappiness were ``n``" stands for at this target, on this hierarchy."""
    if cgroup and version == 1:
        return (f"as if the cgroup's memory.swappiness were {n}: the value its limit reclaim uses (0: no swap at all "
                "in that reclaim)")
    if cgroup:
        return (f"cgroup v2 has no per-cgroup swappiness: {n} is vm.swappiness (every cgroup's), or a one-off "
                f"memory.reclaim \"SIZE swappiness={n}\"; 0 makes the cgroup's own reclaim drop page cache only")
    if version == 1:
        return (f"as if vm.swappiness were {n}; on cgroup v1 machine-wide reclaim balances each cgroup's pages by its "
                "own memory.swappiness, and a sysctl does not change the cgroups that exist (memtype swap lists "
                f"those that differ); the model uses {n} for all")
    return f"as if vm.swappiness were {n} (cgroup v2 or no memory cgroups: one value for every page)"
