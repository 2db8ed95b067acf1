"""Fields of ``memtype cgroups``: one memory cgroup, charged (memory.stat) and as its processes see it.

Charged kinds (``anonymous``, ``shared``, ``file``) sit under ``categories`` in JSON; the processes'
figures under ``processes`` (``processes.cow.pss`` is ``processes.categories.cow.pss``). Both only
with ``--processes`` (the default): option ``processes``. v1's own-pages figures: option ``v1``.
"""

from __future__ import annotations

from memtype.kinds import KINDS
from memtype.model.cgroups import CATEGORIES, CgroupMemory
from memtype.model.fields_freed import FREED_PARTITIONS, freed_fields
from memtype.model.fields import (RECLAIM_CLASSES, RECLAIM_HELP, Registry, counter, gauge, info, kind_fields,
                                  kind_partitions, label, totals_fields)
from memtype.model.group import Group
from memtype.model.records import KindUsage, Totals

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter

_CHARGED_HELP = {"anonymous": "anon (v2) or total_rss (v1): anonymous memory, copy-on-write included",
                 "shared": "shmem (v2) or total_shmem (v1): tmpfs, memfd, SysV", "file": "file - shmem: page cache"}
_TITLES = {"anonymous": "Anon", "shared": "Shared", "file": "File"}


def _charged(kind: str) -> Getter:
    return lambda c: c.categories[kind]


def _own(kind: str) -> Getter:
    return lambda c: c.self_categories.get(kind) if c.self_categories is not None else None


def _psi(line: str, name: str) -> Getter:
    def get(c: CgroupMemory) -> float | None:
        p = c.pressure
        values = None if p is None else (p.some if line == "some" else p.full)
        return None if values is None else values.get(name)
    return get


def _reclaim(name: str) -> Getter:
    return lambda c: c.reclaim.get(name) if c.reclaim is not None else None


_MEMBER_TOTALS = ("rss", "pss", "uss", "swap", "swap_pss", "cow_file", "cow_file_pss", "cow_anon", "cow_anon_pss")
_PSI = [("avg10", "PSI", "% of the last 10 s"), ("avg60", "PSI60", "% of the last 60 s"),
        ("avg300", "PSI300", "% of the last 300 s")]

CGROUP = Registry("cgroup", "one memory cgroup: charged memory by kind, limits, swap, PSI, OOM kills", [
    label("path", "Path", "the cgroup's path from the hierarchy's root", lambda c: c.path),
    label("name", "Cgroup", "a readable name: container, pod, systemd unit", lambda c: c.name),
    info("version", "v", "cgroup version of the memory controller (1 or 2)", lambda c: c.version),
    info("depth", "Depth", "levels below the root", lambda c: c.depth),
    info("hierarchical", "Hier", "the figures include the descendants' (v2 always; v1 from total_*)",
         lambda c: c.hierarchical),
    gauge("charged", "Charged", "memory.current (v2) or memory.usage_in_bytes (v1)", lambda c: c.charged),
    *[gauge(k, _TITLES[k], _CHARGED_HELP[k], _charged(k), attr="categories", path=("categories", k),
            labels=(("kind", k),), metric="kind") for k in CATEGORIES],
    gauge("kernel", "Kernel", "kernel memory charged (v2 kernel; v1 kmem usage)", lambda c: c.kernel),
    gauge("swapcached", "SwapCached", "swap cache charged (v2 swapcached)", lambda c: c.swapcached),
    gauge("other", "Other", "charged minus the rows above (per-CPU charge batches...)", lambda c: c.other),
    gauge("swap", "Swap", "memory.swap.current (v2) or total_swap (v1)", lambda c: c.swap),
    gauge("limit", "Limit", "memory.max (v2) or memory.limit_in_bytes (v1); null: no limit", lambda c: c.limit),
    gauge("effective_limit", "EffLimit", "the smallest limit on the way up to the root", lambda c: c.effective_limit),
    counter("oom_kills", "OOM", "processes the OOM killer killed in it (memory.events oom_kill)",
            lambda c: c.oom_kills),
    *[gauge(f"pressure.{line}.{name}", title if line == "some" else f"{title}full",
            f"PSI {line}: {what} in which {'some' if line == 'some' else 'all'} tasks waited for memory",
            _psi(line, name), unit="percent", attr="pressure")  # averages over windows: no label to sum over
      for line in ("some", "full") for name, title, what in _PSI],
    *[counter(f"pressure.{line}.total", f"Stall {line}", f"PSI {line}: total stall time", _psi(line, "total"),
              unit="microseconds", attr="pressure", metric=f"pressure.{line}_stall") for line in ("some", "full")],
    info("pids", "PIDs", "cgroup.procs: its own member processes", lambda c: c.pids),
    *[gauge(f"reclaim.{c}", f"Reclaim {c}", f"its LRU lists: {RECLAIM_HELP[c]}", _reclaim(c), attr="reclaim",
            labels=(("class", c),), metric="reclaim") for c in RECLAIM_CLASSES],
    *[gauge(f"self.{k}", f"Own {_TITLES[k]}", f"v1: its own pages only ({k})", _own(k), attr="self_categories",
            path=("self_categories", k), option="v1") for k in CATEGORIES],
    gauge("processes.count", "Procs", "processes in its subtree", lambda c: c.members.count, unit="count",
          attr="members.count", option="processes"),
    *[f for f in totals_fields("processes.", through="members", option="processes")
      if f.id.split(".")[1] in _MEMBER_TOTALS],
    *kind_fields("processes.", group="members", json_base=("processes",), option="processes"),
    info("processes.unread", "Unread", "subtree members without a split: reason -> count",
         lambda c: dict(sorted(c.unread.items())), attr="unread", option="processes"),
    *freed_fields("every process of its subtree"),
], labels=("path",),
    aliases={"anon": "anonymous", "oom": "oom_kills", "psi": "pressure.some.avg10", "procs": "processes.count",
             "pss": "processes.pss", "members.swap": "processes.swap", "anon.pss": "processes.anonymous.pss",
             **{f"{k.value}.pss": f"processes.{k.value}.pss" for k in KINDS}},
    exclude={"members.key": "the cgroup's path", "members.pids": "the subtree's processes (pids: its own)",
             **{f"members.totals.{n}": "not summed for cgroups" for n in Totals.__slots__ if n not in _MEMBER_TOTALS}},
    nested={"members": Group, "members.totals": Totals, "members.categories": KindUsage},
    partitions={"charged": (*CATEGORIES, "kernel", "swapcached", "other"), **kind_partitions("processes.")},
    null_objects=("pressure", "pressure.some", "pressure.full", "reclaim", "freed.parts", "freed"))
CGROUP.partitions.update(FREED_PARTITIONS)

REGISTRIES = (CGROUP,)
