"""``derive(sample, previous)``: a raw Sample classified into the model, plus what changed since before.

Pure: no Root, no I/O (review anchor B, below's ``Model::new(timestamp, &Sample, last)``). The model
is the records every front end already reads: a ``Scan`` of ``ProcessMemory`` (kinds, totals and
reclaim classes per process, as ``collect.scan`` plus ``model.reclaim.annotate`` give them) and the
``MachineMemory`` of meminfo. With a previous model (or sample), ``Changes`` tells, per process and
per kind, what moved, matched by ``ProcessKey`` ``(pid, starttime)``: a PID that was reused is one
process that exited and another that is new.

A process whose smaps rows are the very ones of the previous model (a sampler carried them forward)
is not classified again: its split is taken from the previous model; one whose ProcessSample is the
very one of the previous model (a sampler saw nothing of it move) keeps its very record.

Where the sample holds the GPUs (``Sample.gpu``), ``Model.gpu`` is their view (``model.gpu.gpu_view``:
devices, per-process VRAM keyed by this PID namespace's PIDs); VRAM is never in the kinds' sums.

Where the sample holds the memory cgroups, ``Model.cgroups`` is their tree (``model.cgroup_tree``) with
the model's processes summed in: the records of ``memtype cgroups``.
"""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.cgroup_tree import attach_members, cgroup_tree
from memtype.model.classify import Classifier
from memtype.model.frozen import Frozen, fill
from memtype.model.gpu import GpuView, attach_gpu, gpu_view, nvidia_pids
from memtype.model.gpu_host import HostSide, host_side
from memtype.model.machine import MachineMemory, cow_file_of, split_machine
from memtype.model.reclaim import reclaim_from_smaps
from memtype.model.records import KindUsage, ProcessMemory, Scan, Skipped, Totals
from memtype.model.sample import Counters, ProcessSample, Sample
from memtype.parse.smaps import OPTIONAL_FIELDS

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.cgroups import CgroupTree
    from memtype.model.records import Mapping
    from memtype.model.sample import ProcessKey

NEW, EXITED, CHANGED = "new", "exited", "changed"


class ProcessDelta(Frozen):
    """How one process moved between two models: after minus before (bytes; negative: it shrank).

    ``change`` is ``"new"`` (its delta is its whole figure), ``"exited"`` (in the previous model, not
    in this one: it exited, or could not be read this time, as ``Scan.skipped`` says; its delta is
    minus its last figure) or ``"changed"``. ``counters`` holds the change of status/stat counters
    (faults since the previous sample), ``None`` where either side lacks one.
    """

    __slots__ = ("key", "change", "totals", "kinds", "counters")

    key: ProcessKey
    change: str
    totals: Totals
    kinds: dict[Kind, KindUsage]
    counters: Counters

    def __init__(self, key: ProcessKey, change: str, totals: Totals, kinds: dict[Kind, KindUsage],
                 counters: Counters) -> None:
        fill(self, key, change, totals, kinds, counters)


class Changes(Frozen):
    """What moved between the previous model and this one.

    ``processes`` holds the new, exited and changed ones (a process absent did not move); ``kinds``
    and ``totals`` are their sums, so they equal this model's sums minus the previous model's.
    ``machine`` is the change of each machine row (``MachineMemory.rows`` ids; a row ``None`` where it is
    unknown in either), ``None`` where either
    side has no meminfo. ``elapsed`` is the seconds between the two samples (``None``: unknown).
    """

    __slots__ = ("elapsed", "new", "exited", "changed", "processes", "kinds", "totals", "machine")

    elapsed: float | None
    new: tuple[ProcessKey, ...]
    exited: tuple[ProcessKey, ...]
    changed: tuple[ProcessKey, ...]
    processes: dict[ProcessKey, ProcessDelta]
    kinds: dict[Kind, KindUsage]
    totals: Totals
    machine: dict[str, int | None] | None

    def __init__(self, elapsed: float | None, processes: dict[ProcessKey, ProcessDelta], kinds: dict[Kind, KindUsage],
                 totals: Totals, machine: dict[str, int | None] | None) -> None:
        by_change: dict[str, list[ProcessKey]] = {NEW: [], EXITED: [], CHANGED: []}
        for key, delta in processes.items():
            by_change[delta.change].append(key)
        fill(self, elapsed, tuple(by_change[NEW]), tuple(by_change[EXITED]), tuple(by_change[CHANGED]), processes,
             kinds, totals, machine)


