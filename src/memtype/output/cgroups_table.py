"""`memtype cgroups` front end: a flat table sorted by a column, or a tree; and the JSON items.

Two tables side by side in meaning: what memory.stat charges to each cgroup (anon, shmem, file...;
kernel-spec.md D.1/D.2), and what the cgroup's processes map, by kind (their PSS). They differ on
purpose: page cache and shmem are charged to the cgroup that first touched them, COW pages after a
fork to the parent's cgroup (spec D.3), and PSS divides shared pages among every process mapping them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Group as RichGroup, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.kinds import KINDS
from memtype.model.cgroups import CATEGORIES, CgroupMemory, CgroupTree, component_name
from memtype.output.human import UNITS_NOTE, size
from memtype.output.table import SIZE_WIDTH, Column, layout, render_columns

Getter = Callable[[CgroupMemory], "int | float | None"]

CHARGED_COLUMNS: list[tuple[str, str, Getter]] = [
    ("charged", "Charged", lambda c: c.charged),
    ("limit", "Limit", lambda c: c.limit),
    ("anonymous", "Anon", lambda c: c.categories["anonymous"]),
    ("shared", "Shared", lambda c: c.categories["shared"]),
    ("file", "File", lambda c: c.categories["file"]),
    ("kernel", "Kernel", lambda c: c.kernel),
    ("other", "Other", lambda c: c.other),
    ("swap", "Swap", lambda c: c.swap),
]
MEMBER_COLUMNS: list[tuple[str, str, Getter]] = [
    ("pss", "PSS", lambda c: c.members.totals.pss),
] + [(f"{k.value}.pss", k.label, (lambda k: lambda c: c.members.categories[k].pss)(k)) for k in KINDS] + [
    ("members.swap", "Swap", lambda c: c.members.totals.swap),
]
SORT_KEYS: dict[str, Getter] = {
    **{key: get for key, _, get in CHARGED_COLUMNS},
    "anon": lambda c: c.categories["anonymous"],
    "oom": lambda c: c.oom_kills,
    "psi": lambda c: _psi10(c),
    "procs": lambda c: c.members.count,
    **{key: get for key, _, get in MEMBER_COLUMNS},
    **{k.value.replace("anonymous", "anon") + ".pss": (lambda k: lambda c: c.members.categories[k].pss)(k)
       for k in KINDS},
}
TEXT_KEYS = ("name", "path")

NOTE = ("Charged: memory.current (v2) or memory.usage_in_bytes (v1); a cgroup's figures include its child "
        "cgroups, and Anon+Shared+File+Kernel+Other = Charged (Other: the rest, e.g. per-CPU charge "
        "batches). Anon includes copy-on-write. Members: the subtree's processes as they see themselves "
        "(PSS by kind). The two differ: page cache and shmem are charged to the cgroup that first touched "
        "them, and pages shared after fork to the parent's (kernel-spec D.3); PSS splits shared pages "
        "among their mappers. PSI: % of the last 10 s in which some task waited for memory.")
V1_ROOT_NOTE = ("v1 root: memory.usage_in_bytes counts only rss + cache (no kernel memory), so it can be "
                "smaller than a child's.")


def sort_cgroups(cgroups: Sequence[CgroupMemory], key: str) -> list[CgroupMemory]:
    """Largest first (``name``/``path``: alphabetical); a cgroup without the figure goes last.

    Raises:
        ValueError: unknown key.
    """
    k = key.lower()
    if k in TEXT_KEYS:
        return sorted(cgroups, key=lambda c: c.name.lower() if k == "name" else c.path)
    get = SORT_KEYS.get(k)
    if get is None:
        raise ValueError(f"unknown sort column {key!r}; choose from {', '.join(list(SORT_KEYS) + list(TEXT_KEYS))}")
    return sorted(cgroups, key=lambda c: (get(c) is None, -(get(c) or 0)))


def tree_order(cgroups: Sequence[CgroupMemory], key: str) -> list[CgroupMemory]:
    """Parents before children; siblings in ``sort_cgroups`` order."""
    children: dict[str, list[CgroupMemory]] = {}
    for cg in cgroups:
        if cg.path != "/":
            children.setdefault(cg.path.rsplit("/", 1)[0] or "/", []).append(cg)
    paths = {cg.path for cg in cgroups}
    tops = [cg for cg in cgroups if cg.path == "/" or (cg.path.rsplit("/", 1)[0] or "/") not in paths]
    out: list[CgroupMemory] = []
    stack = list(reversed(sort_cgroups(tops, key)))
    while stack:
        cg = stack.pop()
        out.append(cg)
        stack.extend(reversed(sort_cgroups(children.get(cg.path, []), key)))
    return out


def tree_name(cg: CgroupMemory) -> str:
    """The last path component's readable name, indented by depth (two spaces a level)."""
    if cg.path == "/":
        return "/"
    parts = cg.path.split("/")
    return "  " * (cg.depth - 1) + component_name(parts[-1], parts[-2] or None)[1]


