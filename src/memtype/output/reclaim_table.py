"""``memtype reclaim`` for people (rich tables) and as JSON (``reclaim_document``): who is reclaiming.

Pages are shown as bytes (pages x the page size); rates per second over the interval. An agent the
kernel does not report is ``-`` (JSON null), never 0.
"""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.damon import DamonContext, DamonScheme, DamonState, Kdamond
from memtype.model.fields_activity import RECLAIM
from memtype.model.reclaimers import AGENTS, CgroupReclaim, Reclaim, ReclaimReport
from memtype.output.console import new_table
from memtype.output.human import UNITS_NOTE, size
from memtype.output.json import envelope, record

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

WHAT = {"kswapd": "background reclaim (free memory fell below the low watermark)",
        "direct": "allocating tasks reclaiming themselves (they stall)",
        "khugepaged": "making room for huge pages",
        "proactive": "memory.reclaim writes",
        "unattributed": "no named reclaimer: cgroup limit/high/memory.reclaim (before 7.1)"}


def _bytes(pages: int | None, page: int) -> str:
    return size(None if pages is None else pages * page)


def _rate(pages: int | None, page: int, seconds: float | None) -> str:
    if pages is None or not seconds:
        return "-"
    return size(int(pages * page / seconds)) + "/s"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def agents_table(r: ReclaimReport) -> Table:
    page, iv, tot = r.host.page_size, r.interval, r.total
    secs = iv.seconds if iv is not None else None
    title = "Who is reclaiming (/proc/vmstat)" + (f": per second over {secs:.1f} s, and since boot" if secs else
                                                  ": since boot")
    t = new_table(title)
    t.add_column("agent", no_wrap=True, min_width=12)
    if iv is not None:
        for head in ("took/s", "scanned/s", "eff"):
            t.add_column(head, justify="right", no_wrap=True)
    for head in ("took", "scanned", "eff"):
        t.add_column(head, justify="right", no_wrap=True)
    t.add_column(" what it is", overflow="ellipsis", no_wrap=True, ratio=1)

    def row(name: str, now: tuple[int | None, int | None, float | None] | None,
            since: tuple[int | None, int | None, float | None], what: str, style: str | None = None) -> None:
        cells = []
        if iv is not None:
            cells += ["-", "-", "-"] if now is None else [_rate(now[0], page, secs), _rate(now[1], page, secs),
                                                           _ratio(now[2])]
        cells += [_bytes(since[0], page), _bytes(since[1], page), _ratio(since[2])]
        t.add_row(name, *cells, f" {what}", style=style)

    for a in AGENTS:
        now = None if iv is None else (iv.agents[a].stolen, iv.agents[a].scanned, iv.agents[a].efficiency)
        s = tot.agents[a]
        what = WHAT[a]
        if a == "proactive" and tot.proactive_apart is False:
            what = "not reported: this kernel (before 6.15) counts memory.reclaim as direct"
        row(a, now, (s.stolen, s.scanned, s.efficiency), what)
    t.add_section()
    for lru in ("anon", "file"):
        now = None if iv is None else (iv.stolen[lru], iv.scanned[lru], None)
        row(f"  {lru}", now, (tot.stolen[lru], tot.scanned[lru], None), f"{lru} LRU pages, every reclaimer", "dim")
    now = None if iv is None else (iv.stolen_total, iv.scanned_total, iv.efficiency)
    row("all", now, (tot.stolen_total, tot.scanned_total, tot.efficiency), "pgsteal_anon + pgsteal_file", "bold")
    t.add_section()
    by_scheme = {d.label: d for d in (iv.damon if iv is not None else ())}
    for d in tot.damon:
        d_now = by_scheme.get(d.label)
        row(d.label, None if iv is None else (d_now.stolen if d_now else None, None, None), (d.stolen, None, None),
            "outside the steal counters; since the scheme started" + ("" if d.fresh else
                                                                      ": stale stats, see --damon-refresh"))
    now = None if iv is None else (iv.swapout_unscanned, None, None)
    row("paged out", now, (tot.swapout_unscanned, None, None),
        "anon swapped out beyond LRU steals: MADV_PAGEOUT, DAMON (a lower bound)")
    return t


