"""The prometheus_client ``Collector`` over the latest Model of a background sampler.

A scrape reads no file: ``collect()`` takes the ``Snapshot`` a ``Feed`` published last (a Model and
the sampler's status) and turns it into fresh metric families (``exporter.metrics``), so a process
that exited is simply not in them (no stale series: process-exporter#358, glances). What one Model
gives (the machine's record, the groups) is computed once per Model, whatever the scrape rate.

What is exported (``Options``; README "Prometheus exporter" lists every metric):

* the machine (``fields_machine.SYSTEM``): the rows of ``memtype system``, summing to MemTotal, their
  sub-rows, swap, zswap and the reclaim classes;
* groups (``group_registry``: program by default, or user, or cgroup): PSS, RSS and swap by kind,
  USS and the process count; the ``groups`` largest by PSS, the rest summed in one group ``[other]``
  so that a sum over the groups is still every process's;
* processes, only when asked (``top`` by PSS, ``pids``, ``name``): the same figures with ``pid`` and
  ``comm`` labels; command lines never;
* the machine's memory activity (``fields_activity.ACTIVITY``): reclaim by reclaimer (pgscan, pgsteal),
  direct-reclaim stalls, refaults, swap and zswap traffic, OOM kills, and the memory PSI;
* who is reclaiming (``fields_activity.RECLAIM``, ``memtype_reclaim_*``): pages by ``agent`` (kswapd, direct,
  khugepaged, proactive, unattributed: they add up to every steal) and by ``lru`` (anon, file);
* memory cgroups (``fields_cgroups.CGROUP``) where the Model has them (``Model.cgroups``): charged
  memory by kind, kernel, swap, limits, OOM kills, PSI stall time, reclaim classes; the ``cgroups``
  most charged;
* GPUs where the Model has them (``Model.gpu``; ``fields_gpu.GPU_DEVICE``): per device and MIG instance
  total, used, free, BAR1, the processes' VRAM and the rest, labelled by device id and UUID (bounded);
  per process (``gpu.vram`` and the host side of ``fields_process``) only for processes with series;
* the sampler's own cost (``fields_sampler.SAMPLER``): ``memtype_sampler_*``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from memtype._version import __version__
from memtype.exporter.metrics import Spec, label_value, select, specs
from memtype.model.activity import MachineActivity
from memtype.model.damon import damon_state
from memtype.model.reclaimers import damon_reclaim, machine_reclaim
from memtype.model.cgroups import CgroupMemory, cgroup_label
from memtype.model.fields_activity import ACTIVITY, RECLAIM
from memtype.model.fields_cgroups import CGROUP
from memtype.model.fields_gpu import GPU_DEVICE
from memtype.model.fields_machine import SYSTEM
from memtype.model.fields_process import PROCESS, group_registry
from memtype.model.fields_sampler import SAMPLER
from memtype.model.group import Group, group_processes
from memtype.model.machine import system_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.derive import Model
    from memtype.model.records import ProcessMemory
    from memtype.model.sampling import SamplerStatus

GROUPS = ("program", "user", "cgroup")
OTHER = "[other]"  # the group that sums every group past the first ``groups``
# Per group and per process by default: PSS, RSS and swap by kind (one metric each, a series per kind),
# USS, and the processes summed. Metric ids of the registry (``exporter.metrics.select``).
DEFAULT_METRICS = ("kind.pss", "kind.rss", "kind.swap", "uss", "count")
DEFAULT_GROUPS = 50
LIVE = ("data_age",)  # sampler fields that move between two scrapes of one sample


class Options:
    """What the collector exports beside the machine and the sampler.

    Args:
        group: ``program``, ``user`` or ``cgroup``. groups: how many groups get series of their own
            (largest PSS first; the rest are summed in ``[other]``); ``None``: every group.
        metrics: field ids of the group registry (``exporter.metrics.select``), for groups and processes.
        top: processes by PSS with series of their own; pids and name (a regex over comm and program):
            more processes with series of their own.
        cgroups: how many memory cgroups get series (the most charged first; ``None``: all of them).
    """

    __slots__ = ("group", "groups", "metrics", "top", "pids", "name", "cgroups")

    def __init__(self, group: str = "program", groups: int | None = DEFAULT_GROUPS,
                 metrics: Sequence[str] | None = None, top: int = 0, pids: Sequence[int] = (),
                 name: re.Pattern[str] | None = None, cgroups: int | None = DEFAULT_GROUPS) -> None:
        if group not in GROUPS:
            raise ValueError(f"group must be one of {', '.join(GROUPS)}")
        self.group, self.groups, self.top, self.pids, self.name = group, groups, top, frozenset(pids), name
        self.cgroups = cgroups
        self.metrics = tuple(metrics) if metrics is not None else tuple(select(group_registry(group), DEFAULT_METRICS))

    @property
    def per_process(self) -> bool:
        return bool(self.top or self.pids or self.name)


class Snapshot:
    """What a Feed published after a tick: the Model and the sampler's status (read-only once made)."""

    __slots__ = ("model", "status")

    def __init__(self, model: Model, status: SamplerStatus) -> None:
        self.model, self.status = model, status


