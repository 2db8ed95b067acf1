"""DAMON's kdamonds, contexts and schemes, from the raw sysfs tree ``collect.damon.read_damon`` reads
(Documentation/admin-guide/mm/damon/usage.rst; field names as the kernel spells them).

A scheme applies its ``action`` to the regions whose access pattern is in range: size (bytes),
``nr_accesses`` (how many of the samples in one aggregation interval found the region accessed)
and ``age`` (aggregation intervals the pattern held), within its quota (``bytes`` and ``ms`` per
``reset_interval_ms``) and while its watermarks allow. Its filters decide per page or region
(``type`` anon, memcg, young, hugepage_size, unmapped, addr, target; ``allow`` Y/N, ``matching``).

Observed on 6.18 (memtype issue 12): a ``pageout`` scheme reclaims through ``reclaim_pages()``, the
path MADV_PAGEOUT takes, which moves **no** vmstat steal counter (``pgsteal_*`` stayed still while
``sz_applied`` grew by 889 MiB in 300 s); its anon part shows as ``pswpout``/``zswpout`` only. So
DAMON's reclaim is the scheme's ``stats/sz_applied`` (bytes actually reclaimed, mm/damon/paddr.c),
counted since the scheme was committed (kdamond start or a ``commit``), not since boot, and stale
unless root refreshed the stats (``collect.damon.refresh_damon``) or ``refresh_ms`` is set.
"""

from __future__ import annotations

from memtype.model.frozen import Frozen, fill

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

# The actions that take memory away from the LRU lists at once (pageout) or demote it (migrate_cold).
RECLAIMING = ("pageout",)
STATS = ("nr_tried", "sz_tried", "nr_applied", "sz_applied", "sz_ops_filter_passed", "qt_exceeds", "nr_snapshots")
_FILTER_DIRS = ("core_filters", "ops_filters", "filters")  # 6.15+ split filters into core and ops ones


def number(value: object) -> int | None:
    """A DAMON file's integer; ``None``: absent, unreadable or not a number."""
    if not isinstance(value, str):
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _numbered(tree: Any) -> list[tuple[int, Any]]:
    if not isinstance(tree, dict):
        return []
    return sorted((int(k), v) for k, v in tree.items() if k.isdigit() and isinstance(v, dict))


def _dir(tree: Any, name: str) -> dict[str, Any]:
    """The subdirectory ``name`` of ``tree`` ({} where it is absent or a file)."""
    value = tree.get(name) if isinstance(tree, dict) else None
    return value if isinstance(value, dict) else {}


def _range(tree: Any) -> tuple[int | None, int | None]:
    t = tree if isinstance(tree, dict) else {}
    return number(t.get("min")), number(t.get("max"))


def _text(tree: Any, name: str) -> str | None:
    value = tree.get(name) if isinstance(tree, dict) else None
    return value if isinstance(value, str) else None


class DamonFilter(Frozen):
    """One scheme filter: ``where`` it runs (core_filters, ops_filters, or filters before 6.15), its
    ``type``, whether a match is ``allow``ed or rejected, ``matching`` (Y: pages that match; N: that do
    not), and its argument (``memcg_path``, address range, ``min``-``max``, target index) as text."""

    __slots__ = ("where", "type", "allow", "matching", "argument")

    where: str
    type: str | None
    allow: bool | None
    matching: bool | None
    argument: str | None

    def __init__(self, where: str, type: str | None, allow: bool | None, matching: bool | None,
                 argument: str | None) -> None:
        fill(self, where, type, allow, matching, argument)

    def describe(self) -> str:
        what = self.type or "?"
        if self.argument:
            what += f" {self.argument}"
        if self.matching is False:
            what = f"not {what}"
        return f"{'allow' if self.allow else 'reject' if self.allow is False else '?'} {what}"


