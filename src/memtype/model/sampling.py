"""What a continuous sampler adds to a Model: how fresh each process's kinds are, what a tick cost, and
the changes since the sampler started. Pure records and arithmetic: ``collect.sampler`` fills them.

A sampler re-reads a process's smaps only when it changed, when its fork family did, or when its kinds
are old; in between its kinds are carried forward (``Model.age``). ``Freshness`` says which case a
process is in, so a view never shows carried kinds as fresh. ``SinceStart`` is ``Changes`` measured
from the start instead of from the previous tick.
"""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.derive import CHANGED, NEW, Model, ProcessDelta
from memtype.model.frozen import Frozen, fill
from memtype.model.records import KindUsage, Totals
from memtype.model.sample import Counters

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Mapping

    from memtype.model.sample import ProcessKey

# Freshness states: how a process's kinds in a model relate to its counters in the same model.
READ = "read"          # its smaps was read in this tick
CARRIED = "carried"    # read earlier; its counters (RSS, faults) have not moved since, nor its fork family
WAITING = "waiting"    # it (or its fork family) changed since its read; waiting for the CPU budget
BIG = "big"            # above the big-process threshold: its smaps is read at most every big_interval
PENDING = "pending"    # never read yet: counters only, no kinds
FRESHNESS = (READ, CARRIED, WAITING, BIG, PENDING)


class Freshness(Frozen):
    """How fresh one process's kinds are.

    ``state`` is one of ``FRESHNESS``; ``age`` the seconds since its smaps was read (``None``: never);
    ``next_read`` the sampler's clock (``Sample.monotonic``) at which a big process is due (else
    ``None``); ``why`` one line for a view ("smaps read at most every 300 s above 4.0 GiB"); ``cost``
    the CPU seconds its last smaps read took (``None``: not read by this sampler).
    """

    __slots__ = ("state", "age", "next_read", "why", "cost")

    state: str
    age: float | None
    next_read: float | None
    why: str
    cost: float | None

    def __init__(self, state: str, age: float | None, next_read: float | None, why: str,
                 cost: float | None = None) -> None:
        fill(self, state, age, next_read, why, cost)

    def __repr__(self) -> str:
        return f"Freshness({self.state!r}, age={self.age}, why={self.why!r})"

    @property
    def fresh(self) -> bool:
        """Its kinds describe the process as it is now (read now, or nothing moved since)."""
        return self.state in (READ, CARRIED)


class TickReport(Frozen):
    """What one tick did and cost (CPU seconds: ``time.thread_time`` of the sampling thread).

    ``counters_cpu``: stat (every process) and status (the ones whose stat moved); ``smaps_cpu``: the
    smaps reads, which the ``budget`` bounds (it may be passed by the one read that was running when it
    ran out: ``slowest`` is the CPU of the slowest read); ``derive_cpu``: classification and deltas; ``cpu``:
    the whole tick; ``duration``: its wall-clock seconds. ``reads`` counts the
    smaps read per reason (``new``, ``changed``, ``family``, ``big``, ``refresh``), ``reads_cpu`` their CPU
    seconds; ``left`` the ones that
    were due but left for a later tick for want of budget; ``big`` the big processes (deferred or read).
    ``cgroups_cpu``: reading the memory cgroups' files (``None``: not read), not in ``counters_cpu``;
    ``cgroups`` how many were read.
    """

    __slots__ = ("index", "processes", "budget", "counters_cpu", "smaps_cpu", "slowest", "derive_cpu", "cpu",
                 "duration", "reads", "reads_cpu", "left", "big", "cgroups_cpu", "cgroups")

    index: int
    processes: int
    budget: float
    counters_cpu: float
    smaps_cpu: float
    slowest: float
    derive_cpu: float
    cpu: float
    duration: float
    reads: dict[str, int]
    reads_cpu: dict[str, float]
    left: int
    big: int
    cgroups_cpu: float | None
    cgroups: int | None

    def __init__(self, index: int, processes: int, budget: float, counters_cpu: float, smaps_cpu: float,
                 slowest: float, derive_cpu: float, cpu: float, duration: float, reads: dict[str, int],
                 reads_cpu: dict[str, float], left: int, big: int, cgroups_cpu: float | None = None,
                 cgroups: int | None = None) -> None:
        fill(self, index, processes, budget, counters_cpu, smaps_cpu, slowest, derive_cpu, cpu, duration, reads,
             reads_cpu, left, big, cgroups_cpu, cgroups)

    @property
    def read(self) -> int:
        return sum(self.reads.values())

    def __repr__(self) -> str:
        return (f"TickReport(#{self.index}, {self.processes} processes, cpu {self.cpu:.4f} s: counters "
                f"{self.counters_cpu:.4f}, smaps {self.smaps_cpu:.4f} of {self.budget:g}, derive {self.derive_cpu:.4f}; "
                f"reads {self.reads}, left {self.left}, big {self.big}"
                + ("" if self.cgroups_cpu is None else f"; {self.cgroups} cgroups {self.cgroups_cpu:.4f}") + ")")


