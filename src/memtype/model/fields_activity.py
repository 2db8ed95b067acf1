"""Fields of the machine's memory activity (``model.activity.MachineActivity``): reclaim by
reclaimer, refaults, swap traffic, OOM kills and PSI, as ``memtype exporter`` serves them
(``memtype_activity_*``; node_exporter#2380 asks for the kswapd/direct split)."""

from __future__ import annotations

from memtype.model.activity import LRU_TYPES, RECLAIMERS, MachineActivity
from memtype.model.fields import Field, Registry, counter, gauge

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter

_RECLAIMER_HELP = {"kswapd": "the background reclaimer", "direct": "allocating tasks (direct reclaim: they stall)",
                   "khugepaged": "khugepaged making huge pages", "proactive": "memory.reclaim writes (6.8+)"}
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

REGISTRIES = (ACTIVITY,)
COVERS: tuple[tuple[Registry, type], ...] = ((ACTIVITY, MachineActivity),)
