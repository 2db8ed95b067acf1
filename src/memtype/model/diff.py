"""``memtype diff``: two Models compared, per process, program, user and cgroup, per kind. Pure: Models in,
records out (``model/fields_diff.py`` names their fields; ``output/diff_table.py`` draws them).

A process is matched by ``(pid, starttime)`` (a reused PID is one process that went away and another
that appeared). Each kind is compared by PSS (the additive figure: the kinds' PSS add up to the total,
and a machine's sum of PSS is what its processes hold); RSS and swap are compared beside it. A process
grew or shrank (its PSS, else its swap), moved (the same PSS, another split: cow turned anon), appeared,
went away, or stayed the same (``same``: every kind's PSS and its swap equal).

The headlines are what a one-screen summary says: per kind, the net change and the processes that
made it ("+1.1 GiB anonymous in 4 pt_data_worker processes"), and each fork family whose copy-on-write
sharing fell ("copy-on-write -1.0 GiB: sharing with PID 421 broken"): a parent and its children, in
both models, whose summed cow PSS fell by at least ``COW_BREAK`` (kernel-spec A.6: a write to a
fork-shared page gives the writer a private copy and leaves the other side's page private too, so
the family's cow turns into anon on both sides).
"""

from __future__ import annotations

from collections import Counter

from memtype.kinds import KINDS, Kind
from memtype.model.derive import Model
from memtype.model.records import ProcessMemory

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.sample import ProcessKey

GREW, SHRANK, MOVED, APPEARED, WENT_AWAY, SAME = "grew", "shrank", "moved", "appeared", "went away", "same"
CHANGES = (GREW, SHRANK, MOVED, APPEARED, WENT_AWAY, SAME)
BY = ("program", "user", "cgroup")
COW_BREAK = 1 << 20  # a family's cow falling by less is page-level churn, not a break worth a headline
HEADLINE_MIN = 1 << 20  # a kind whose net change is below 1 MiB gets no headline


def _pss(p: ProcessMemory | None) -> dict[Kind, int]:
    return {k: (p.categories[k].pss if p is not None else 0) for k in KINDS}


class ProcessDiff:
    """One process in A, B or both. ``kinds``: B - A of each kind's PSS (bytes); ``pss``, ``rss``,
    ``swap``: of the totals. ``before``/``after``: the records (``None``: absent on that side)."""

    __slots__ = ("key", "pid", "starttime", "comm", "program", "user", "cgroup", "ppid", "change", "kinds", "pss",
                 "rss", "swap", "before", "after")

    def __init__(self, before: ProcessMemory | None, after: ProcessMemory | None) -> None:
        p = after if after is not None else before
        assert p is not None
        self.key: ProcessKey = p.key
        self.pid, self.starttime, self.comm, self.program = p.pid, p.starttime, p.comm, p.program
        self.user = p.user or (str(p.uid) if p.uid is not None else None)
        self.cgroup, self.ppid = p.cgroup, p.ppid
        self.before, self.after = before, after
        a, b = _pss(before), _pss(after)
        self.kinds = {k: b[k] - a[k] for k in KINDS}
        self.pss = _total(after, "pss") - _total(before, "pss")
        self.rss = _total(after, "rss") - _total(before, "rss")
        self.swap = _total(after, "swap") - _total(before, "swap")
        if before is None:
            self.change = APPEARED
        elif after is None:
            self.change = WENT_AWAY
        elif self.pss or self.swap:
            self.change = GREW if (self.pss or self.swap) > 0 else SHRANK
        else:
            self.change = MOVED if any(self.kinds.values()) else SAME

    def __repr__(self) -> str:
        return f"ProcessDiff({self.pid}, {self.comm!r}, {self.change}, {self.pss:+})"


def _total(p: ProcessMemory | None, name: str) -> int:
    return 0 if p is None else int(getattr(p.totals, name))


class GroupDiff:
    """The processes of one program, user or cgroup (``by``), summed: ``count`` in A and B, how many
    appeared and went away, and B - A of each kind's PSS and of the totals."""

    __slots__ = ("by", "key", "before_count", "after_count", "appeared", "went_away", "kinds", "pss", "rss", "swap")

    def __init__(self, by: str, key: str) -> None:
        self.by, self.key = by, key
        self.before_count = self.after_count = self.appeared = self.went_away = 0
        self.kinds = dict.fromkeys(KINDS, 0)
        self.pss = self.rss = self.swap = 0

    def add(self, d: ProcessDiff) -> None:
        self.before_count += d.before is not None
        self.after_count += d.after is not None
        self.appeared += d.change == APPEARED
        self.went_away += d.change == WENT_AWAY
        for k in KINDS:
            self.kinds[k] += d.kinds[k]
        self.pss, self.rss, self.swap = self.pss + d.pss, self.rss + d.rss, self.swap + d.swap


