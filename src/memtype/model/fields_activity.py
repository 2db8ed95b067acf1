"""Fields of the machine's memory activity (``model.activity.MachineActivity``): reclaim by
reclaimer, refaults, swap traffic, OOM kills and PSI, as ``memtype exporter`` serves them
(``memtype_activity_*``; node_exporter#2380 asks for the kswapd/direct split); and of who is
reclaiming (``model.reclaimers.Reclaim``, ``memtype reclaim``, ``memtype_reclaim_*``): the agents with
the unattributed remainder (they add up to all steals), DAMON beside them."""

from __future__ import annotations

from memtype.model.activity import LRU_TYPES, RECLAIMERS, MachineActivity
from memtype.model.reclaimers import AGENTS, SWAP_COUNTERS, Reclaim
from memtype.model.fields import Field, Registry, counter, gauge, info

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Callable

    from memtype.model.fields import Getter

_RECLAIMER_HELP = {"kswapd": "the background reclaimer", "direct": "allocating tasks (direct reclaim: they stall)",
                   "khugepaged": "khugepaged making huge pages", "proactive": "memory.reclaim writes (6.15+)"}
_PSI = (("avg10", "PSI", "share of the last 10 s"), ("avg60", "PSI60", "share of the last 60 s"),
        ("avg300", "PSI300", "share of the last 300 s"))


def _by(attr: str, key: str) -> Getter:
    return lambda a: getattr(a, attr)[key]


def _psi(line: str, name: str) -> Getter:
    return lambda a: a.psi(line, name)


def _split(attr: str, keys: tuple[str, ...], label: str, title: str, what: str, helps: dict[str, str]) -> list[Field]:
    return [counter(f"{attr}.{k}", f"{title} {k}", f"{k}: {what}, by {helps[k]}" if helps else f"{k}: {what}",
                    _by(attr, k), unit="pages", attr=attr, labels=((label, k),), metric=attr) for k in keys]


_LRU_HELP = {t: f"{t} pages" for t in LRU_TYPES}

ACTIVITY = Registry("activity", "the machine's memory activity since boot: reclaim by reclaimer, refaults, swap "
                    "traffic, PSI (/proc/vmstat, /proc/pressure/memory)", [
    *_split("pgscan", RECLAIMERS, "reclaimer", "Scan", "pages scanned for reclaim (vmstat pgscan_*)", _RECLAIMER_HELP),
    *_split("pgsteal", RECLAIMERS, "reclaimer", "Steal", "pages reclaimed (vmstat pgsteal_*)", _RECLAIMER_HELP),
    counter("allocstall", "Stalls", "direct-reclaim entries of allocating tasks, all zones (vmstat allocstall_*)",
            lambda a: a.allocstall),
    counter("pgrefill", "Refill", "pages reclaim moved from an active LRU list to an inactive one (vmstat pgrefill)",
            lambda a: a.pgrefill, unit="pages"),
    counter("pswpin", "SwapIn", "pages read in from swap devices (vmstat pswpin)", lambda a: a.pswpin, unit="pages"),
    counter("pswpout", "SwapOut", "pages written out to swap devices (vmstat pswpout)", lambda a: a.pswpout,
            unit="pages"),
    counter("zswpin", "ZswapIn", "pages loaded back from zswap (vmstat zswpin)", lambda a: a.zswpin, unit="pages"),
    counter("zswpout", "ZswapOut", "pages stored into zswap (vmstat zswpout)", lambda a: a.zswpout, unit="pages"),
    *_split("workingset_refault", LRU_TYPES, "type", "Refault",
            "evicted pages faulted back in (vmstat workingset_refault_*)", {}),
    *_split("workingset_activate", LRU_TYPES, "type", "Activate",
            "refaulted pages activated at once: the working set did not fit (vmstat workingset_activate_*)", {}),
    counter("pgmajfault", "MajFlt", "major page faults: a read from disk or swap (vmstat pgmajfault)",
            lambda a: a.pgmajfault),
    counter("oom_kill", "OOM", "processes the OOM killer killed (vmstat oom_kill)", lambda a: a.oom_kill),
    *[gauge(f"pressure.{line}.{name}", title if line == "some" else f"{title}full",
            f"PSI {line}: {what} in which {'some' if line == 'some' else 'all non-idle'} tasks waited for memory",
            _psi(line, name), unit="percent", attr="pressure")  # averages over windows: no label to sum over
      for line in ("some", "full") for name, title, what in _PSI],
    *[counter(f"pressure.{line}.total", f"Stall {line}",
              f"PSI {line}: total time {'some' if line == 'some' else 'all non-idle'} tasks waited for memory",
              _psi(line, "total"), unit="microseconds", attr="pressure", metric=f"pressure.{line}_stall")
      for line in ("some", "full")],
], null_objects=("pressure", "pressure.some", "pressure.full"))

_AGENT_HELP = {**_RECLAIMER_HELP,
               "unattributed": "no named reclaimer: all steals minus the four; before 7.1 machine-wide, the "
                               "reclaim cgroup limits, memory.high and memory.reclaim did"}


def _agent(what: str) -> Callable[[str], Getter]:
    return lambda name: lambda r: getattr(r.agents[name], what)