def traffic_table(r: ReclaimReport) -> Table:
    page, iv, tot = r.host.page_size, r.interval, r.total
    secs = iv.seconds if iv is not None else None
    t = new_table("Swap traffic, refaults and stalls beside it")
    t.add_column("counter", no_wrap=True, min_width=12)
    if iv is not None:
        t.add_column("per second", justify="right", no_wrap=True)
    t.add_column("since boot", justify="right", no_wrap=True)
    t.add_column(" what it is", overflow="ellipsis", no_wrap=True, ratio=1)
    rows: list[tuple[str, int | None, int | None, bool, str]] = [
        ("swap in", _get(iv, "swap", "pswpin"), tot.swap["pswpin"], True, "pages read from swap devices (pswpin)"),
        ("swap out", _get(iv, "swap", "pswpout"), tot.swap["pswpout"], True, "pages written to swap devices (pswpout)"),
        ("zswap in", _get(iv, "swap", "zswpin"), tot.swap["zswpin"], True, "pages loaded from zswap (zswpin)"),
        ("zswap out", _get(iv, "swap", "zswpout"), tot.swap["zswpout"], True, "pages stored in zswap (zswpout)"),
        ("refault anon", _get(iv, "refault", "anon"), tot.refault["anon"], True, "evicted anon pages faulted back in"),
        ("refault file", _get(iv, "refault", "file"), tot.refault["file"], True, "evicted file pages read back in"),
        ("stalls", None if iv is None else iv.allocstall, tot.allocstall, False, "direct-reclaim entries (allocstall)"),
    ]
    for name, now, since, pages, what in rows:
        cells = [] if iv is None else [_rate(now, page, secs) if pages else _count_rate(now, secs)]
        t.add_row(name, *cells, _bytes(since, page) if pages else ("-" if since is None else str(since)), f" {what}")
    if iv is not None:
        t.add_row("refault/took", _ratio(iv.refault_ratio), _ratio(tot.refault_ratio),
                  " near 100% or more: reclaim took the working set (a mistake)")
        some, full = iv.psi("some", "avg10"), iv.psi("full", "avg10")
        t.add_row("PSI memory", "-" if some is None else f"{some:.2f}% some",
                  "-" if full is None else f"{full:.2f}% full", " share of the last 10 s tasks waited for memory")
    return t


def _get(r: Reclaim | None, attr: str, key: str) -> int | None:
    return None if r is None else getattr(r, attr)[key]


def _count_rate(n: int | None, secs: float | None) -> str:
    return "-" if n is None or not secs else f"{n / secs:.1f}/s"


def _us(us: int | None) -> str:
    if us is None:
        return "?"
    return f"{us / 1e6:g} s" if us >= 1_000_000 else f"{us / 1000:g} ms"


def _span(lo: int | None, hi: int | None, unit: str = "", big: int = 1 << 62) -> str:
    lo_s = "?" if lo is None else str(lo)
    if hi is None or hi >= big:
        return f"≥ {lo_s}{unit}" if lo else "any"
    return f"{lo_s}-{hi}{unit}"


def scheme_line(k: Kdamond, c: DamonContext, s: DamonScheme, fresh: bool) -> str:
    aggr, sample = c.intervals.get("aggr_us"), c.intervals.get("sample_us")
    acc_lo, acc_hi = s.access["nr_accesses"]
    age_lo, age_hi = s.access["age"]
    samples = f" of {aggr // sample} samples" if aggr and sample else ""
    idle = f" ({_us(age_lo * aggr)})" if age_lo and aggr else ""
    sz_lo, sz_hi = s.access["sz"]
    parts = [f"scheme {s.index}: {s.action or '?'} regions accessed {_span(acc_lo, acc_hi)} times per aggregation"
             f"{samples}, age {_span(age_lo, age_hi, ' aggregations', 1 << 31)}{idle}, size "
             f"{'any' if not sz_lo and (sz_hi is None or sz_hi >= 1 << 62) else _span(sz_lo, sz_hi)}"]
    q = s.quotas
    if q.get("bytes") or q.get("ms"):
        parts.append(f"quota {size(q.get('bytes')) if q.get('bytes') else 'no size'} and "
                     f"{q.get('ms') or 'no'} ms per {_us((q.get('reset_interval_ms') or 0) * 1000)}"
                     + (f", {q['goals']} goals" if q.get("goals") else ""))
    w = s.watermarks
    parts.append("watermarks: none" if w.get("metric") in (None, "none") else
                 f"watermarks {w.get('metric')} high {w.get('high')} mid {w.get('mid')} low {w.get('low')} permil")
    if s.filters:
        parts.append("filters: " + ", ".join(f.describe() for f in s.filters))
    st = s.stats
    stats = (f"applied {size(st.get('sz_applied'))} ({st.get('nr_applied')} regions) of {size(st.get('sz_tried'))} "
             f"tried, quota exceeded {st.get('qt_exceeds')} times")
    parts.append(stats + ("" if fresh else " (stale: the kernel updates these only on --damon-refresh)"))
    return "; ".join(parts)


