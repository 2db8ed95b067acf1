"""The machine beside its processes (``memtype system``): per kind, the machine's figure and the Σ PSS
of every process read, and what the difference is made of. The records of ``memtype.model.machine``;
``ReconcileRow`` is re-exported there.
"""

from __future__ import annotations

from memtype.kinds import Kind

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.machine import SystemMemory
    from memtype.model.records import Scan


class ReconcileRow:
    """One kind at two levels: the machine's figure beside the sum of every process's PSS of that kind.

    ``difference`` = machine - processes (``None`` where the machine figure is unknown); ``meaning``
    names what the difference is made of.
    """

    __slots__ = ("kind", "system", "processes", "difference", "meaning")

    def __init__(self, kind: str, system: int | None, processes: int, meaning: str) -> None:
        self.kind, self.system, self.processes, self.meaning = kind, system, processes, meaning
        self.difference = None if system is None else system - processes


_MEANING = {
    "anonymous": "anon no process maps (freeing)",
    "cow": "fork/KSM by page vs smaps; file part: same",
    "shared": "shmem no process maps: tmpfs, SysV…",
    "file": "page cache no process maps",
    "device": "by flags vs by mapping class",
}
_MEANING_MEMINFO = {
    "anonymous": "anon no process maps (PSS: +anon cow)",
    "cow": "file part only (anon cow: in anonymous)",
    "device": "not in meminfo: in unaccounted",
}
ORDER = (Kind.ANONYMOUS, Kind.COW, Kind.SHARED, Kind.FILE, Kind.DEVICE)


def reconcile(sm: SystemMemory, result: Scan) -> list[ReconcileRow]:
    """Per kind: Σ PSS over processes beside the machine's figure, and what the difference is.

    PSS divides each shared page among its mappers, so over all processes it sums to the pages
    mapped: the difference is memory of that kind no (readable) process maps (``UNMAPPED_NOTE``).
    cow is one definition on both sides (module docstring): its file part is the processes' own Σ PSS,
    so the cow difference is only the anon part, counted by page flags (--exact) against smaps'
    shared counts (spec A.6).
    """
    pss = {k: sum(p.categories[k].pss for p in result.processes) for k in Kind}
    cow_file = sum(p.totals.cow_file_pss for p in result.processes)
    rows = sm.rows
    if sm.exact:
        return [ReconcileRow(k.value, rows[k.value], pss[k], _MEANING[k.value]) for k in ORDER]
    return [  # meminfo: the machine's cow row is its file part (the processes' Σ PSS of it, as here)
        ReconcileRow("anonymous", rows["anonymous"], pss[Kind.ANONYMOUS] + pss[Kind.COW] - cow_file,
                     _MEANING_MEMINFO["anonymous"]),
        ReconcileRow("cow", sm.row("cow"), cow_file, _MEANING_MEMINFO["cow"]),
        ReconcileRow("shared", rows["shared"], pss[Kind.SHARED], _MEANING["shared"]),
        ReconcileRow("file", rows["file"], pss[Kind.FILE], _MEANING["file"]),
        ReconcileRow("device", None, pss[Kind.DEVICE], _MEANING_MEMINFO["device"]),
    ]
