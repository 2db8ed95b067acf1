"""The process table's lines from a Model: per process, per program/user/cgroup, or as a tree.

Pure (no Textual): ``memtype.tui.table`` turns these lines into a DataTable. Every figure is a field
of the registries (``model/fields.py``): the process table shows PSS, each kind's PSS and the
proportional swap, so that the kinds add up to PSS and any sum of lines is PSS-correct, a tree's
subtree too (htop#1154: a parent's line in the tree is its subtree's sum; shared pages are counted
once over the subtree, as a fraction in each process that maps them).

A line's change is its figure minus the same line's in the previous model: per process from
``Model.changes`` (``ProcessDelta``, matched by ``(pid, starttime)``), per group or subtree by
grouping the previous model the same way. ``None``: no previous model, or the line is new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from memtype.kinds import KINDS
from memtype.model.cgroups import cgroup_label
from memtype.model.fields import Field
from memtype.model.fields_process import PROCESS, group_registry
from memtype.model.group import Group
from memtype.model.records import ProcessMemory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.sample import ProcessKey
    from memtype.tui.feed import Freshness

    Marks = dict[ProcessKey, Freshness]

# The figures of every line: PSS, then each kind's PSS, then the proportional swap (they add up: Σ kinds = PSS).
FIGURES: tuple[str, ...] = ("pss", *(f"{k.value}.pss" for k in KINDS), "swap_pss")
MODES = ("process", "program", "user", "cgroup")  # grouping; the tree is a view of "process"
TEXT_SORTS = ("pid", "user", "name")


class Line:
    """One line of the table.

    ``key`` is unique in the table (``p:PID:START`` for a process, ``g:NAME`` for a group); ``values``
    and ``deltas`` are by figure id (``FIGURES``); ``proc`` is the process of a process line (``None``
    for a group); ``depth`` and ``children`` place it in a tree (``children``: lines below it, whether
    shown or folded); ``count`` is the processes it sums.
    """

    __slots__ = ("key", "pid", "user", "name", "values", "deltas", "proc", "depth", "children", "count", "age",
                 "state", "why", "folded")

    def __init__(self, key: str, pid: int | None, user: str, name: str, values: dict[str, int],
                 proc: ProcessMemory | None = None, count: int = 1) -> None:
        self.key, self.pid, self.user, self.name, self.values = key, pid, user, name, values
        self.deltas: dict[str, int | None] = {}
        self.proc = proc
        self.depth = 0
        self.children: list[Line] = []
        self.count = count
        self.age: float | None = None  # seconds since its smaps was read (``Model.age``)
        self.state: str | None = None  # the sampler's freshness state (``tui.feed.Freshness``); None: read now
        self.why = ""
        self.folded = False

    def sort_value(self, column: str) -> int | str | None:
        if column == "pid":
            return self.pid
        if column == "user":
            return self.user.lower()
        if column == "name":
            return self.name.lower()
        return self.values.get(column)

    def __repr__(self) -> str:
        return f"Line({self.key!r}, pss={self.values.get('pss')}, depth={self.depth})"


def figure_fields(mode: str) -> list[Field]:
    """The registry fields behind ``FIGURES`` (process or group registry: same ids, titles and help)."""
    registry = PROCESS if mode == "process" else group_registry(mode)
    return [registry[f] for f in FIGURES]


def process_key(key: ProcessKey) -> str:
    return f"p:{key[0]}:{key[1] if key[1] is not None else ''}"


def user_name(p: ProcessMemory) -> str:
    return p.user or (str(p.uid) if p.uid is not None else "?")


def _values(record: ProcessMemory | Group, fields: Sequence[Field]) -> dict[str, int]:
    return {f.id: f.get(record) for f in fields}


def group_key(mode: str) -> Callable[[ProcessMemory], str]:
    if mode == "program":
        return lambda p: p.program
    if mode == "user":
        return user_name
    return lambda p: cgroup_label(p.cgroup) if p.cgroup else "?"


def matches(p: ProcessMemory, needle: str) -> bool:
    """The ``/`` filter: a case-blind substring of the name or the program."""
    n = needle.lower()
    return n in p.comm.lower() or n in p.program.lower()


def filtered(model: Model, needle: str) -> list[ProcessMemory]:
    procs = model.scan.processes
    return [p for p in procs if matches(p, needle)] if needle else list(procs)


def mark(line: Line, model: Model, key: ProcessKey, marks: Marks | None) -> None:
    """The line's age and freshness: the sampler's where it says, else the Model's age."""
    fresh = marks.get(key) if marks is not None else None
    if fresh is None:
        line.age = model.age(key)
    else:
        line.age, line.state, line.why = fresh.age, fresh.state, fresh.why