def _psi10(c: CgroupMemory) -> float | None:
    if c.pressure is None or c.pressure.some is None:
        return None
    return c.pressure.some.get("avg10")


def _table(title: str, rows: Sequence[CgroupMemory], name: Callable[[CgroupMemory], str],
           columns: Sequence[tuple[str, str, Getter]], extra: Sequence[tuple[str, Callable[[CgroupMemory], str]]],
           width: int | None, *, as_tree: bool, measure: str | None = None, drop_extra: bool = False) -> Table:
    """The name column gets what the sizes leave (a flat path is cut in the middle, keeping its last
    component); ``drop_extra``: the extra columns give way first when the width is short."""
    cols = [Column("Cgroup", [name(cg) for cg in rows], right=False, shrink=12, path=not as_tree)]
    for _, header, get in columns:
        head = f"{header}\n{measure}" if measure and header in KIND_LABELS else header
        cols.append(Column(head, [size(_int(get(cg))) for cg in rows], right=True, least=SIZE_WIDTH))
    for header, f in extra:
        cols.append(Column(header, [f(cg) for cg in rows], right=True, drop=1 if drop_extra else 0, least=4))
    kept, dropped, full = layout(cols, width)
    if dropped:
        title += f" · not shown for want of room: {', '.join(dropped)} ({full}+ columns)"
    return render_columns(kept, title=title)


KIND_LABELS = {k.label for k in KINDS}


def _int(v: int | float | None) -> int | None:
    return None if v is None else int(v)


def render(tree: CgroupTree, rows: Sequence[CgroupMemory], *, as_tree: bool, sort: str,
           width: int | None, members: bool) -> RenderableType:
    """The charged table, then (with ``members``) the member-process table, then the legend."""
    h = tree.hierarchy
    head = f"Memory cgroups: cgroup v{h.version} at /{h.rel}"
    if h.hybrid:
        head += " (hybrid host: the memory controller is in v1)"
    name: Callable[[CgroupMemory], str] = tree_name if as_tree else (lambda c: c.name)
    order = "as a tree" if as_tree else f"sorted by {sort}"
    parts: list[RenderableType] = [Text(head, style="bold")]
    extra: list[tuple[str, Callable[[CgroupMemory], str]]] = [
        ("OOM", lambda c: "-" if c.oom_kills is None else str(c.oom_kills)),
        ("PSI", lambda c: "-" if _psi10(c) is None else f"{_psi10(c):.2f}")]
    parts.append(_table(f"Charged to {len(rows)} cgroups (memory.stat), {order}", rows, name, CHARGED_COLUMNS,
                        extra, width, as_tree=as_tree, drop_extra=True))
    if members:
        parts.append(_table("Their processes by kind (PSS; a cgroup includes its children's)", rows, name,
                            MEMBER_COLUMNS, [("Procs", lambda c: str(c.members.count))], width, as_tree=as_tree,
                            measure="PSS"))
    note = NOTE + (" " + V1_ROOT_NOTE if h.version == 1 and any(c.path == "/" for c in rows) else "")
    parts.append(Text(note + " " + UNITS_NOTE, style="dim"))
    return RichGroup(*parts)


# -- JSON ------------------------------------------------------------------------------------------

def cgroup_dict(cg: CgroupMemory, members: bool) -> dict[str, Any]:
    """One ``"cgroups"`` item of the JSON document (bytes; null = not reported, or no limit)."""
    d: dict[str, Any] = {
        "path": cg.path, "name": cg.name, "version": cg.version, "depth": cg.depth,
        "hierarchical": cg.hierarchical,
        "charged": cg.charged, "categories": {k: cg.categories[k] for k in CATEGORIES},
        "kernel": cg.kernel, "swapcached": cg.swapcached, "other": cg.other, "swap": cg.swap,
        "limit": cg.limit, "effective_limit": cg.effective_limit, "oom_kills": cg.oom_kills,
        "pressure": cg.pressure.as_dict() if cg.pressure is not None else None,
        "pids": cg.pids, "reclaim": cg.reclaim,
    }
    if cg.self_categories is not None:
        d["self_categories"] = cg.self_categories
    if members:
        m = cg.members
        d["processes"] = {
            "count": m.count, "rss": m.totals.rss, "pss": m.totals.pss, "uss": m.totals.uss,
            "swap": m.totals.swap, "swap_pss": m.totals.swap_pss,
            "categories": {k.value: {"rss": m.categories[k].rss, "pss": m.categories[k].pss,
                                     "swap": m.categories[k].swap, "swap_pss": m.categories[k].swap_pss}
                           for k in KINDS},
            "unread": dict(sorted(cg.unread.items())),
        }
    return d
