"""A process's detail for ``memtype top``: its mappings by kind and its fork family. Pure, no Textual.

Both come from the Sample's smaps rows (``Model.sample``): classifying one process's rows again with
mappings (``Classifier.split(..., want_mappings=True)``) costs no read.

A fork family is a process and the relatives that share its address space's layout: ``fork()``
copies the parent's mappings at the same addresses, ``exec()`` replaces them (and ASLR moves them).
So a child belongs to its parent's family when at least half of its mappings start where one of the
parent's does; the family's root is the highest ancestor reached that way, and its members are the
root's descendants reached the same way (a PyTorch DataLoader: the trainer and its workers).

Copy-on-write in a family, per member: ``shared`` is its copy-on-write resident bytes (anon pages
still shared since the fork: kernel-spec.md section 0); ``copied`` is the anonymous resident bytes in
the private writable mappings it inherited (that start where a relative's do): pages written since
the fork and so copied, or touched for the first time there since; memtype cannot tell those two
apart without the page flags (``--exact``).
"""

from __future__ import annotations

from memtype.model.classify import Classifier
from memtype.model.group import Group, group_mappings
from memtype.model.records import ProcessMemory
from memtype.kinds import Kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.records import Mapping
    from memtype.model.sample import ProcessKey

SAME_LAYOUT = 0.5  # share of a child's mapping starts found in its parent's: forked, not exec'd


class Member:
    """One process of a fork family: its depth below the root, its copy-on-write still shared and the
    anonymous bytes already copied in inherited mappings (module docstring)."""

    __slots__ = ("proc", "depth", "shared", "copied")

    def __init__(self, proc: ProcessMemory, depth: int, shared: int, copied: int) -> None:
        self.proc, self.depth, self.shared, self.copied = proc, depth, shared, copied


def with_mappings(model: Model, key: ProcessKey) -> ProcessMemory | None:
    """The process with its mappings classified (``None``: not in the model, or its rows are gone)."""
    p = model.by_key.get(key)
    ps = model.sample.processes.get(key)
    if p is None or ps is None or ps.smaps is None:
        return None
    if p.mappings is not None:
        return p
    _, _, maps = Classifier(model.sample.shmem_devs).split(ps.smaps.names, ps.smaps.vmas(), True)
    return p.replace(mappings=maps)


def mappings_by_path(p: ProcessMemory) -> list[Group]:
    """Its mappings summed by file or region (``memtype maps PID --group path``), largest PSS first."""
    return sorted(group_mappings([p]), key=lambda g: (-g.totals.pss, g.key))


def _starts(model: Model, key: ProcessKey) -> frozenset[int]:
    ps = model.sample.processes.get(key)
    if ps is None or ps.smaps is None:
        return frozenset()
    rows = ps.smaps
    return frozenset(rows.numbers[0::rows.width])


def _forked(child: frozenset[int], parent: frozenset[int]) -> bool:
    return bool(child) and len(child & parent) >= SAME_LAYOUT * len(child)


def family(model: Model, key: ProcessKey) -> list[Member]:
    """The fork family of a process, root first, each member followed by its own (empty: unknown)."""
    procs = {p.pid: p for p in model.scan.processes}
    me = model.by_key.get(key)
    if me is None:
        return []
    starts: dict[int, frozenset[int]] = {}

    def layout(p: ProcessMemory) -> frozenset[int]:
        if p.pid not in starts:
            starts[p.pid] = _starts(model, p.key)
        return starts[p.pid]

    root = me
    while root.ppid in procs and root.ppid != root.pid and _forked(layout(root), layout(procs[root.ppid])):
        root = procs[root.ppid]
    children: dict[int, list[ProcessMemory]] = {}
    for p in model.scan.processes:
        if p.ppid is not None and p.ppid != p.pid:
            children.setdefault(p.ppid, []).append(p)
    members: list[tuple[ProcessMemory, int]] = []

    def add(p: ProcessMemory, depth: int) -> None:
        members.append((p, depth))
        for c in sorted(children.get(p.pid, ()), key=lambda c: c.pid):
            if _forked(layout(c), layout(p)):
                add(c, depth + 1)

    add(root, 0)
    if len(members) == 1:
        return [Member(me, 0, me.categories[Kind.COW].rss, 0)]
    out = []
    for p, depth in members:
        others: frozenset[int] = frozenset().union(*(layout(q) for q, _ in members if q.pid != p.pid))
        full = with_mappings(model, p.key)
        copied = _copied(full.mappings or [], others) if full is not None else 0
        out.append(Member(p, depth, p.categories[Kind.COW].rss, copied))
    return out


def _copied(maps: list[Mapping], inherited: frozenset[int]) -> int:
    """Anonymous resident bytes in private writable mappings that start where a relative's do."""
    return sum(m.categories[Kind.ANONYMOUS].rss for m in maps
               if m.start in inherited and "w" in m.perms and m.perms.endswith("p"))