class _Derived:
    """What one Model gives, computed at its first scrape: the machine's record and activity, the groups,
    the cgroups shown."""

    __slots__ = ("model", "system", "activity", "reclaim", "groups", "cgroups")

    def __init__(self, model: Model, system: Any, groups: list[Group], cgroups: list[CgroupMemory]) -> None:
        self.model, self.system, self.groups, self.cgroups = model, system, groups, cgroups
        self.activity = MachineActivity(model.sample.vmstat, model.sample.pressure)
        damon = damon_reclaim(damon_state(model.sample.damon), model.scan.host.page_size)
        self.reclaim = machine_reclaim(model.sample.vmstat, damon=damon)


class MemtypeCollector:
    """A custom collector (prometheus_client's ``Collector`` protocol): ``collect()`` yields fresh
    families from ``latest()`` at each scrape; ``describe()`` names them without reading anything."""

    def __init__(self, latest: Callable[[], Snapshot | None], options: Options | None = None) -> None:
        self.latest = latest
        self.options = options or Options()
        registry = group_registry(self.options.group)
        self.system_specs = system_specs()
        self.activity_specs = activity_specs()
        self.reclaim_specs = reclaim_specs()
        self.group_specs = specs(registry, self.options.metrics)
        process_ids = [i for i in self.options.metrics if i in PROCESS]  # the same figures, per process
        process_ids += [f.id for f in PROCESS if f.numeric and f.id.startswith("gpu.")]  # no series without a GPU
        self.process_specs = specs(PROCESS, process_ids) if self.options.per_process else []
        self.gpu_specs = specs(GPU_DEVICE)
        self.sampler_specs = specs(SAMPLER, [f.id for f in SAMPLER if f.id not in LIVE])
        self.live_specs = specs(SAMPLER, LIVE)  # what changes between two scrapes of one sample
        self.cgroup_specs = cgroup_specs()
        self._derived: _Derived | None = None
        self._lock = threading.Lock()  # one derivation per Model, however many scrapes come at once

    def all_specs(self) -> list[Spec]:
        return (self.system_specs + self.activity_specs + self.reclaim_specs + self.group_specs + self.process_specs
                + self.cgroup_specs + self.gpu_specs + self.sampler_specs + self.live_specs)

    def describe(self) -> list[Metric]:
        return [info_family(self.options)] + [s.empty() for s in self.all_specs()]

    def collect(self) -> Iterator[Metric]:
        snap = self.latest()
        yield from self.families(snap)
        yield from self.live_families(snap)

    def live_families(self, snap: Snapshot | None) -> list[Metric]:
        """The figures that move between two scrapes of one sample: its age (``LIVE``)."""
        if snap is None:
            return []
        status = snap.status.copy()
        status.age = max(0.0, time.time() - status.last_wall) if status.last_wall is not None else None
        return [s.family([((), status)]) for s in self.live_specs]

    def families(self, snap: Snapshot | None) -> Iterator[Metric]:
        """Every family but the live ones: a function of ``snap`` alone (``serve.CachedApp`` keeps them
        encoded until the next sample)."""
        yield info_family(self.options)
        if snap is None:
            return
        model, status = snap.model, snap.status
        derived = self._derive(model)
        absent = model.scan.host.smaps_absent
        families: list[Metric] = []
        machine = [((), derived.system)] if derived.system is not None else []
        families += [s.family(machine) for s in self.system_specs]
        families += [s.family([((), derived.activity)]) for s in self.activity_specs]
        families += [s.family([((), derived.reclaim)]) for s in self.reclaim_specs]
        group_rows = [((g.key,), g) for g in derived.groups]
        families += [s.family(group_rows, absent) for s in self.group_specs]
        if self.process_specs:
            rows = [((str(p.pid), label_value(p.comm)), p) for p in self.chosen(model.scan.processes)]
            families += [s.family(rows, absent) for s in self.process_specs]
        cgroup_rows = [((label_value(cg.path),), cg) for cg in derived.cgroups]
        families += [s.family(cgroup_rows) for s in self.cgroup_specs]
        gpu_rows = [((d.id, d.uuid or ""), d) for d in (model.gpu.devices if model.gpu is not None else ())]
        families += [s.family(gpu_rows) for s in self.gpu_specs]
        families += [s.family([((), status)]) for s in self.sampler_specs]
        yield from families  # empty ones too: their HELP and TYPE say what this host could serve

    def chosen(self, procs: Sequence[ProcessMemory]) -> list[ProcessMemory]:
        """The processes with series of their own: the ``top`` by PSS, ``pids``, and ``name`` matches."""
        o = self.options
        picked: dict[tuple[int, int | None], ProcessMemory] = {}
        if o.top:
            for p in sorted(procs, key=lambda p: p.totals.pss, reverse=True)[: o.top]:
                picked[p.key] = p
        for p in procs:
            if p.pid in o.pids or (o.name is not None and (o.name.search(p.comm) or o.name.search(p.program))):
                picked[p.key] = p
        return sorted(picked.values(), key=lambda p: p.pid)

    def _derive(self, model: Model) -> _Derived:
        with self._lock:
            done = self._derived
            if done is not None and done.model is model:
                return done
            system = None if model.machine is None else system_of(model.scan.host, model.machine,
                                                                    model.sample.meminfo)
            done = self._derived = _Derived(model, system, self.groups_of(model.scan.processes),
                                            self.cgroups_of(model))
            return done

    def cgroups_of(self, model: Model) -> list[CgroupMemory]:
        """The cgroups with series: the ``cgroups`` most charged (unknown charge last), in tree order."""
        tree = model.cgroups
        if tree is None:
            return []
        found = tree.cgroups
        limit = self.options.cgroups
        if limit is not None and len(found) > limit:
            keep = {id(cg) for cg in sorted(found, key=lambda cg: -(cg.charged if cg.charged is not None else -1))
                    [:limit]}
            found = [cg for cg in found if id(cg) in keep]
        return found

    def groups_of(self, procs: Sequence[ProcessMemory]) -> list[Group]:
        """The groups by PSS, largest first; past ``groups`` summed in ``[other]`` (a group that is
        itself named ``[other]`` is summed there too)."""
        key = _KEYS[self.options.group]
        groups = sorted(group_processes(procs, lambda p: label_value(key(p))), key=lambda g: -g.totals.pss)
        limit = self.options.groups
        keep = [g for g in groups if g.key != OTHER]
        rest = [g for g in groups if g.key == OTHER]
        if limit is not None and len(keep) > limit:
            keep, rest = keep[:limit], rest + keep[limit:]
        if rest:
            other = Group(OTHER)
            for g in rest:
                other.totals.add(g.totals)
                for k, u in g.categories.items():
                    other.categories[k].add(u)
                other.pids.extend(g.pids)
                other.count += g.count
            keep.append(other)
        return keep