class Model(Frozen):
    """A Sample classified: ``scan`` (processes by kind), ``machine`` (meminfo's rows; ``None`` without
    MemTotal/MemFree), ``changes`` since the previous model (``None``: no previous one) and ``cgroups``
    (the memory cgroups by kind with the processes summed in; ``None``: the sample has none) and ``gpu``
    (``model.gpu.GpuView``; ``None``: the sample has no GPU reading).

    ``swap_room`` (a swap device with room: ``SwapFree > 0``) and ``mappings`` (``ProcessMemory.mappings``
    were derived) are how it was derived.
    """

    __slots__ = ("sample", "scan", "machine", "changes", "swap_room", "mappings", "cgroups", "by_key", "gpu")

    sample: Sample
    scan: Scan
    machine: MachineMemory | None
    changes: Changes | None
    swap_room: bool
    mappings: bool
    cgroups: CgroupTree | None
    by_key: dict[ProcessKey, ProcessMemory]
    gpu: GpuView | None

    def __init__(self, sample: Sample, scan: Scan, machine: MachineMemory | None, changes: Changes | None,
                 swap_room: bool, mappings: bool, cgroups: CgroupTree | None = None,
                 gpu: GpuView | None = None) -> None:
        fill(self, sample, scan, machine, changes, swap_room, mappings, cgroups, {p.key: p for p in scan.processes},
             gpu)

    def age(self, key: ProcessKey) -> float | None:
        """Seconds between the reading of this process's smaps and the sample (0 when read in it)."""
        ps = self.sample.processes.get(key)
        if ps is None or ps.smaps_at is None or self.sample.monotonic is None:
            return None
        return max(0.0, self.sample.monotonic - ps.smaps_at)


def derive(sample: Sample, previous: Model | Sample | None = None, *, mappings: bool = False) -> Model:
    """The model of ``sample``, with its changes since ``previous``.

    Args:
        sample: what was read.
        previous: the model (or sample) before it; a sample is derived first.
        mappings: derive each process's mappings (``ProcessMemory.mappings``, as ``memtype maps``).
    """
    before = derive(previous, mappings=mappings) if isinstance(previous, Sample) else previous
    swap_room = has_swap_room(sample)
    reuse = before if (before is not None and before.swap_room == swap_room and before.mappings == mappings
                       and before.sample.shmem_devs == sample.shmem_devs) else None
    classifier = Classifier(sample.shmem_devs)
    processes: list[ProcessMemory] = []
    skipped = list(sample.skipped)
    warnings = ([sample.host.page_size_note] if sample.host.page_size_note else []) + list(sample.warnings)
    for key, ps in sample.processes.items():
        if ps.smaps is None:
            skipped.append(Skipped(ps.pid, "not sampled"))
            continue
        old = reuse.by_key.get(key) if reuse is not None else None
        if old is not None and reuse is not None:
            then = reuse.sample.processes[key]
            if then is ps:  # the very ProcessSample (a sampler's unchanged process): the very record
                processes.append(old)
                continue
            if then.smaps is ps.smaps:
                processes.append(_process(sample, ps, old.totals, old.categories, old.mappings, old.reclaim))
                continue
        names, vmas = ps.smaps.names, ps.smaps.vmas()
        try:
            totals, kinds, maps = classifier.split(names, vmas, mappings)
            reclaim = reclaim_from_smaps(names, vmas, classifier, swap_room)
        except ValueError as exc:  # no Rss/Pss/Size field: not an smaps the classifier can read
            skipped.append(Skipped(ps.pid, "unreadable", f"proc/{ps.pid}/smaps"))
            warnings.append(f"proc/{ps.pid}/smaps: {exc}")
            continue
        processes.append(_process(sample, ps, totals, kinds, maps, reclaim))
    for p in processes:
        warnings.extend(p.problems)
    skipped.sort(key=lambda s: s.pid)
    host = sample.host
    first = next((ps.smaps for ps in sample.processes.values() if ps.smaps is not None), None)
    if first is not None:  # one kernel prints the same fields in every entry (parse.smaps.absent_fields)
        host = host.replace(smaps_absent=frozenset(n for n in OPTIONAL_FIELDS if n not in first.names))
    scan = Scan(host, processes, skipped, warnings)
    machine = None
    if "MemTotal" in sample.meminfo and "MemFree" in sample.meminfo:  # the split `memtype system` makes
        pcp = None if sample.zoneinfo is None else sum(z.get("pcp_count") or 0 for z in sample.zoneinfo)
        machine = split_machine(sample.meminfo, host.page_size, per_cpu_pages=pcp, cow_file=cow_file_of(scan))
    gpu = gpu_view(sample.gpu, sample.meminfo, {ps.pid for ps in sample.processes.values()}) \
        if sample.gpu is not None else None
    if gpu is not None:  # each process's "gpu" (top, the exporter, report read it through the registry)
        scan = scan.replace(processes=attach_gpu(scan.processes, gpu, _host_sides(sample, nvidia_pids(gpu))))
    changes = None if before is None else _changes(before, sample, scan, machine)
    return Model(sample, scan, machine, changes, swap_room, mappings, cgroups_of(sample, scan, swap_room), gpu)