def damon_text(d: DamonState | None) -> RenderableType:
    if d is None:
        return Text("DAMON: none (no /sys/kernel/mm/damon/admin)", style="dim")
    lines = []
    for k in d.kdamonds:
        if k.state is None:  # the admin files are 0600
            lines.append(f"kdamond {k.index}: its files are not readable (root only): run as root for its schemes")
            continue
        lines.append(f"kdamond {k.index}: {k.state}" + (f", pid {k.pid}" if k.pid else "")
                     + (f", stats refresh every {k.refresh_ms} ms" if k.refresh_ms else ""))
        for c in k.contexts:
            iv = c.intervals
            targets = ", ".join(("physical memory" if not t.pid else f"pid {t.pid}")
                                + (" " + " ".join(f"{size(a)}-{size(b)}" for a, b in t.regions[:4]) if t.regions
                                   else "") for t in c.targets) or "no target"
            lines.append(f"  context {c.index}: {c.operations or '?'}, sample {_us(iv.get('sample_us'))}, aggregation "
                         f"{_us(iv.get('aggr_us'))}, update {_us(iv.get('update_us'))}, {c.nr_regions[0] or '?'}-"
                         f"{c.nr_regions[1] or '?'} regions; {targets}")
            for s in c.schemes:
                lines.append("    " + scheme_line(k, c, s, d.stats_fresh(k)))
    for name, params in d.modules.items():
        shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if v is not None and len(v) < 40)
        lines.append(f"module {name}: {shown}")
    if d.truncated:
        lines.append("(the DAMON tree was larger than memtype reads: some entries left out)")
    return Text("DAMON\n" + ("\n".join(lines) if lines else "no kdamond"), no_wrap=False)


def cgroup_table(r: ReclaimReport) -> Table | None:
    tot, iv = r.cgroup_total, r.cgroup_interval
    if tot is None:
        return None
    page = r.host.page_size
    secs = iv.seconds if iv is not None else None
    t = new_table(f"cgroup {tot.path} (v{tot.version} memory.stat, with its descendants)")
    t.add_column("agent", no_wrap=True, min_width=12)
    if iv is not None:
        t.add_column("took/s", justify="right", no_wrap=True)
    t.add_column("took", justify="right", no_wrap=True)
    t.add_column("scanned", justify="right", no_wrap=True)
    t.add_column(" note", overflow="ellipsis", no_wrap=True, ratio=1)
    v1 = tot.version == 1
    for a in AGENTS:
        cells = [] if iv is None else [_rate(iv.agents[a].stolen, page, secs)]
        t.add_row(a, *cells, _bytes(tot.agents[a].stolen, page), _bytes(tot.agents[a].scanned, page),
                  " not reported: v1 memory.stat has no pgsteal/pgscan" if v1 else "")
    t.add_section()
    extra: list[tuple[str, int | None, int | None, str]] = [
        ("swap out", _cg(iv, "swap", "pswpout"), tot.swap["pswpout"], "pages (memory.stat pswpout, 6.13+)"),
        ("refault", _cg_sum(iv), _cg_sum(tot), "anon + file pages faulted back in"),
    ]
    if v1:
        extra += [("pgpgout", None if iv is None else iv.pgpgout, tot.pgpgout,
                   "folios uncharged: reclaim and frees alike"),
                  ("limit hits", None if iv is None else iv.failcnt, tot.failcnt,
                   "memory.failcnt: times the usage hit the limit (each time it reclaims)")]
    else:
        extra += [("high events", _cg(iv, "events", "high"), tot.events["high"], "memory.events high: throttled"),
                  ("max events", _cg(iv, "events", "max"), tot.events["max"], "memory.events max: limit hit")]
    for name, now, since, what in extra:
        cells = [] if iv is None else ["-" if now is None else str(now)]
        t.add_row(name, *cells, "-" if since is None else str(since), "", f" {what} (counts)")
    cells = [] if iv is None else [""]
    t.add_row("in swap", *cells, size(tot.swap_bytes), "", " bytes of the cgroup in swap now (v1 total_swap, v2 "
              "memory.swap.current)")
    return t


def _cg(r: CgroupReclaim | None, attr: str, key: str) -> int | None:
    return None if r is None else getattr(r, attr)[key]


def _cg_sum(r: CgroupReclaim | None) -> int | None:
    if r is None:
        return None
    known = [v for v in r.refault.values() if v is not None]
    return sum(known) if known else None