class Baseline(Frozen):
    """A process's figures when the sampler first had them: what ``SinceStart`` subtracts.

    ``at_start``: the process was there at the sampler's first tick (else it started later, and its
    change since the start is its whole figure). ``totals``/``kinds``: its first classified read.
    """

    __slots__ = ("at_start", "counters", "totals", "kinds")

    at_start: bool
    counters: Counters
    totals: Totals | None
    kinds: dict[Kind, KindUsage] | None

    def __init__(self, at_start: bool, counters: Counters, totals: Totals | None = None,
                 kinds: dict[Kind, KindUsage] | None = None) -> None:
        fill(self, at_start, counters, totals, kinds)


class Exited:
    """The running sum of what exited processes took with them since the start (mutable accumulator):
    minus the baseline of each process that was there at the start (one that started later and exited
    changed nothing since the start). Kept as sums only, so memory stays flat."""

    __slots__ = ("count", "totals", "kinds")

    def __init__(self) -> None:
        self.count = 0
        self.totals = Totals()
        self.kinds = {k: KindUsage() for k in KINDS}

    def add(self, baseline: Baseline) -> None:
        self.count += 1
        if baseline.at_start and baseline.totals is not None and baseline.kinds is not None:
            self.totals.add(minus(None, baseline.totals))
            gone = kinds_minus(None, baseline.kinds)
            for k in KINDS:
                self.kinds[k].add(gone[k])


class SinceStart(Frozen):
    """Changes since the sampler's first tick.

    ``processes``: each live classified process's change since its baseline (``NEW``: it started after
    the sampler, its change is its whole figure; ``CHANGED``: now minus its first read, which for a
    process whose first read waited for the budget is a little after the start). ``exited``: how many
    processes exited since; ``kinds``/``totals`` are the sums over the live ones plus what the exited
    ones took (``exited_kinds``), so they equal the machine's process sums now minus at the start.
    ``machine``: each machine row now minus at the first tick. ``elapsed``: seconds since the first tick.
    """

    __slots__ = ("elapsed", "processes", "exited", "exited_kinds", "kinds", "totals", "machine")

    elapsed: float | None
    processes: dict[ProcessKey, ProcessDelta]
    exited: int
    exited_kinds: dict[Kind, KindUsage]
    kinds: dict[Kind, KindUsage]
    totals: Totals
    machine: dict[str, int | None] | None

    def __init__(self, elapsed: float | None, processes: dict[ProcessKey, ProcessDelta], exited: int,
                 exited_kinds: dict[Kind, KindUsage], kinds: dict[Kind, KindUsage], totals: Totals,
                 machine: dict[str, int | None] | None) -> None:
        fill(self, elapsed, processes, exited, exited_kinds, kinds, totals, machine)


def since_start(model: Model, baselines: Mapping[ProcessKey, Baseline], exited: Exited,
                machine_start: dict[str, int | None] | None, started: float | None) -> SinceStart:
    """The changes of ``model`` since the start, from each live process's baseline and the exited sums."""
    deltas: dict[ProcessKey, ProcessDelta] = {}
    totals = Totals()
    totals.add(exited.totals)
    kinds = {k: KindUsage() for k in KINDS}
    for k in KINDS:
        kinds[k].add(exited.kinds[k])
    for p in model.scan.processes:
        base = baselines.get(p.key)
        if base is None:
            continue
        ps = model.sample.processes.get(p.key)
        now_counters = ps.counters if ps is not None else None
        if base.at_start:
            delta = ProcessDelta(p.key, CHANGED, minus(p.totals, base.totals),
                                 kinds_minus(p.categories, base.kinds), counters_minus(now_counters, base.counters))
        else:
            delta = ProcessDelta(p.key, NEW, minus(p.totals, None), kinds_minus(p.categories, None),
                                 counters_minus(now_counters, None))
        deltas[p.key] = delta
        totals.add(delta.totals)
        for k in KINDS:
            kinds[k].add(delta.kinds[k])
    machine = None
    if machine_start is not None and model.machine is not None:
        machine = {r.id: _change(r.bytes, machine_start.get(r.id)) for r in model.machine.rows}
    now = model.sample.monotonic
    elapsed = None if now is None or started is None else now - started
    return SinceStart(elapsed, deltas, exited.count, {k: KindUsage(*v.as_tuple()) for k, v in exited.kinds.items()},
                      kinds, totals, machine)


