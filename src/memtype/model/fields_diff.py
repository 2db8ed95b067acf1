"""Fields of ``memtype diff`` (``model/diff.py``): a process compared (``diff_process``), a program, user
or cgroup compared (``diff_group``), a machine row compared (``diff_machine``), a broken fork family
(``diff_cow_break``). Every figure is B - A in bytes (negative: it fell) unless its id says before/after.
"""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.diff import CowBreak, GroupDiff, MachineDiff, ProcessDiff
from memtype.model.fields import Registry, gauge, info, label

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter


def _kind(k: Kind) -> Getter:
    return lambda d: d.kinds[k]


def _side(side: str, name: str) -> Getter:
    def get(d: ProcessDiff) -> int | None:
        p = getattr(d, side)
        return None if p is None else int(getattr(p.totals, name))
    return get


_KINDS = [gauge(f"{k.value}.pss", k.label, f"B - A of {k.value}'s PSS; {k.help}", _kind(k), attr="kinds",
                path=("delta", k.value), default=True, labels=(("kind", k.value),), metric="kind.pss")
          for k in KINDS]
_FIGURES = [
    gauge("pss", "PSS", "B - A of the PSS (the kinds' PSS add up to it)", lambda d: d.pss, path=("delta", "pss"),
          default=True),
    gauge("rss", "RSS", "B - A of the RSS", lambda d: d.rss, path=("delta", "rss")),
    gauge("swap", "Swap", "B - A of the bytes in swap (smaps Swap)", lambda d: d.swap, path=("delta", "swap"),
          default=True),
]

DIFF_PROCESS = Registry("diff_process", "one process in A, B or both (memtype diff), matched by PID and start time", [
    label("pid", "PID", "process ID", lambda d: d.pid, default=True),
    label("starttime", "Start", "start time, clock ticks after boot (with the PID: the process's identity)",
          lambda d: d.starttime),
    label("comm", "Name", "the process's name (comm)", lambda d: d.comm, default=True),
    label("program", "Program", "its executable, else its name", lambda d: d.program),
    label("user", "User", "user name, else uid", lambda d: d.user, default=True),
    label("cgroup", "Cgroup", "memory cgroup, where recorded", lambda d: d.cgroup),
    info("ppid", "PPID", "parent PID (in B, else A)", lambda d: d.ppid),
    info("change", "Change", "grew, shrank, moved (same PSS, another split), appeared, went away, or same",
         lambda d: d.change, default=True),
    *_FIGURES,
    *_KINDS,
    gauge("before.pss", "PSS A", "its PSS in A (null: not in A)", _side("before", "pss"), attr="before"),
    gauge("after.pss", "PSS B", "its PSS in B (null: not in B)", _side("after", "pss"), attr="after"),
], labels=("pid", "starttime"), exclude={"key": "pid and starttime", "kinds": "the kind fields"},
    partitions={"pss": tuple(f"{k.value}.pss" for k in KINDS)})

DIFF_GROUP = Registry("diff_group", "the processes of one program, user or cgroup in A and B (memtype diff)", [
    label("by", "By", "program, user or cgroup", lambda g: g.by),
    label("key", "Group", "the program, user or cgroup", lambda g: g.key, default=True),
    gauge("before_count", "Procs A", "its processes in A", lambda g: g.before_count, unit="count"),
    gauge("after_count", "Procs B", "its processes in B", lambda g: g.after_count, unit="count", default=True),
    gauge("appeared", "New", "processes in B only", lambda g: g.appeared, unit="count"),
    gauge("went_away", "Gone", "processes in A only", lambda g: g.went_away, unit="count"),
    *_FIGURES,
    *_KINDS,
], labels=("by", "key"), exclude={"kinds": "the kind fields"},
    partitions={"pss": tuple(f"{k.value}.pss" for k in KINDS)})

DIFF_MACHINE = Registry("diff_machine", "one machine row (memtype system) in A and B", [
    label("id", "Row", "the row (memtype system's ids)", lambda r: r.id, default=True),
    gauge("before", "A", "bytes in A (null: unknown)", lambda r: r.before, default=True),
    gauge("after", "B", "bytes in B (null: unknown)", lambda r: r.after, default=True),
    gauge("delta", "Change", "B - A (null: unknown on either side)", lambda r: r.delta, default=True),
])

DIFF_COW_BREAK = Registry("diff_cow_break", "a fork family whose copy-on-write sharing fell between A and B", [
    label("pid", "PID", "the parent", lambda c: c.pid, default=True),
    label("comm", "Name", "the parent's name", lambda c: c.comm, default=True),
    info("members", "Members", "PIDs of the family in both (the parent first)", lambda c: list(c.members)),
    gauge("before", "CoW A", "the family's cow PSS in A", lambda c: c.before, default=True),
    gauge("after", "CoW B", "the family's cow PSS in B", lambda c: c.after, default=True),
    gauge("delta", "Change", "B - A of the family's cow PSS", lambda c: c.delta, default=True),
    info("writers", "Writers", "members that wrote: anonymous PSS up and page faults taken (a copy-on-write fault)",
         lambda c: list(c.writers)),
])

REGISTRIES = [DIFF_PROCESS, DIFF_GROUP, DIFF_MACHINE, DIFF_COW_BREAK]
COVERS = [(DIFF_PROCESS, ProcessDiff), (DIFF_GROUP, GroupDiff), (DIFF_MACHINE, MachineDiff),
          (DIFF_COW_BREAK, CowBreak)]