class SampleOnly:
    """The collector without its live families: what ``serve.CachedApp`` encodes once per sample."""

    def __init__(self, collector: MemtypeCollector) -> None:
        self.collector = collector

    def describe(self) -> list[Metric]:
        live = {s.name for s in self.collector.live_specs}
        return [m for m in self.collector.describe() if m.name not in live]

    def collect(self) -> Iterator[Metric]:
        return self.collector.families(self.collector.latest())


def _user(p: ProcessMemory) -> str:
    return p.user or (str(p.uid) if p.uid is not None else "?")


_KEYS: dict[str, Callable[[ProcessMemory], str]] = {
    "program": lambda p: p.program, "user": _user, "cgroup": lambda p: cgroup_label(p.cgroup)}


def system_specs() -> list[Spec]:
    """The machine's metrics: every figure of ``memtype system`` but the page scan's (``--exact``, which
    the exporter never runs: a figure only the scan gives, such as the device row, has no series)."""
    return specs(SYSTEM, [f.id for f in SYSTEM if not f.id.startswith("scan.")])


def activity_specs() -> list[Spec]:
    """The machine's activity metrics: the counters and PSI figures of ``fields_activity.ACTIVITY`` but its
    pgscan/pgsteal by reclaimer, which ``memtype_reclaim_{scanned,stolen}_pages_total{agent}`` serve with
    the unattributed rest beside them (one counter is exported once)."""
    return specs(ACTIVITY, [f.id for f in ACTIVITY if not f.id.startswith(("pgscan.", "pgsteal."))])


def reclaim_specs() -> list[Spec]:
    """Who is reclaiming (``fields_activity.RECLAIM``): pages taken and scanned by agent, the unattributed
    rest included (the agents add up to every steal), by LRU type, anon paged out beyond the steals
    (MADV_PAGEOUT, DAMON), and DAMON pageout schemes' pages (only with fresh stats: ``--damon-refresh``,
    or a kdamond's ``refresh_ms``). The swap, refault and PSI figures are the activity metrics'."""
    return specs(RECLAIM, [f.id for f in RECLAIM if f.id.startswith(("stolen.", "scanned.", "lru."))
                           or f.id in ("swapout_unscanned", "damon_stolen")])


def cgroup_specs() -> list[Spec]:
    """The cgroup metrics: charged memory by kind, kernel, swap, limits, OOM kills, PSI stall time,
    the reclaim classes (the processes' own view of each cgroup is the ``--group cgroup`` metrics). Not
    ``freed*``: it needs every process's fds each scrape (``cgroups --freed``), which the exporter does not read."""
    wanted = [f.id for f in CGROUP if f.numeric
              and not f.id.startswith(("processes.", "self.", "pressure.", "freed"))
              or f.id in ("pressure.some.total", "pressure.full.total")]
    return specs(CGROUP, wanted)


def info_family(options: Options) -> Metric:
    """``memtype_exporter_info``: the version and how processes are grouped (always 1)."""
    fam = GaugeMetricFamily("memtype_exporter_info", "memtype's version and the exporter's grouping",
                            labels=("version", "group"))
    fam.add_metric((__version__, options.group), 1)
    return fam