def render(r: ReclaimReport) -> RenderableType:
    h = r.host
    head = Text(" · ".join(["memtype reclaim"] + ([h.hostname] if h.hostname else []) + [f"Linux {h.kernel or '?'}"]
                           + (["live"] if h.live else [f"capture {os.path.basename(h.root.rstrip('/'))}"])),
                style="bold", no_wrap=True, overflow="ellipsis")
    parts: list[RenderableType] = [head, agents_table(r), traffic_table(r)]
    cg = cgroup_table(r)
    if cg is not None:
        parts.append(cg)
    parts.append(damon_text(r.damon))
    parts.append(Text("\n".join(kernel_notes(r) + r.notes + [UNITS_NOTE]), style="dim"))
    return Group(*parts)


def kernel_notes(r: ReclaimReport) -> list[str]:
    """What the counters cannot say on this kernel (model.reclaimers' table)."""
    out = ["MADV_PAGEOUT and DAMON pageout move no steal counter (reclaim_pages()); their anon part shows as swap "
           "out, their clean file pages nowhere."]
    if r.total.proactive_apart is False:
        out.append("This kernel has no pgsteal_proactive (before 6.15): memory.reclaim counts as direct in memory.stat.")
    return out


# -- JSON ----------------------------------------------------------------------------------------

def damon_dict(d: DamonState | None) -> dict[str, Any] | None:
    if d is None:
        return None
    kdamonds = []
    for k in d.kdamonds:
        contexts = []
        for c in k.contexts:
            schemes = [{"index": s.index, "action": s.action, "reclaims": s.reclaims,
                        "access_pattern": {n: {"min": lo, "max": hi} for n, (lo, hi) in s.access.items()},
                        "apply_interval_us": s.apply_interval_us, "target_nid": s.target_nid, "quotas": dict(s.quotas),
                        "watermarks": dict(s.watermarks),
                        "filters": [{"where": f.where, "type": f.type, "allow": f.allow, "matching": f.matching,
                                     "argument": f.argument} for f in s.filters],
                        "stats": dict(s.stats), "stats_fresh": d.stats_fresh(k), "tried_bytes": s.tried_bytes}
                       for s in c.schemes]
            contexts.append({"index": c.index, "operations": c.operations, "intervals": dict(c.intervals),
                             "nr_regions": {"min": c.nr_regions[0], "max": c.nr_regions[1]},
                             "targets": [{"pid": t.pid, "nr_regions": t.nr_regions,
                                          "regions": [[a, b] for a, b in t.regions]} for t in c.targets],
                             "schemes": schemes})
        kdamonds.append({"index": k.index, "state": k.state, "pid": k.pid, "refresh_ms": k.refresh_ms,
                         "contexts": contexts})
    return {"kdamonds": kdamonds, "modules": d.modules, "refreshed": d.refreshed, "truncated": d.truncated}


def _cgroup_dict(c: CgroupReclaim | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"path": c.path, "version": c.version, "seconds": c.seconds,
            "agents": {a: {"stolen": c.agents[a].stolen, "scanned": c.agents[a].scanned} for a in AGENTS},
            "stolen_total": c.stolen_total, "scanned_total": c.scanned_total, "efficiency": c.efficiency,
            "swap": dict(c.swap), "refault": dict(c.refault), "pgpgout": c.pgpgout, "failcnt": c.failcnt,
            "events": dict(c.events), "swap_bytes": c.swap_bytes, "pressure": c.pressure}


def _reclaim_dict(r: Reclaim) -> dict[str, Any]:
    body = record(RECLAIM, r)
    body["damon"] = [{"label": d.label, "kdamond": d.kdamond, "context": d.context, "scheme": d.scheme,
                      "action": d.action, "stolen": d.stolen, "tried": d.tried, "fresh": d.fresh} for d in r.damon]
    return body


def reclaim_document(r: ReclaimReport) -> dict[str, Any]:
    """``memtype reclaim --format json``: ``since_boot`` and ``interval`` (pages; null: not reported), the
    cgroup's, the DAMON tree. An interval's per-second figures are its counts / ``interval.seconds``."""
    return envelope(r.host, {"page_size": r.host.page_size}, [], notes=kernel_notes(r) + r.notes,
                    since_boot=_reclaim_dict(r.total),
                    interval=None if r.interval is None else _reclaim_dict(r.interval),
                    cgroup={"since_created": _cgroup_dict(r.cgroup_total),
                            "interval": _cgroup_dict(r.cgroup_interval)} if r.cgroup_total is not None else None,
                    damon=damon_dict(r.damon))