def process_lines(model: Model, needle: str = "", marks: Marks | None = None) -> list[Line]:
    """One line per process, with its change since the previous model (``ProcessDelta``)."""
    fields = figure_fields("process")
    changes = model.changes
    out = []
    for p in filtered(model, needle):
        line = Line(process_key(p.key), p.pid, user_name(p), p.comm, _values(p, fields), proc=p)
        if p.gpu is not None:  # VRAM beside the figures (not one of them: not in PSS)
            line.values.update(_values(p, [PROCESS["gpu.vram"]]))
        mark(line, model, p.key, marks)
        if changes is not None:
            d = changes.processes.get(p.key)
            line.deltas = _delta_of(d) if d is not None else dict.fromkeys(FIGURES, 0)
        out.append(line)
    return out


def _delta_of(d: object) -> dict[str, int | None]:
    totals, kinds = getattr(d, "totals"), getattr(d, "kinds")
    out: dict[str, int | None] = {"pss": totals.pss, "swap_pss": totals.swap_pss}
    for k in KINDS:
        out[f"{k.value}.pss"] = kinds[k].pss
    return out


def group_lines(model: Model, mode: str, needle: str = "", previous: Model | None = None) -> list[Line]:
    """One line per program, user or memory cgroup; changes from grouping ``previous`` alike."""
    fields = figure_fields(mode)
    key = group_key(mode)

    def groups(m: Model) -> dict[str, Group]:
        by: dict[str, Group] = {}
        for p in filtered(m, needle):
            k = key(p)
            g = by.get(k)
            if g is None:
                g = by[k] = Group(k)
            g.add(p.totals, p.categories, p.pid)
        return by

    now = groups(model)
    before = {k: _values(g, fields) for k, g in groups(previous).items()} if previous is not None else None
    out = []
    for k, g in now.items():
        users = {user_name(p) for p in model.scan.processes if p.pid in g.pids} if mode == "cgroup" else set()
        who = k if mode == "user" else (users.pop() if len(users) == 1 else "")
        line = Line(f"g:{k}", None, who, k, _values(g, fields), count=g.count)
        if before is not None:
            old = before.get(k)
            line.deltas = {f: (line.values[f] - old[f]) if old is not None else None for f in FIGURES}
        out.append(line)
    return out


def tree_lines(model: Model, needle: str = "", previous: Model | None = None, marks: Marks | None = None
               ) -> list[Line]:
    """The process tree (by PPID): roots are processes whose parent is not in the model. A line with
    children carries its subtree's sums (itself and every descendant), PSS-correct. With a filter, a
    process is kept when it or a descendant matches (its ancestors stay, for the shape).

    Returns the roots; each line's ``children`` hold the rest.
    """
    fields = figure_fields("process")
    roots = _tree(model, needle, fields, marks)
    if previous is not None:
        old: dict[str, dict[str, int]] = {}
        for line in walk(_tree(previous, needle, fields), all_lines=True):
            old[line.key] = line.values
        for line in walk(roots, all_lines=True):
            was = old.get(line.key)
            line.deltas = {f: (line.values[f] - was[f]) if was is not None else None for f in FIGURES}
    return roots


def _tree(model: Model, needle: str, fields: Sequence[Field], marks: Marks | None = None) -> list[Line]:
    procs = model.scan.processes
    by_pid = {p.pid: p for p in procs}
    lines = {p.pid: Line(process_key(p.key), p.pid, user_name(p), p.comm, _values(p, fields), proc=p)
             for p in procs}
    for p in procs:
        mark(lines[p.pid], model, p.key, marks)
    roots: list[Line] = []
    for p in procs:
        parent = lines.get(p.ppid) if p.ppid is not None and p.ppid != p.pid else None
        (parent.children if parent is not None else roots).append(lines[p.pid])

    def total(line: Line, depth: int) -> bool:  # sums the subtree; True if something in it matches
        line.depth = depth
        hit = not needle or (line.pid is not None and matches(by_pid[line.pid], needle))
        kept = []
        for child in line.children:
            if total(child, depth + 1):
                kept.append(child)
                for f in FIGURES:
                    line.values[f] += child.values[f]
                line.count += child.count
        line.children = kept
        return hit or bool(kept)

    return [r for r in roots if total(r, 0)]


def walk(lines: Iterable[Line], *, all_lines: bool = False) -> Iterable[Line]:
    """Lines in display order: each followed by its children, unless folded (``all_lines``: them too)."""
    for line in lines:
        yield line
        if line.children and (all_lines or not line.folded):
            yield from walk(line.children, all_lines=all_lines)


def sort_lines(lines: list[Line], column: str, descending: bool | None = None) -> list[Line]:
    """Lines by one column (a figure id, or pid/user/name), children sorted among themselves alike.

    Figures sort largest first and text A to Z unless ``descending`` says otherwise; unknown last.
    """
    desc = column not in TEXT_SORTS if descending is None else descending
    known = [x for x in lines if x.sort_value(column) is not None]
    unknown = [x for x in lines if x.sort_value(column) is None]
    known.sort(key=lambda x: (x.sort_value(column), x.key), reverse=desc)
    for line in lines:
        if line.children:
            line.children = sort_lines(line.children, column, desc)
    return known + unknown
