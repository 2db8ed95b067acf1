"""``memtype shm --format json``: the envelope around the objects (each with its holders nested), and the
reconciliation rows that add up to ``shmem`` (meminfo Shmem)."""

from __future__ import annotations

from memtype.model.fields_shm import SHM, SHM_HOLDER, SHM_OBJECT, SHM_ROW
from memtype.model.records import HostInfo
from memtype.model.shm import ShmAccount, ShmObject
from memtype.output.json import envelope, record, records

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


def shm_document(host: HostInfo, a: ShmAccount, objects: list[ShmObject], warnings: list[str]) -> dict[str, Any]:
    """``objects``: the ones to list (``--top``); the reconciliation always covers every object."""
    items = records(SHM_OBJECT, objects)
    for item, o in zip(items, objects):
        item["holders"] = records(SHM_HOLDER, o.holders)
    summary = {"processes": a.processes, "kernel_threads": None, "skipped": dict(a.skipped),
               "objects": len(a.objects), "orphaned": len(a.orphaned())}
    return envelope(host, summary, warnings, notes=list(a.notes), **record(SHM, a), objects=items,
                    reconciliation=records(SHM_ROW, a.rows))
