"""Who is taking memory back: the reclaimers (agents) and what each took, since boot or between two
reads of /proc/vmstat (Contract R of the session plan), per cgroup from memory.stat.

Agents: ``kswapd`` (background), ``direct`` (an allocating task reclaims, and stalls: ``allocstall``),
``khugepaged``, ``proactive`` (memory.reclaim), and ``unattributed`` = all steals (``pgsteal_anon`` +
``pgsteal_file``) minus the four, so the agents add up to the total. ``damon`` (each DAMON scheme
that reclaims) stands beside them, **outside** the total: its pages are in no steal counter.

Where each reclaimer lands, measured on this kernel (6.18, no MGLRU; memtype issue 12, deltas of
/proc/vmstat around each action with a 512 MiB swapfile on; a v1 memory cgroup holds the process):

=======================================  ============================================  ===========================
what reclaims                            /proc/vmstat                                  memory.stat of its cgroup
=======================================  ============================================  ===========================
MADV_PAGEOUT of 64 MiB private anon      pswpout +16384 pages; no pgscan/pgsteal       v1: rss -64 MiB, no pgpgout
MADV_PAGEOUT of 64 MiB clean file pages  nothing at all (pages dropped, no counter)    v1: cache -64 MiB
DAMON ``pageout`` scheme (paddr)         nothing in pgsteal_*/pgscan_* (sz_applied     -
                                         +889 MiB in 300 s); anon part: pswpout only
v1 limit cut 128 -> 32 MiB (anon)        pgsteal_anon +24676, pgscan_anon +82193,      v1: pgpgout +24676, swap
                                         pswpout +24732; pgsteal_direct 0, allocstall  +96 MiB; failcnt 0 (an
                                         0                                             idle holder; it grows when
                                                                                       a charge fails)
v1 limit hit while allocating (96 MiB    pgsteal_anon +65725; pgsteal_direct 0         v1: pgpgout +69725
at a 32 MiB limit)
v1 limit cut 128 -> 16 MiB (page cache)  pgsteal_file +29184 = pgscan_file; no agent   v1: cache -114 MiB,
                                                                                       pgpgout +978 (folios)
memory.reclaim (v2)                      not measured here: v2 has no memory           v2: pgsteal_proactive
                                         controller on this VM (see below)             (6.15+), else _direct
=======================================  ============================================  ===========================

Why (mm/vmscan.c ``shrink_inactive_list``, up to 7.0): ``if (!cgroup_reclaim(sc))
__count_vm_events(PGSTEAL_KSWAPD + reclaimer_offset(sc), ...)``: reclaim aimed at a cgroup (its limit,
memory.high, memory.reclaim) is counted by reclaimer in that cgroup's memory.stat only, and machine-wide
only in ``pgsteal_anon``/``pgsteal_file``. So before 7.1 ``unattributed`` is, machine-wide, the
reclaim that cgroups' limits and memory.reclaim did; 7.1 made the counters node stats counted for every
reclaim (``mod_lruvec_state``), and ``unattributed`` should then be near 0. MADV_PAGEOUT and DAMON
pageout reclaim through ``reclaim_pages()``, which counts none of them: ``swapout_unscanned`` =
pswpout + zswpout - pgsteal_anon is a lower bound of their anon part (swap-out that LRU reclaim did not
account for; LRU reclaim of pages already in swap cache writes nothing, which only lowers it); their
clean file pages leave no trace but a later ``workingset_refault_file``.

Kernel versions: ``pgsteal_proactive``/``pgscan_proactive`` came with 6.15 (Hao Jia; before, a
memory.reclaim write counted as ``direct`` in memory.stat: ``proactive_apart`` False); ``pgsteal_anon``
/``_file`` with 5.8; ``pswpin``/``pswpout`` in memory.stat with 6.13; v1 memory.stat has no
pgscan/pgsteal at all (``not reported``). A counter the kernel does not print is ``None``, never 0.
"""

from __future__ import annotations

from memtype.model.activity import LRU_TYPES, RECLAIMERS
from memtype.model.damon import DamonState
from memtype.model.frozen import Frozen, fill
from memtype.model.records import HostInfo

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Mapping

AGENTS = (*RECLAIMERS, "unattributed")
SWAP_COUNTERS = ("pswpin", "pswpout", "zswpin", "zswpout", "zswpwb")
# Counters of a cgroup's memory.stat (v2 names; v1: ``total_`` + name) and files beside it.
CGROUP_COUNTERS = ("pgscan", "pgsteal", *(f"pg{w}_{r}" for w in ("scan", "steal") for r in RECLAIMERS),
                   *SWAP_COUNTERS, "workingset_refault_anon", "workingset_refault_file", "pgpgout", "failcnt",
                   "events.high", "events.max", "events.oom_kill")


