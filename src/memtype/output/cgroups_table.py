"""`memtype cgroups` tables: a flat table sorted by a column, or a tree (JSON: ``output/documents.py``).

Two tables side by side in meaning: what memory.stat charges to each cgroup (anon, shmem, file...;
kernel-spec.md D.1/D.2), and what the cgroup's processes map, by kind (their PSS). They differ on
purpose: page cache and shmem are charged to the cgroup that first touched them, COW pages after a
fork to the parent's cgroup (spec D.3), and PSS divides shared pages among every process mapping them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group as RichGroup, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.kinds import KINDS
from memtype.model.cgroups import CATEGORIES, CgroupMemory, CgroupTree, component_name
from memtype.model.fields import sort_records
from memtype.model.fields_cgroups import CGROUP
from memtype.output.human import UNITS_NOTE, size
from memtype.output.table import SIZE_WIDTH, Column, layout, render_columns

Getter = Callable[[CgroupMemory], "int | float | None"]

# Columns by field id (model/fields_cgroups.py): (id, title, getter); the kinds' PSS go by the kind's name.
CHARGED_COLUMNS: list[tuple[str, str, Getter]] = [
    (i, CGROUP[i].title, CGROUP[i].get) for i in ("charged", "limit", *CATEGORIES, "kernel", "other", "swap")]
MEMBER_COLUMNS: list[tuple[str, str, Getter]] = [
    (i, k.label if k is not None else CGROUP[i].title, CGROUP[i].get)
    for i, k in [("processes.pss", None), *((f"processes.{k.value}.pss", k) for k in KINDS), ("processes.swap", None)]]

NOTE = ("Charged: memory.current (v2) or memory.usage_in_bytes (v1); a cgroup's figures include its child "
        "cgroups, and Anon+Shared+File+Kernel+Other = Charged (Other: the rest, e.g. per-CPU charge "
        "batches). Anon includes copy-on-write. Members: the subtree's processes as they see themselves "
        "(PSS by kind). The two differ: page cache and shmem are charged to the cgroup that first touched "
        "them, and pages shared after fork to the parent's (kernel-spec D.3); PSS splits shared pages "
        "among their mappers. PSI: % of the last 10 s in which some task waited for memory.")
V1_ROOT_NOTE = ("v1 root: memory.usage_in_bytes counts only rss + cache (no kernel memory), so it can be "
                "smaller than a child's.")


def sort_cgroups(cgroups: Sequence[CgroupMemory], key: str) -> list[CgroupMemory]:
    """By one field of the cgroup registry (``charged``, ``psi``, ``cow.pss``...): largest first, text
    (``name``, ``path``) alphabetical; a cgroup without the figure goes last.

    Raises:
        ValueError: unknown key.
    """
    try:
        field = CGROUP.resolve(key)
    except KeyError:
        raise ValueError(f"unknown sort column {key!r}; choose from {', '.join(CGROUP.tokens())}") from None
    return sort_records(cgroups, field)


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