def _agents(what: str, title: str, help: str) -> list[Field]:
    get = _agent(what)
    return [counter(f"{what}.{a}", f"{title} {a}", f"{a}: {help}, by {_AGENT_HELP[a]}", get(a), unit="pages",
                    attr="agents", labels=(("agent", a),), metric=what) for a in AGENTS]


RECLAIM = Registry("reclaim", "who is reclaiming: pages each reclaimer scanned and took, since boot or over an "
                   "interval (/proc/vmstat; memtype reclaim)", [
    *_agents("stolen", "Took", "pages reclaimed (vmstat pgsteal_*)"),
    *_agents("scanned", "Scanned", "pages scanned for reclaim (vmstat pgscan_*)"),
    *[counter(f"lru.stolen.{t}", f"Took {t}", f"{t} pages reclaimed by every LRU reclaimer (vmstat pgsteal_{t})",
              _by("stolen", t), unit="pages", attr="stolen", labels=(("lru", t),), metric="lru.stolen")
      for t in LRU_TYPES],
    *[counter(f"lru.scanned.{t}", f"Scanned {t}", f"{t} pages scanned by every LRU reclaimer (vmstat pgscan_{t})",
              _by("scanned", t), unit="pages", attr="scanned", labels=(("lru", t),), metric="lru.scanned")
      for t in LRU_TYPES],
    counter("stolen_total", "Took", "pages reclaimed by LRU reclaim, all reclaimers (pgsteal_anon + pgsteal_file)",
            lambda r: r.stolen_total, unit="pages"),
    counter("scanned_total", "Scanned", "pages scanned by LRU reclaim, all reclaimers (pgscan_anon + pgscan_file)",
            lambda r: r.scanned_total, unit="pages"),
    gauge("efficiency", "Eff", "pages taken per page scanned (sar's %vmeff over every reclaimer)",
          lambda r: r.efficiency, unit="ratio"),
    counter("damon_stolen", "DAMON", "pages DAMON pageout schemes reclaimed (stats/sz_applied, since each scheme "
            "started; outside pgsteal_*: reclaim_pages() counts no steal); null: stats not refreshed",
            lambda r: r.damon_stolen, unit="pages"),
    info("damon", "Schemes", "each reclaiming DAMON scheme (damon:KDAMOND.CONTEXT.SCHEME:ACTION) and its pages",
         lambda r: None if not r.damon else ", ".join(f"{d.label} {d.stolen}" for d in r.damon)),
    gauge("swapout_unscanned", "PagedOut", "anon pages written to swap or zswap beyond what LRU reclaim took "
          "(pswpout + zswpout - pgsteal_anon, at least 0): MADV_PAGEOUT and DAMON pageout, a lower bound",
          lambda r: r.swapout_unscanned, unit="pages"),
    counter("allocstall", "Stalls", "direct-reclaim entries of allocating tasks, all zones (vmstat allocstall_*)",
            lambda r: r.allocstall),
    counter("direct_throttle", "Throttled", "direct reclaimers throttled (vmstat pgscan_direct_throttle)",
            lambda r: r.direct_throttle),
    *[counter(f"swap.{k}", k, f"pages of swap traffic (vmstat {k})", _by("swap", k), unit="pages", attr="swap")
      for k in SWAP_COUNTERS],
    *[counter(f"refault.{t}", f"Refault {t}", f"evicted {t} pages faulted back in (vmstat workingset_refault_{t})",
              _by("refault", t), unit="pages", attr="refault", labels=(("lru", t),), metric="refault")
      for t in LRU_TYPES],
    *[counter(f"activate.{t}", f"Activate {t}", f"refaulted {t} pages activated at once: the working set did not fit "
              f"(vmstat workingset_activate_{t})", _by("activate", t), unit="pages", attr="activate",
              labels=(("lru", t),), metric="activate") for t in LRU_TYPES],
    gauge("refault_ratio", "Refault/took", "pages refaulted per page reclaimed: near 1 or above, reclaim took the "
          "working set (over an interval)", lambda r: r.refault_ratio, unit="ratio"),
    info("proactive_apart", "Proactive apart", "this kernel counts memory.reclaim apart (pgsteal_proactive, 6.15+); "
         "false: inside direct", lambda r: r.proactive_apart),
    info("seconds", "Seconds", "the interval the figures cover (null: since boot)", lambda r: r.seconds,
         unit="seconds"),
    *[gauge(f"pressure.{line}.avg10", "PSI" if line == "some" else "PSIfull",
            f"PSI {line}: share of the last 10 s in which {'some' if line == 'some' else 'all non-idle'} tasks "
            "waited for memory", _psi(line, "avg10"), unit="percent", attr="pressure") for line in ("some", "full")],
], exclude={"psi": "a method: the pressure.* fields read it"},
   partitions={"stolen_total": tuple(f"stolen.{a}" for a in AGENTS),
               "scanned_total": tuple(f"scanned.{a}" for a in AGENTS)},
   null_objects=("pressure", "pressure.some", "pressure.full"))

REGISTRIES = (ACTIVITY, RECLAIM)
COVERS: tuple[tuple[Registry, type], ...] = ((ACTIVITY, MachineActivity), (RECLAIM, Reclaim))