def _change(after: int | None, before: int | None) -> int | None:
    """A row's change; None where it is unknown (meminfo's device row) at either end."""
    return None if after is None or before is None else after - before


def minus(after: Totals | None, before: Totals | None) -> Totals:
    """after - before, field by field (``None``: zero)."""
    a, b = (after or Totals()).as_dict(), (before or Totals()).as_dict()
    return Totals(**{k: a[k] - b[k] for k in a})


def kinds_minus(after: dict[Kind, KindUsage] | None, before: dict[Kind, KindUsage] | None) -> dict[Kind, KindUsage]:
    """after - before, kind by kind (``None``: zero)."""
    zero = KindUsage()
    out = {}
    for k in KINDS:
        a = after[k] if after is not None else zero
        b = before[k] if before is not None else zero
        out[k] = KindUsage(a.rss - b.rss, a.pss - b.pss, a.swap - b.swap, a.swap_pss - b.swap_pss)
    return out


def counters_minus(after: Counters | None, before: Counters | None) -> Counters:
    """after - before per counter (``before`` ``None``: from 0, a process that started); ``None`` where unknown."""
    if after is None:
        return Counters(None, None, None, None, None, None)
    now = after.as_tuple()
    then = before.as_tuple() if before is not None else (0,) * len(now)
    return Counters(*(None if a is None or b is None else a - b for a, b in zip(now, then)))


READ_REASONS = ("new", "changed", "family", "big", "refresh")  # TickReport.reads' keys (collect.refresh.REASONS)
TICK_PARTS = ("counters", "smaps", "derive", "cgroups")  # where a tick's CPU goes (TickReport)


class SamplerStatus:
    """A running sampler's own cost and state since it started, as an exporter reports it.

    Sums over every tick: ``ticks``, ``errors`` (ticks that failed: the last model stays served),
    ``cpu`` (seconds per ``TICK_PARTS``), ``reads`` and ``reads_cpu`` (smaps reads and their CPU seconds
    per ``READ_REASONS``). ``last``: the last tick's report (``None``: none yet); ``interval`` and
    ``budget`` the sampler's settings (seconds); ``last_wall`` the Unix time of the last tick's
    sample; ``age`` the seconds since then, set on a copy when a scrape asks; ``skipped`` the processes
    of the served model
    that have no split, per ``Skipped.reason``; ``warnings`` its warnings. ``None``: not known.
    Mutable (``add``, ``failed``); an exporter reads it under its own lock.
    """

    __slots__ = ("ticks", "errors", "cpu", "reads", "reads_cpu", "last", "interval", "budget", "last_wall", "age",
                 "skipped", "warnings")

    def __init__(self, interval: float | None = None, budget: float | None = None) -> None:
        self.ticks = 0
        self.errors = 0
        self.cpu = dict.fromkeys(TICK_PARTS, 0.0)
        self.reads = dict.fromkeys(READ_REASONS, 0)
        self.reads_cpu = dict.fromkeys(READ_REASONS, 0.0)
        self.last: TickReport | None = None
        self.interval, self.budget = interval, budget
        self.last_wall: float | None = None
        self.age: float | None = None
        self.skipped: dict[str, int] = {}
        self.warnings: int | None = None

    def add(self, report: TickReport | None, model: Model, wall: float | None) -> None:
        """Count one tick (``report``: ``None`` where the source gives none, a capture's static tick)."""
        self.ticks += 1
        if report is not None:
            self.last = report
            for part, cpu in zip(TICK_PARTS, (report.counters_cpu, report.smaps_cpu, report.derive_cpu,
                                              report.cgroups_cpu or 0.0)):  # cgroups not read: none spent
                self.cpu[part] += cpu
            for reason in READ_REASONS:
                self.reads[reason] += report.reads.get(reason, 0)
                self.reads_cpu[reason] += report.reads_cpu.get(reason, 0.0)
        self.last_wall = wall if wall is not None else model.sample.wall
        counts: dict[str, int] = {}
        for s in model.scan.skipped:
            counts[s.reason] = counts.get(s.reason, 0) + 1
        self.skipped = counts
        self.warnings = len(model.scan.warnings)

    def failed(self) -> None:
        self.errors += 1

    def copy(self) -> SamplerStatus:
        """A copy that the next ``add`` does not change (what a scrape reads)."""
        new = SamplerStatus(self.interval, self.budget)
        new.ticks, new.errors, new.last, new.last_wall, new.age = self.ticks, self.errors, self.last, \
            self.last_wall, self.age
        new.cpu, new.reads, new.reads_cpu = dict(self.cpu), dict(self.reads), dict(self.reads_cpu)
        new.skipped, new.warnings = dict(self.skipped), self.warnings
        return new