class DamonScheme(Frozen):
    """One scheme of a context (module docstring). ``access``: ``sz`` (bytes), ``nr_accesses``,
    ``age`` -> (min, max); ``quotas``: bytes, ms, reset_interval_ms, effective_bytes, goals (count),
    and the weights; ``watermarks``: metric (text) and interval_us, high, mid, low (permil);
    ``stats``: ``STATS`` -> value (``None``: not readable or not in this kernel)."""

    __slots__ = ("index", "action", "access", "apply_interval_us", "target_nid", "quotas", "watermarks",
                 "filters", "stats", "tried_bytes")

    index: int
    action: str | None
    access: dict[str, tuple[int | None, int | None]]
    apply_interval_us: int | None
    target_nid: int | None
    quotas: dict[str, int | None]
    watermarks: dict[str, int | str | None]
    filters: tuple[DamonFilter, ...]
    stats: dict[str, int | None]
    tried_bytes: int | None

    def __init__(self, index: int, action: str | None, access: dict[str, tuple[int | None, int | None]],
                 apply_interval_us: int | None, target_nid: int | None, quotas: dict[str, int | None],
                 watermarks: dict[str, int | str | None], filters: tuple[DamonFilter, ...],
                 stats: dict[str, int | None], tried_bytes: int | None) -> None:
        fill(self, index, action, access, apply_interval_us, target_nid, quotas, watermarks, filters, stats,
             tried_bytes)

    @property
    def reclaims(self) -> bool:
        return self.action in RECLAIMING


class DamonTarget(Frozen):
    """What a context monitors: a process (``pid``; ``None`` or 0 for physical memory) and its initial
    regions (start, end; bytes of address space: physical addresses for ``paddr``)."""

    __slots__ = ("pid", "regions", "nr_regions")

    pid: int | None
    regions: tuple[tuple[int, int], ...]
    nr_regions: int | None

    def __init__(self, pid: int | None, regions: tuple[tuple[int, int], ...], nr_regions: int | None) -> None:
        fill(self, pid, regions, nr_regions)


class DamonContext(Frozen):
    """One monitoring context: ``operations`` (vaddr, fvaddr, paddr), the intervals (sample_us,
    aggr_us, update_us), the regions' count bounds, its targets and schemes."""

    __slots__ = ("index", "operations", "intervals", "nr_regions", "targets", "schemes")

    index: int
    operations: str | None
    intervals: dict[str, int | None]
    nr_regions: tuple[int | None, int | None]
    targets: tuple[DamonTarget, ...]
    schemes: tuple[DamonScheme, ...]

    def __init__(self, index: int, operations: str | None, intervals: dict[str, int | None],
                 nr_regions: tuple[int | None, int | None], targets: tuple[DamonTarget, ...],
                 schemes: tuple[DamonScheme, ...]) -> None:
        fill(self, index, operations, intervals, nr_regions, targets, schemes)


class Kdamond(Frozen):
    """One DAMON worker thread: ``state`` (on, off), its ``pid`` (``None`` when off or unreadable),
    ``refresh_ms`` (where the kernel has it: the stats refresh themselves every that many ms; 0: never),
    and its contexts."""

    __slots__ = ("index", "state", "pid", "refresh_ms", "contexts")

    index: int
    state: str | None
    pid: int | None
    refresh_ms: int | None
    contexts: tuple[DamonContext, ...]

    def __init__(self, index: int, state: str | None, pid: int | None, refresh_ms: int | None,
                 contexts: tuple[DamonContext, ...]) -> None:
        fill(self, index, state, pid, refresh_ms, contexts)

    @property
    def live_stats(self) -> bool:
        """The kernel refreshes this kdamond's stats by itself (``refresh_ms`` > 0)."""
        return bool(self.refresh_ms)


class DamonState(Frozen):
    """Every kdamond, the DAMON modules' parameters (module -> name -> text), whether the stats were
    refreshed for this read (``refreshed``), and whether the read stopped at its caps (``truncated``)."""

    __slots__ = ("kdamonds", "modules", "refreshed", "truncated")

    kdamonds: tuple[Kdamond, ...]
    modules: dict[str, dict[str, str | None]]
    refreshed: bool
    truncated: bool

    def __init__(self, kdamonds: tuple[Kdamond, ...], modules: dict[str, dict[str, str | None]], refreshed: bool,
                 truncated: bool) -> None:
        fill(self, kdamonds, modules, refreshed, truncated)

    def schemes(self) -> list[tuple[Kdamond, DamonContext, DamonScheme]]:
        return [(k, c, s) for k in self.kdamonds for c in k.contexts for s in c.schemes]

    def stats_fresh(self, k: Kdamond) -> bool:
        """Whether ``k``'s scheme stats say what happened up to now (refreshed, or refreshing itself)."""
        return self.refreshed or k.live_stats


