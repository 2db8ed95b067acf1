"""Fold processes or mappings into groups (by program, user, path). Sums stay exact."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from memtype.kinds import Kind
from memtype.model.records import KindUsage, Mapping, ProcessMemory, Totals, empty_split


class Group:
    """A sum of processes or mappings sharing a key."""

    __slots__ = ("key", "totals", "categories", "pids", "count")

    def __init__(self, key: str) -> None:
        self.key = key
        self.totals = Totals()
        self.categories: dict[Kind, KindUsage] = empty_split()
        self.pids: list[int] = []
        self.count = 0  # members folded in (processes, or mappings)

    def add(self, totals: Totals, categories: dict[Kind, KindUsage], pid: int | None = None) -> None:
        self.totals.add(totals)
        for k, u in categories.items():
            self.categories[k].add(u)
        if pid is not None and (not self.pids or self.pids[-1] != pid):
            self.pids.append(pid)
        self.count += 1


def group_processes(procs: Iterable[ProcessMemory], key: Callable[[ProcessMemory], str]) -> list[Group]:
    groups: dict[str, Group] = {}
    for p in procs:
        k = key(p)
        g = groups.get(k)
        if g is None:
            g = groups[k] = Group(k)
        g.add(p.totals, p.categories, p.pid)
    return list(groups.values())


def mapping_key(m: Mapping) -> str:
    """Mappings without a file are named by their class: "[anon]", "[heap]", "[stack]"."""
    return m.path or f"[{m.mapclass}]"


def group_mappings(procs: Iterable[ProcessMemory]) -> list[Group]:
    groups: dict[str, Group] = {}
    for p in procs:
        for m in p.mappings or ():
            k = mapping_key(m)
            g = groups.get(k)
            if g is None:
                g = groups[k] = Group(k)
            g.add(m.totals, m.categories, p.pid)
    return list(groups.values())


def total_of(items: Iterable[ProcessMemory | Group | Mapping]) -> Group:
    t = Group("total")
    for it in items:
        t.add(it.totals, it.categories)
    return t