class Headline:
    """One kind's net change (``delta``, PSS bytes) and who made it: ``count`` processes moving that
    way, the program (comm) that moved most of it (``program``: ``program_count`` processes, moving
    ``program_bytes`` of it that way)."""

    __slots__ = ("kind", "delta", "count", "program", "program_count", "program_bytes", "moved")

    def __init__(self, kind: Kind, delta: int, count: int, program: str | None, program_count: int,
                 program_bytes: int = 0, moved: int = 0) -> None:
        self.kind, self.delta, self.count, self.program, self.program_count = kind, delta, count, program, \
            program_count
        self.program_bytes, self.moved = program_bytes, moved

    @property
    def mostly(self) -> bool:
        """The program moved nine tenths of what moved that way or more."""
        return self.moved > 0 and self.program_bytes * 10 >= self.moved * 9


class CowBreak:
    """A fork family whose copy-on-write sharing fell: the parent (``pid``, ``comm``), the members in
    both models (``members``: PIDs, the parent first), their cow PSS before and after (bytes), and
    who wrote (``writers``: anonymous PSS up and page faults taken meanwhile; ``_writers``)."""

    __slots__ = ("pid", "comm", "members", "before", "after", "writers")

    def __init__(self, pid: int, comm: str, members: tuple[int, ...], before: int, after: int,
                 writers: tuple[int, ...]) -> None:
        self.pid, self.comm, self.members, self.before, self.after, self.writers = pid, comm, members, before, after, \
            writers

    @property
    def delta(self) -> int:
        return self.after - self.before


class MachineDiff:
    """One machine row (``MachineMemory.rows`` id) in A and B (``None``: unknown on that side)."""

    __slots__ = ("id", "before", "after")

    def __init__(self, id: str, before: int | None, after: int | None) -> None:
        self.id, self.before, self.after = id, before, after

    @property
    def delta(self) -> int | None:
        return None if self.before is None or self.after is None else self.after - self.before


class Diff:
    """A against B. ``processes``: every process of either, sorted by growth (PSS; largest growth
    first, then the largest fall last); ``groups[by]``: the same summed per program, user, cgroup
    (``cgroup``: only where the samples recorded cgroups); ``kinds``: the net change of each kind over
    the processes (Σ ``ProcessDiff.kinds``); ``machine``: meminfo's rows (``None``: either side lacks
    them); ``headlines`` and ``cow_breaks``: the summary. ``before_wall``/``after_wall``: the samples'
    Unix times (``None``: unknown); ``elapsed``: seconds between them (boot clock; ``None``: unknown or
    another boot)."""

    __slots__ = ("before_wall", "after_wall", "elapsed", "processes", "groups", "kinds", "pss", "machine",
                 "headlines", "cow_breaks", "counts")

    def __init__(self, before_wall: float | None, after_wall: float | None, elapsed: float | None,
                 processes: list[ProcessDiff], groups: dict[str, list[GroupDiff]], machine: list[MachineDiff] | None,
                 headlines: list[Headline], cow_breaks: list[CowBreak]) -> None:
        self.before_wall, self.after_wall, self.elapsed = before_wall, after_wall, elapsed
        self.processes, self.groups, self.machine = processes, groups, machine
        self.headlines, self.cow_breaks = headlines, cow_breaks
        self.kinds = {k: sum(d.kinds[k] for d in processes) for k in KINDS}
        self.pss = sum(d.pss for d in processes)
        self.counts = Counter(d.change for d in processes)


def diff_models(before: Model, after: Model) -> Diff:
    """B (``after``) against A (``before``)."""
    a, b = before.by_key, after.by_key
    keys = list(a) + [k for k in b if k not in a]
    diffs = [ProcessDiff(a.get(k), b.get(k)) for k in keys]
    diffs.sort(key=lambda d: (-d.pss, -d.swap, d.pid))
    groups: dict[str, list[GroupDiff]] = {}
    for by in BY:
        if by == "cgroup" and not any(d.cgroup for d in diffs):
            continue
        found: dict[str, GroupDiff] = {}
        for d in diffs:
            key = (d.program if by == "program" else d.user if by == "user" else d.cgroup) or "?"
            found.setdefault(key, GroupDiff(by, key)).add(d)
        groups[by] = sorted(found.values(), key=lambda g: (-g.pss, g.key))
    elapsed = None
    sa, sb = before.sample, after.sample
    if sa.monotonic is not None and sb.monotonic is not None and sa.host.hostname == sb.host.hostname:
        elapsed = sb.monotonic - sa.monotonic if sb.monotonic >= sa.monotonic else None  # a reboot between
    return Diff(sa.wall, sb.wall, elapsed, diffs, groups, _machine(before, after), headlines(diffs),
                cow_breaks(before, after))