def _host_sides(sample: Sample, pids: list[int]) -> dict[int, HostSide]:
    """The NVIDIA host side (``model.gpu_host``) of ``pids`` from their smaps rows."""
    wanted, found = set(pids), {}
    for ps in sample.processes.values():
        if ps.pid in wanted and ps.smaps is not None:
            side = host_side(ps.smaps.names, ps.smaps.vmas())
            if side is not None:
                found[ps.pid] = side
    return found


def has_swap_room(sample: Sample) -> bool:
    """A swap device with room: ``SwapFree > 0`` (SwapFree sums every device's free slots)."""
    return sample.meminfo.get("SwapFree", 0) > 0


def cgroups_of(sample: Sample, scan: Scan, swap_room: bool) -> CgroupTree | None:
    """The sample's memory cgroups with the scan's processes summed in (a PID listed in a cgroup that
    the sample has neither read nor skipped was gone before it was read, or not captured)."""
    if sample.cgroups is None:
        return None
    tree = cgroup_tree(sample.cgroups, swap_room)
    present = {s.pid for s in sample.skipped}.union(ps.pid for ps in sample.processes.values())
    attach_members(tree, scan.processes, scan.skipped, present, sample.host.live)
    return tree


def _process(sample: Sample, ps: ProcessSample, totals: Totals, kinds: dict[Kind, KindUsage],
             maps: list[Mapping] | None, reclaim: dict[str, int] | None) -> ProcessMemory:
    user = sample.users.get(ps.uid) if ps.uid is not None else None
    return ProcessMemory(ps.pid, ps.comm, ps.uid, user, ps.ppid, ps.starttime, totals, kinds, exe=ps.exe,
                         mappings=maps, problems=list(ps.problems), cgroup=ps.cgroup, reclaim=reclaim)


def _changes(before: Model, sample: Sample, scan: Scan, machine: MachineMemory | None) -> Changes:
    now = {p.key: p for p in scan.processes}
    deltas: dict[ProcessKey, ProcessDelta] = {}
    then = before.sample.processes
    for key, p in now.items():
        old = before.by_key.get(key)
        if old is p and then.get(key) is sample.processes[key]:
            continue  # the same record from the same ProcessSample: nothing of it moved
        counters = _counter_change(then.get(key), sample.processes[key])
        if old is None:
            deltas[key] = ProcessDelta(key, NEW, _minus(p.totals, None), _kinds_minus(p.categories, None), counters)
        elif old.totals != p.totals or old.categories != p.categories or any(counters.as_tuple()):
            deltas[key] = ProcessDelta(key, CHANGED, _minus(p.totals, old.totals),
                                       _kinds_minus(p.categories, old.categories), counters)
    for key, old in before.by_key.items():
        if key not in now:
            deltas[key] = ProcessDelta(key, EXITED, _minus(None, old.totals), _kinds_minus(None, old.categories),
                                       Counters(None, None, None, None, None, None))
    kinds = {k: KindUsage() for k in KINDS}
    totals = Totals()
    for d in deltas.values():
        totals.add(d.totals)
        for k in KINDS:
            kinds[k].add(d.kinds[k])
    rows = None
    if machine is not None and before.machine is not None:
        old_rows = {r.id: r.bytes for r in before.machine.rows}
        rows = {r.id: _change(r.bytes, old_rows.get(r.id)) for r in machine.rows}
    elapsed = None
    if sample.monotonic is not None and before.sample.monotonic is not None:
        elapsed = sample.monotonic - before.sample.monotonic
    return Changes(elapsed, dict(sorted(deltas.items(), key=lambda item: (item[0][0], item[0][1] or 0))), kinds,
                   totals, rows)


def _change(after: int | None, before: int | None) -> int | None:
    return None if after is None or before is None else after - before


def _minus(after: Totals | None, before: Totals | None) -> Totals:
    a, b = (after or Totals()).as_dict(), (before or Totals()).as_dict()
    return Totals(**{k: a[k] - b[k] for k in a})


def _kinds_minus(after: dict[Kind, KindUsage] | None, before: dict[Kind, KindUsage] | None) -> dict[Kind, KindUsage]:
    zero = KindUsage()
    out = {}
    for k in KINDS:
        a = after[k] if after is not None else zero
        b = before[k] if before is not None else zero
        out[k] = KindUsage(a.rss - b.rss, a.pss - b.pss, a.swap - b.swap, a.swap_pss - b.swap_pss)
    return out


def _counter_change(before: ProcessSample | None, after: ProcessSample) -> Counters:
    """after - before per counter; a new process's change is its whole counter (it started from 0)."""
    now = after.counters.as_tuple()
    then = before.counters.as_tuple() if before is not None else (0,) * len(now)
    return Counters(*(None if a is None or b is None else a - b for a, b in zip(now, then)))