def _sub(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def _ratio(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else part / whole


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def counter_delta(before: Mapping[str, int] | None, after: Mapping[str, int] | None) -> dict[str, int] | None:
    """``after - before`` for each counter both have; a counter that went back (a reboot, a cgroup made
    anew) is left out: unknown, not negative."""
    if before is None or after is None:
        return None
    return {k: v - before[k] for k, v in after.items() if k in before and v >= before[k]}


class Agent(Frozen):
    """One reclaimer: pages ``scanned`` and ``stolen`` (reclaimed); ``None``: not reported by this kernel."""

    __slots__ = ("name", "scanned", "stolen")

    name: str
    scanned: int | None
    stolen: int | None

    def __init__(self, name: str, scanned: int | None, stolen: int | None) -> None:
        fill(self, name, scanned, stolen)

    @property
    def efficiency(self) -> float | None:
        """stolen / scanned (1: every page looked at was taken; low: reclaim is working hard)."""
        return _ratio(self.stolen, self.scanned)


class SchemeReclaim(Frozen):
    """What one DAMON scheme took: ``stolen`` pages (``stats/sz_applied``; ``None``: stale or unreadable,
    see ``fresh``), ``tried`` pages (``sz_tried``), since the scheme was committed (or over the interval)."""

    __slots__ = ("kdamond", "context", "scheme", "action", "stolen", "tried", "fresh")

    kdamond: int
    context: int
    scheme: int
    action: str | None
    stolen: int | None
    tried: int | None
    fresh: bool

    def __init__(self, kdamond: int, context: int, scheme: int, action: str | None, stolen: int | None,
                 tried: int | None, fresh: bool) -> None:
        fill(self, kdamond, context, scheme, action, stolen, tried, fresh)

    @property
    def label(self) -> str:
        return f"damon:{self.kdamond}.{self.context}.{self.scheme}:{self.action or '?'}"


class Reclaim(Frozen):
    """The machine's reclaim since boot (``seconds`` None) or over ``seconds`` (module docstring).

    Attributes:
        agents: ``AGENTS`` -> Agent (they add up to ``stolen_total``/``scanned_total``).
        stolen, scanned: LRU type (anon, file) -> pages; ``stolen_total``, ``scanned_total``: their sums.
        damon: every DAMON scheme that reclaims; ``damon_stolen``: their pages (``None``: none fresh).
        allocstall: direct-reclaim entries (all zones); direct_throttle: ``pgscan_direct_throttle``.
        swap: ``SWAP_COUNTERS`` -> pages. refault, activate: LRU type -> pages (workingset_*).
        swapout_unscanned: pswpout + zswpout - pgsteal_anon, at least 0: anon paged out outside LRU
            reclaim (MADV_PAGEOUT, DAMON), a lower bound.
        proactive_apart: this kernel counts memory.reclaim apart (6.15+: True), in direct (False).
        pressure: memory PSI as ``Sample.pressure``.
    """

    __slots__ = ("seconds", "agents", "stolen", "scanned", "stolen_total", "scanned_total", "damon", "damon_stolen",
                 "allocstall", "direct_throttle", "swap", "refault", "activate", "swapout_unscanned",
                 "proactive_apart", "pressure")

    seconds: float | None
    agents: dict[str, Agent]
    stolen: dict[str, int | None]
    scanned: dict[str, int | None]
    stolen_total: int | None
    scanned_total: int | None
    damon: tuple[SchemeReclaim, ...]
    damon_stolen: int | None
    allocstall: int | None
    direct_throttle: int | None
    swap: dict[str, int | None]
    refault: dict[str, int | None]
    activate: dict[str, int | None]
    swapout_unscanned: int | None
    proactive_apart: bool | None
    pressure: dict[str, dict[str, float]] | None

    def __init__(self, seconds: float | None, agents: dict[str, Agent], stolen: dict[str, int | None],
                 scanned: dict[str, int | None], stolen_total: int | None, scanned_total: int | None,
                 damon: tuple[SchemeReclaim, ...], damon_stolen: int | None, allocstall: int | None,
                 direct_throttle: int | None, swap: dict[str, int | None], refault: dict[str, int | None],
                 activate: dict[str, int | None], swapout_unscanned: int | None, proactive_apart: bool | None,
                 pressure: dict[str, dict[str, float]] | None) -> None:
        fill(self, seconds, agents, stolen, scanned, stolen_total, scanned_total, damon, damon_stolen, allocstall,
             direct_throttle, swap, refault, activate, swapout_unscanned, proactive_apart, pressure)

    @property
    def efficiency(self) -> float | None:
        """All steals / all scans (sar's %vmeff, with every reclaimer in it)."""
        return _ratio(self.stolen_total, self.scanned_total)

    @property
    def refault_ratio(self) -> float | None:
        """Refaults / steals: how much of what reclaim took came back (near 1 or above: it was a mistake,
        the working set does not fit). Over an interval only: since boot it mixes every era."""
        return _ratio(_sum(list(self.refault.values())), self.stolen_total)

    def psi(self, line: str, name: str) -> float | None:
        values = None if self.pressure is None else self.pressure.get(line)
        return None if values is None else values.get(name)


def machine_reclaim(vmstat: Mapping[str, int] | None, *, seconds: float | None = None,
                    pressure: dict[str, dict[str, float]] | None = None,
                    damon: tuple[SchemeReclaim, ...] = ()) -> Reclaim:
    """The machine's Reclaim from vmstat counters (since boot, or a ``counter_delta`` over ``seconds``)."""
    v = vmstat or {}
    agents = {r: Agent(r, v.get(f"pgscan_{r}"), v.get(f"pgsteal_{r}")) for r in RECLAIMERS}
    stolen = {t: v.get(f"pgsteal_{t}") for t in LRU_TYPES}
    scanned = {t: v.get(f"pgscan_{t}") for t in LRU_TYPES}
    stolen_total = None if None in stolen.values() else sum(x for x in stolen.values() if x is not None)
    scanned_total = None if None in scanned.values() else sum(x for x in scanned.values() if x is not None)
    named_stolen = _sum([a.stolen for a in agents.values()])
    named_scanned = _sum([a.scanned for a in agents.values()])
    agents["unattributed"] = Agent("unattributed", _sub(scanned_total, named_scanned), _sub(stolen_total, named_stolen))
    stalls = [n for k, n in v.items() if k == "allocstall" or k.startswith("allocstall_")]
    swap = {k: v.get(k) for k in SWAP_COUNTERS}
    out = _sum([swap["pswpout"], swap["zswpout"]])
    unscanned = None if out is None or stolen["anon"] is None else max(0, out - stolen["anon"])
    fresh = [d.stolen for d in damon if d.stolen is not None]
    proactive = None if not vmstat or "pgsteal_kswapd" not in v else "pgsteal_proactive" in v
    return Reclaim(seconds, agents, stolen, scanned, stolen_total, scanned_total, damon,
                   sum(fresh) if fresh else None, sum(stalls) if stalls else None, v.get("pgscan_direct_throttle"),
                   swap, {t: v.get(f"workingset_refault_{t}") for t in LRU_TYPES},
                   {t: v.get(f"workingset_activate_{t}") for t in LRU_TYPES}, unscanned, proactive, pressure)


def damon_reclaim(state: DamonState | None, page_size: int, before: DamonState | None = None) -> tuple[SchemeReclaim, ...]:
    """The reclaiming DAMON schemes of ``state`` (their totals), or what each took since ``before``."""
    if state is None:
        return ()
    old = {} if before is None else {(k.index, c.index, s.index): (s, before.stats_fresh(k))
                                     for k, c, s in before.schemes()}
    found = []
    for k, c, s in state.schemes():
        if not s.reclaims:
            continue
        fresh = state.stats_fresh(k)
        applied, tried = s.stats.get("sz_applied"), s.stats.get("sz_tried")
        if before is not None:
            prev, prev_fresh = old.get((k.index, c.index, s.index), (None, False))
            if prev is None or not prev_fresh or prev.action != s.action:
                applied = tried = None
            else:
                applied = _sub(applied, prev.stats.get("sz_applied"))
                tried = _sub(tried, prev.stats.get("sz_tried"))
                applied = applied if applied is None or applied >= 0 else None  # committed anew meanwhile
                tried = tried if tried is None or tried >= 0 else None
        found.append(SchemeReclaim(k.index, c.index, s.index, s.action,
                                   applied // page_size if fresh and applied is not None else None,
                                   tried // page_size if fresh and tried is not None else None, fresh))
    return tuple(found)


class CgroupReclaim(Frozen):
    """One memory cgroup's reclaim, from its memory.stat (hierarchical: its descendants' too) since it
    was made, or over ``seconds``. v1 has no pgscan/pgsteal (every agent ``None``); it has ``pgpgout``
    (folios uncharged: reclaim and frees alike; a large page-cache folio counts once) and ``failcnt``
    (times the usage hit the limit). v2: ``events`` high/max (memory.events: times memory.high
    throttled / memory.max was hit), swap traffic in memory.stat since 6.13."""

    __slots__ = ("path", "version", "seconds", "agents", "stolen_total", "scanned_total", "swap", "refault",
                 "pgpgout", "failcnt", "events", "swap_bytes", "pressure")

    path: str
    version: int
    seconds: float | None
    agents: dict[str, Agent]
    stolen_total: int | None
    scanned_total: int | None
    swap: dict[str, int | None]
    refault: dict[str, int | None]
    pgpgout: int | None
    failcnt: int | None
    events: dict[str, int | None]
    swap_bytes: int | None
    pressure: dict[str, dict[str, float]] | None

    def __init__(self, path: str, version: int, seconds: float | None, agents: dict[str, Agent],
                 stolen_total: int | None, scanned_total: int | None, swap: dict[str, int | None],
                 refault: dict[str, int | None], pgpgout: int | None, failcnt: int | None,
                 events: dict[str, int | None], swap_bytes: int | None,
                 pressure: dict[str, dict[str, float]] | None) -> None:
        fill(self, path, version, seconds, agents, stolen_total, scanned_total, swap, refault, pgpgout, failcnt,
             events, swap_bytes, pressure)

    @property
    def efficiency(self) -> float | None:
        return _ratio(self.stolen_total, self.scanned_total)


def cgroup_reclaim(path: str, version: int, counters: Mapping[str, int] | None, *, seconds: float | None = None,
                   swap_bytes: int | None = None, pressure: dict[str, dict[str, float]] | None = None) -> CgroupReclaim:
    """A CgroupReclaim from ``cgroup_counters`` (or their ``counter_delta`` over ``seconds``)."""
    c = counters or {}
    agents = {r: Agent(r, c.get(f"pgscan_{r}"), c.get(f"pgsteal_{r}")) for r in RECLAIMERS}
    stolen, scanned = c.get("pgsteal"), c.get("pgscan")
    named_stolen = _sum([a.stolen for a in agents.values()])
    named_scanned = _sum([a.scanned for a in agents.values()])
    agents["unattributed"] = Agent("unattributed", _sub(scanned, named_scanned), _sub(stolen, named_stolen))
    return CgroupReclaim(path, version, seconds, agents, stolen, scanned, {k: c.get(k) for k in SWAP_COUNTERS},
                         {t: c.get(f"workingset_refault_{t}") for t in LRU_TYPES}, c.get("pgpgout"),
                         c.get("failcnt"), {k: c.get(f"events.{k}") for k in ("high", "max", "oom_kill")},
                         swap_bytes, pressure)


def cgroup_counters(version: int, stat: Mapping[str, int] | None, *, failcnt: int | None = None,
                    events: Mapping[str, int] | None = None) -> dict[str, int]:
    """The reclaim counters of one cgroup's files: v2 memory.stat names as they are; v1 the
    hierarchical ``total_*`` ones under the v2 names (``total_pgpgout`` -> ``pgpgout``)."""
    s = stat or {}
    out: dict[str, int] = {}
    for name in CGROUP_COUNTERS:
        if "." in name or name == "failcnt":
            continue
        key = name if version == 2 else f"total_{name}"
        if key in s:
            out[name] = s[key]
    if failcnt is not None:
        out["failcnt"] = failcnt
    for k, v in (events or {}).items():
        if f"events.{k}" in CGROUP_COUNTERS:
            out[f"events.{k}"] = v
    return out


class ReclaimReport:
    """What ``memtype reclaim`` shows: ``total`` since boot (the last read), ``interval`` between two
    reads (``None``: one read, a capture), the same for ``cgroup_*`` (``None``: none asked), the DAMON
    tree of the last read, and ``notes`` (what could not be done: a kdamond not refreshed)."""

    __slots__ = ("host", "total", "interval", "cgroup_total", "cgroup_interval", "damon", "notes")

    def __init__(self, host: HostInfo, total: Reclaim, interval: Reclaim | None, cgroup_total: CgroupReclaim | None,
                 cgroup_interval: CgroupReclaim | None, damon: DamonState | None, notes: list[str]) -> None:
        self.host, self.total, self.interval, self.damon, self.notes = host, total, interval, damon, notes
        self.cgroup_total, self.cgroup_interval = cgroup_total, cgroup_interval
