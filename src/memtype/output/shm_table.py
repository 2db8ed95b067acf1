"""``memtype shm`` for people: the objects by resident bytes, who holds them, and the rows that add up
to meminfo Shmem (JSON and CSV come from the field registry: ``output/shm_json.py``)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.records import HostInfo
from memtype.model.shm import ShmAccount, ShmObject, describe
from memtype.output.console import new_table
from memtype.output.human import UNITS_NOTE, size

_KIND = {"sysv": "SysV", "posix": "POSIX", "tmpfs": "tmpfs", "memfd": "memfd", "shared_anon": "shared anon",
         "deleted": "deleted"}


label = describe


def state(o: ShmObject) -> str:
    """Flags: orphaned (nobody holds it), named, removed (SysV IPC_RMID pending)."""
    flags = []
    if o.orphaned:
        flags.append("ORPHANED")
    if o.marked_removed:
        flags.append("removed")
    flags.append("named" if o.named else "unnamed")
    return ",".join(flags)


def _holders_text(o: ShmObject, room: int = 3) -> str:
    if not o.holders:
        return f"{o.attached_unseen} attached (unseen)" if o.attached_unseen else "nobody"
    seen: dict[int, tuple[str | None, list[str]]] = {}
    for h in o.holders:
        seen.setdefault(h.pid, (h.comm, []))[1].append(h.how)
    parts = [f"{pid} {comm or '?'} ({'+'.join(hows)})" for pid, (comm, hows) in list(seen.items())[:room]]
    more = len(seen) - room
    text = ", ".join(parts) + (f" +{more}" if more > 0 else "")
    return text + (f" +{o.attached_unseen} unseen" if o.attached_unseen else "")


def objects_table(a: ShmAccount, shown: list[ShmObject]) -> Table:
    t = new_table(f"{len(shown)} of {len(a.objects)} shared-memory objects, by resident (each counted once)")
    for head in ("Resident", "Swapped", "Size"):
        t.add_column(head, justify="right", no_wrap=True, min_width=7)
    t.add_column("Kind", no_wrap=True)
    t.add_column("State", no_wrap=True, overflow="ellipsis", max_width=22)
    t.add_column(" object", overflow="ellipsis", no_wrap=True, ratio=2, min_width=16)
    t.add_column(" held by", overflow="ellipsis", no_wrap=True, ratio=2, min_width=10)
    for o in shown:
        style = "bold red" if o.orphaned else None
        t.add_row(size(o.resident), size(o.swapped), size(o.size), _KIND.get(o.kind, o.kind),
                  Text(state(o), style=style or ""), Text(" " + label(o)), Text(" " + _holders_text(o)))
    return t


def holders_table(shown: list[ShmObject]) -> Table | None:
    """One row per holder of each object shown (``--holders``)."""
    if not any(o.holders for o in shown):
        return None
    t = new_table("Holders: who keeps each object alive")
    t.add_column(" object", overflow="ellipsis", no_wrap=True, ratio=2, min_width=16)
    t.add_column("PID", justify="right", no_wrap=True)
    t.add_column("Name", overflow="ellipsis", no_wrap=True, max_width=16)
    t.add_column("How", no_wrap=True)
    t.add_column("Rss", justify="right", no_wrap=True, min_width=7)
    t.add_column(" cgroup", overflow="ellipsis", no_wrap=True, ratio=1, min_width=8)
    for o in shown:
        first = True
        for h in o.holders:
            t.add_row(Text(" " + label(o) if first else ""), str(h.pid), Text(h.comm or "?"), h.how, size(h.rss),
                      Text(" " + (h.cgroup or "?")))
            first = False
    return t


def reconcile_table(a: ShmAccount) -> Table:
    t = new_table("Where meminfo Shmem is: the rows add up to it")
    t.add_column("part", no_wrap=True, min_width=14)
    t.add_column("size", justify="right", no_wrap=True, min_width=7)
    t.add_column("objects", justify="right", no_wrap=True)
    t.add_column(" what it is", overflow="ellipsis", no_wrap=True, ratio=1)
    for r in a.rows:
        t.add_row(r.what, size(r.bytes), "" if r.objects is None else str(r.objects), Text(" " + r.why))
    t.add_section()
    t.add_row("Shmem", size(a.shmem), str(len(a.objects)), " meminfo Shmem", style="bold")
    return t


def render(host: HostInfo, a: ShmAccount, shown: list[ShmObject], *, holders: bool = False) -> RenderableType:
    head = Text(" · ".join(["memtype shm"] + ([host.hostname] if host.hostname else [])
                           + [f"Linux {host.kernel or '?'}", "live" if host.live else f"capture {host.root}"]),
                style="bold", no_wrap=True, overflow="ellipsis")
    parts: list[RenderableType] = [head]
    if shown:
        parts.append(objects_table(a, shown))
    else:
        parts.append(Text("No shared-memory object found."))
    orphans = a.orphaned()
    if orphans:
        parts.append(Text(f"{len(orphans)} orphaned object(s) hold {size(sum(o.resident or 0 for o in orphans))}"
                          " that no process maps or holds: only removing the file (rm) or the segment "
                          "(ipcrm -m SHMID) frees it.", style="dim"))
    if holders:
        table = holders_table(shown)
        if table is not None:
            parts.append(table)
    parts.append(reconcile_table(a))
    parts.append(Text(UNITS_NOTE, style="dim"))
    return Group(*parts)
