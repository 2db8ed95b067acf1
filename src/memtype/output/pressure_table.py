"""``memtype pressure`` for people: rich tables (JSON and CSV come from the field registry); with
``--swappiness`` the prediction beside the one at the value in force, with ``--sweep`` one row per value."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.pressure import KINDS, Holders, Prediction, PressureReport
from memtype.model.swappiness import Sweep, difference
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


# -- what if swappiness were N (--swappiness), and the sweep (--sweep) ------------------------------

_SHORT_PHASE = (("page cache first", "cache trim"), ("balanced", "balanced"), ("anon and page cache", "equal"),
                ("anon and shmem", "anon only"), ("page cache only", "file only"))


def _phase(name: str) -> str:
    return next((short for head, short in _SHORT_PHASE if name.startswith(head)), name)


def _order(p: Prediction) -> str:
    if not p.steps:
        return "free memory" if p.from_free >= p.need else "nothing"
    return " > ".join(_phase(phase) for phase, _ in p.steps)


def _signed(n: int) -> str:
    return ("+" if n > 0 else "") + size(n)


def _where(r: PressureReport) -> str:
    return f"in cgroup {r.cgroup.path}" if r.cgroup else "machine-wide"


def _verdict(p: Prediction) -> str:
    return f"yes, {size(p.swap)}" if p.swap else "no"


def what_if_table(r: PressureReport, now: Prediction) -> Table:
    then = r.prediction
    t = _table(f"What the kernel would take at swappiness {now.swappiness} (now) and at {then.swappiness}")
    t.add_column("kind", no_wrap=True, min_width=10)
    t.add_column("now", justify="right", no_wrap=True, min_width=7)
    t.add_column(f"at {then.swappiness}", justify="right", no_wrap=True, min_width=7)
    t.add_column("change", justify="right", no_wrap=True, min_width=7)
    t.add_column(" how", overflow="ellipsis", no_wrap=True, ratio=1)
    change = difference(now, then)
    if r.cgroup is None:
        t.add_row("free", size(now.from_free), size(then.from_free), _signed(then.from_free - now.from_free),
                  " free memory above the high watermarks")
    for kind in KINDS:
        t.add_row(kind, size(now.taken[kind]), size(then.taken[kind]), _signed(change[kind]), " " + _HOW[kind])
    if now.short or then.short:
        t.add_row("short", size(now.short), size(then.short), _signed(change["short"]),
                  " cannot be found: OOM killer (v1 limit cut: EBUSY)", style="bold")
    t.add_section()
    t.add_row("need", size(then.need), size(then.need), "", "", style="bold")
    t.add_row("swap", size(now.swap), size(then.swap), _signed(change["swap"]), " anonymous + shared", style="bold")
    return t


def render_what_if(r: PressureReport, now: Prediction) -> RenderableType:
    """``pressure --swappiness N``: the prediction at N beside the one at the value in force."""
    p = r.prediction
    swap = f"swap room {size(p.swap_room)}" if p.swap_room else "no swap room"
    head = Text(f"memtype pressure · need {size(p.need)} {_where(r)} · swappiness {p.swappiness} instead of "
                f"{now.swappiness} · {swap}", style="bold", no_wrap=True, overflow="ellipsis")
    same = all(now.taken[k] == p.taken[k] for k in KINDS) and now.short == p.short
    verdict = (f"Would swap now: {_verdict(now)}; at {p.swappiness}: {_verdict(p)}."
               + (" Swappiness makes no difference to this need." if same else ""))
    parts: list[RenderableType] = [head, what_if_table(r, now), Text(verdict, style="bold"),
                                   Text(f"Order now: {_order(now)}; at {p.swappiness}: {_order(p)}. Page-cache "
                                        f"folios: {p.file_folio:.1f} pages.", style="dim")]
    for title, h in ((f"At {p.swappiness}, from cgroups, in proportion to what they hold", r.cgroups),
                     (f"At {p.swappiness}, from processes (resident bytes), in proportion to what they hold",
                      r.processes)):
        table = holders_table(title, h)
        if table is not None:
            parts.append(table)
    parts.extend(Text(n, style="dim") for n in r.notes)
    parts.append(Text(UNITS_NOTE, style="dim"))
    return Group(*parts)


def sweep_table(s: Sweep) -> Table:
    machine = s.cgroup is None
    t = _table("What the kernel would take at each swappiness (model: memtype.model.swappiness)")
    t.add_column("swappiness", justify="right", no_wrap=True)
    heads = (["free"] if machine else []) + ["file", "anon", "shmem", "swap", "short"]
    for head in heads:
        t.add_column(head, justify="right", no_wrap=True, min_width=5)
    t.add_column(" order", overflow="ellipsis", no_wrap=True, ratio=1, min_width=6)
    for point in s.points:
        p = point.prediction
        cells = ([size(p.from_free)] if machine else []) + [size(p.taken["file"]), size(p.taken["anonymous"]),
                                                           size(p.taken["shared"]), size(p.swap), size(p.short)]
        name = f"{'now ' if point.current else ''}{point.swappiness}"
        t.add_row(name, *cells, " " + _order(p), style="bold" if point.current else None)
    return t


def render_sweep(s: Sweep) -> RenderableType:
    """``pressure --sweep``: one row per swappiness, and the sentence that says where it stops mattering."""
    where = f"in cgroup {s.cgroup} (v{s.version})" if s.cgroup else "machine-wide"
    swap = f"swap room {size(s.swap_room)}" if s.swap_room else "no swap room"
    head = Text(f"memtype pressure · need {size(s.need)} {where} · swappiness sweep · {swap}", style="bold",
                no_wrap=True, overflow="ellipsis")
    folio = s.points[0].prediction.file_folio if s.points else 1.0
    parts: list[RenderableType] = [head, sweep_table(s), Text(s.verdict(size), style="bold"),
                                   Text(f"now: the value in force. Order: cache trim (page cache while the inactive "
                                        f"list is plentiful) > balanced (by swappiness and costs) > equal "
                                        f"(priority 0). Page-cache folios: {folio:.1f} pages.", style="dim")]
    parts.extend(Text(n, style="dim") for n in s.notes)
    parts.append(Text(UNITS_NOTE, style="dim"))
    return Group(*parts)
