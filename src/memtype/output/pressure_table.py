"""``memtype pressure`` for people: rich tables (JSON and CSV come from the field registry)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.pressure import KINDS, Holders, PressureReport
from memtype.output.console import new_table
from memtype.output.human import UNITS_NOTE, size

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import HostInfo

_HOW = {"file": "page cache: dropped", "anonymous": "swapped out",
        "shared": "shmem: swapped out"}


def _table(title: str) -> Table:
    return new_table(title)


def summary_table(r: PressureReport) -> Table:
    p = r.prediction
    holds = p.lru.holds()
    t = _table("What the kernel would take (model: memtype.model.pressure)")
    t.add_column("kind", no_wrap=True, min_width=10)
    t.add_column("taken", justify="right", no_wrap=True, min_width=7)
    t.add_column("of", justify="right", no_wrap=True, min_width=7)
    t.add_column(" how", overflow="ellipsis", no_wrap=True, ratio=1)
    if r.cgroup is None:
        t.add_row("free", size(p.from_free), size(r.free), " free memory above the high watermarks")
    for kind in KINDS:
        how = _HOW[kind]
        if kind == "file" and p.writeback:
            how += f", {size(p.writeback)} of it dirty: written back first"
        t.add_row(kind, size(p.taken[kind]), size(holds[kind]), " " + how)
    if p.short:
        t.add_row("short", size(p.short), "", " cannot be found: OOM killer (v1 limit cut: EBUSY)", style="bold")
    t.add_section()
    t.add_row("need", size(p.need), "", "", style="bold")
    never = p.lru.unevictable + (0 if p.swap_room else p.lru.anon)
    t.add_row(Text("never", style="dim"), "", Text(size(never), style="dim"),
              Text(" unevictable" + ("" if p.swap_room else " + anon and shmem (no swap room)"), style="dim"))
    return t


def holders_table(title: str, h: Holders) -> Table | None:
    rows = [(kind, who, held, got) for kind in KINDS for who, held, got in h.get(kind, []) if got]
    if not rows:
        return None
    t = _table(title)
    t.add_column("kind", no_wrap=True, min_width=10)
    t.add_column("taken", justify="right", no_wrap=True, min_width=7)
    t.add_column("holds", justify="right", no_wrap=True, min_width=7)
    t.add_column(" from", overflow="ellipsis", no_wrap=True, ratio=1)
    for kind, who, held, got in rows:
        t.add_row(kind, size(got), size(held), Text(" " + who))
    return t


def render(r: PressureReport, host: HostInfo) -> RenderableType:
    p = r.prediction
    where = f"in cgroup {r.cgroup.path}" if r.cgroup else "machine-wide"
    swap = (f"swap room {size(p.swap_room)}" if p.swap_room else "no swap room")
    head = Text(f"memtype pressure · need {size(p.need)} {where} · swappiness {p.swappiness} · {swap}",
                style="bold", no_wrap=True, overflow="ellipsis")
    verdict = (f"Would swap: yes, {size(p.swap)}." if p.swap else "Would swap: no.")
    order = "; then ".join(f"{phase} {size(n)}" for phase, n in p.steps) or "nothing to reclaim"
    if not p.steps and p.from_free >= p.need:
        order = "free memory covers it, nothing is reclaimed"
    parts: list[RenderableType] = [head, summary_table(r), Text(verdict, style="bold"),
                                   Text(f"Order: {order}. Page-cache folios: {p.file_folio:.1f} pages.", style="dim")]
    for title, h in (("From cgroups, in proportion to what they hold", r.cgroups),
                     ("From processes (resident bytes), in proportion to what they hold", r.processes)):
        table = holders_table(title, h)
        if table is not None:
            parts.append(table)
    parts.extend(Text(n, style="dim") for n in r.notes)
    parts.append(Text(UNITS_NOTE, style="dim"))
    return Group(*parts)