def damon_state(raw: dict[str, Any] | None, *, refreshed: bool = False) -> DamonState | None:
    """The DAMON tree of ``collect.damon.read_damon`` interpreted; ``None``: no DAMON there."""
    if not isinstance(raw, dict):
        return None
    admin = raw.get("admin")
    kdamonds = admin.get("kdamonds") if isinstance(admin, dict) else None
    modules = _dir(raw, "modules")
    flat = {m: {k: v if isinstance(v, str) else None for k, v in params.items() if not isinstance(v, dict)}
            for m, params in modules.items() if isinstance(params, dict)}
    found = tuple(_kdamond(i, t) for i, t in _numbered(kdamonds))
    return DamonState(found, flat, refreshed or raw.get("refreshed") is True, bool(raw.get("truncated")))


def _kdamond(index: int, t: dict[str, Any]) -> Kdamond:
    contexts = tuple(_context(i, c) for i, c in _numbered(t.get("contexts")))
    state = _text(t, "state")
    return Kdamond(index, state, number(t.get("pid")) if state == "on" else None, number(t.get("refresh_ms")),
                   contexts)


def _context(index: int, c: dict[str, Any]) -> DamonContext:
    attrs = _dir(c, "monitoring_attrs")
    iv = _dir(attrs, "intervals")
    targets = []
    for _, t in _numbered(c.get("targets")):
        regions_tree = _dir(t, "regions")
        regions = []
        for _, r in _numbered(regions_tree):
            start, end = number(r.get("start")), number(r.get("end"))
            if start is not None and end is not None:
                regions.append((start, end))
        targets.append(DamonTarget(number(t.get("pid_target")), tuple(regions), number(regions_tree.get("nr_regions"))))
    schemes = tuple(_scheme(i, s) for i, s in _numbered(c.get("schemes")))
    return DamonContext(index, _text(c, "operations"),
                        {k: number(iv.get(k)) for k in ("sample_us", "aggr_us", "update_us")},
                        _range(attrs.get("nr_regions")), tuple(targets), schemes)


def _scheme(index: int, s: dict[str, Any]) -> DamonScheme:
    pattern = _dir(s, "access_pattern")
    q = _dir(s, "quotas")
    weights = _dir(q, "weights")
    goals = _dir(q, "goals")
    quotas = {k: number(q.get(k)) for k in ("bytes", "ms", "reset_interval_ms", "effective_bytes")}
    quotas["goals"] = number(goals.get("nr_goals"))
    quotas.update({f"weight_{k.removesuffix('_permil')}": number(v) for k, v in weights.items()})
    w = _dir(s, "watermarks")
    watermarks: dict[str, int | str | None] = {"metric": _text(w, "metric")}
    watermarks.update({k: number(w.get(k)) for k in ("interval_us", "high", "mid", "low")})
    filters = []
    for where in _FILTER_DIRS:
        for _, f in _numbered(s.get(where)):
            ftype = _text(f, "type")
            filters.append(DamonFilter(where, ftype, _flag(f.get("allow")), _flag(f.get("matching")),
                                       _argument(ftype, f)))
    stats_tree = _dir(s, "stats")
    tried = _dir(s, "tried_regions")
    return DamonScheme(index, _text(s, "action"), {k: _range(pattern.get(k)) for k in ("sz", "nr_accesses", "age")},
                       number(s.get("apply_interval_us")), number(s.get("target_nid")), quotas, watermarks,
                       tuple(filters), {k: number(stats_tree.get(k)) for k in STATS}, number(tried.get("total_bytes")))


def _flag(value: object) -> bool | None:
    return {"Y": True, "N": False, "1": True, "0": False}.get(value.strip()) if isinstance(value, str) else None


def _argument(ftype: str | None, f: dict[str, Any]) -> str | None:
    if ftype == "memcg":
        return _text(f, "memcg_path")
    if ftype == "addr":
        return f"{_text(f, 'addr_start')}-{_text(f, 'addr_end')}"
    if ftype == "target":
        return _text(f, "damon_target_idx")
    if ftype == "hugepage_size":
        return f"{_text(f, 'min')}-{_text(f, 'max')}"
    return None