def _machine(before: Model, after: Model) -> list[MachineDiff] | None:
    if before.machine is None or after.machine is None:
        return None
    old = {r.id: r.bytes for r in before.machine.rows}
    return [MachineDiff(r.id, old.get(r.id), r.bytes) for r in after.machine.rows]


def headlines(diffs: list[ProcessDiff]) -> list[Headline]:
    """Per kind whose net PSS change is at least HEADLINE_MIN, largest first: who moved it that way."""
    out = []
    for k in KINDS:
        net = sum(d.kinds[k] for d in diffs)
        if abs(net) < HEADLINE_MIN:
            continue
        movers = [d for d in diffs if (d.kinds[k] > 0) == (net > 0) and d.kinds[k] != 0]
        programs = Counter(d.comm for d in movers)
        weight: Counter[str] = Counter()
        for d in movers:
            weight[d.comm] += abs(d.kinds[k])
        program, part = weight.most_common(1)[0] if weight else (None, 0)
        out.append(Headline(k, net, len(movers), program, programs[program] if program is not None else 0, part,
                            sum(weight.values())))
    out.sort(key=lambda h: -abs(h.delta))
    return out


def _writers(before: Model, after: Model, members: list[ProcessKey]) -> tuple[int, ...]:
    """Who wrote: anonymous PSS up, and page faults taken meanwhile (a copy-on-write fault gives the
    writer its copy; the other side's page turns private with no fault of its own, kernel-spec A.6), at
    least a tenth of the most any member took (a process that runs takes a few faults of its own).
    Unknown fault counters: every member whose anonymous PSS rose."""
    rose: dict[int, int | None] = {}
    for key in members:
        a, b = before.by_key[key], after.by_key[key]
        if b.categories[Kind.ANONYMOUS].pss <= a.categories[Kind.ANONYMOUS].pss:
            continue
        fa, fb = before.sample.processes.get(key), after.sample.processes.get(key)
        known = fa is not None and fb is not None and fa.counters.minflt is not None \
            and fb.counters.minflt is not None
        rose[key[0]] = fb.counters.minflt - fa.counters.minflt if known else None  # type: ignore[union-attr,operator]
    if any(n is None for n in rose.values()):
        return tuple(rose)
    most = max((n or 0 for n in rose.values()), default=0)
    return tuple(pid for pid, n in rose.items() if n and n * 10 >= most)


def cow_breaks(before: Model, after: Model) -> list[CowBreak]:
    """Fork families (a parent and its direct children, each in both models) whose cow PSS fell by
    COW_BREAK or more (not counting the members of a family already named), largest fall first."""
    a, b = before.by_key, after.by_key
    both = [k for k in b if k in a]
    children: dict[int, list[ProcessKey]] = {}
    for key in both:
        ppid = b[key].ppid
        if ppid is not None:
            children.setdefault(ppid, []).append(key)
    by_pid = {key[0]: key for key in both}
    families = []
    for ppid, kids in children.items():
        parent = by_pid.get(ppid)
        if parent is not None:
            families.append([parent, *sorted(kids)])

    def fall(members: list[ProcessKey]) -> int:
        return sum(a[k].categories[Kind.COW].pss - b[k].categories[Kind.COW].pss for k in members)

    # Families nest (a worker's parent is a child of its shell): the family that lost most is named, and
    # its members' loss counts for no other family.
    families.sort(key=fall, reverse=True)
    named: set[ProcessKey] = set()
    out = []
    for members in families:
        rest = [k for k in members if k not in named]
        if fall(rest) < COW_BREAK:
            continue
        named.update(members)
        writers = _writers(before, after, members)
        out.append(CowBreak(members[0][0], b[members[0]].comm, tuple(k[0] for k in members),
                            sum(a[k].categories[Kind.COW].pss for k in members),
                            sum(b[k].categories[Kind.COW].pss for k in members), writers))
    out.sort(key=lambda c: c.delta)
    return out
