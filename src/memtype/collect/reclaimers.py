"""One read of what ``memtype reclaim`` compares: /proc/vmstat, the memory PSI, the DAMON tree and,
with a cgroup, its memory.stat (and v1 memory.failcnt, v2 memory.events, memory.pressure).

``reclaim_report`` takes one read (a capture: since boot only) or two ``interval`` seconds apart (this
machine), and builds ``model.reclaimers`` records of both: totals from the second read, deltas between.
"""

from __future__ import annotations

import time

from memtype.collect.cgroups import CgroupFiles
from memtype.collect.damon import read_damon, refresh_damon
from memtype.collect.scan import host_info
from memtype.errors import MemtypeError
from memtype.model.damon import DamonState, damon_state
from memtype.model.reclaimers import (ReclaimReport, cgroup_counters, cgroup_reclaim, counter_delta, damon_reclaim,
                                      machine_reclaim)
from memtype.parse.cgroupfiles import parse_pressure
from memtype.parse.procfiles import parse_vmstat
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


class ReclaimRead:
    """What one read found (``None``: not there or unreadable)."""

    __slots__ = ("at", "vmstat", "pressure", "damon", "cgroup", "cgroup_swap", "cgroup_pressure")

    def __init__(self, at: float, vmstat: dict[str, int] | None, pressure: dict[str, dict[str, float]] | None,
                 damon: DamonState | None, cgroup: dict[str, int] | None, cgroup_swap: int | None,
                 cgroup_pressure: dict[str, dict[str, float]] | None) -> None:
        self.at, self.vmstat, self.pressure, self.damon = at, vmstat, pressure, damon
        self.cgroup, self.cgroup_swap, self.cgroup_pressure = cgroup, cgroup_swap, cgroup_pressure


def _psi(root: Root, rel: str) -> dict[str, dict[str, float]] | None:
    try:
        got = parse_pressure(root.read_text(rel)).as_dict()
    except (MemtypeError, ValueError):
        return None
    return {k: v for k, v in got.items() if v is not None}


def read_once(root: Root, files: CgroupFiles | None, cgroup: str | None, *, refresh: bool,
              notes: list[str]) -> ReclaimRead:
    """One read (module docstring); ``refresh``: ask the kdamonds for fresh stats first (live, root)."""
    if refresh:
        notes.extend(p for p in refresh_damon(root) if p not in notes)
    at = time.monotonic()
    try:
        vmstat: dict[str, int] | None = parse_vmstat(root.read_text("proc/vmstat"))
    except (MemtypeError, ValueError):
        vmstat = None
    pressure = _psi(root, "proc/pressure/memory")
    damon = damon_state(read_damon(root), refreshed=refresh)
    counters = swap = cg_psi = None
    if files is not None and cgroup is not None:
        counters, swap, cg_psi = _cgroup(files, cgroup)
    return ReclaimRead(at, vmstat, pressure, damon, counters, swap, cg_psi)


def _cgroup(files: CgroupFiles, path: str) -> tuple[dict[str, int], int | None, dict[str, dict[str, float]] | None]:
    try:
        stat = files.stat(path)
    except MemtypeError as exc:
        raise MemtypeError(f"cannot read memory.stat of cgroup {path}: {exc}") from None
    if files.version == 1:
        failcnt = files.number(path, "memory.failcnt")
        return (cgroup_counters(1, stat, failcnt=failcnt), stat.get("total_swap"), None)
    events = files.keyed(path, "memory.events")
    return (cgroup_counters(2, stat, events=events), files.number(path, "memory.swap.current"),
            _psi(files.root, f"{files.rel(path)}/memory.pressure"))


def reclaim_report(root: Root, *, interval: float | None, cgroup: str | None = None, refresh: bool = False,
                   sleep: Any = time.sleep) -> ReclaimReport:
    """Since boot and, with ``interval`` (live only), over that many seconds.

    Raises:
        MemtypeError: the cgroup is not there, or --damon-refresh on a capture.
    """
    host = host_info(root)
    notes: list[str] = []
    files = None
    if cgroup is not None:
        files = CgroupFiles(root, page_size=host.page_size)
        cgroup = "/" + cgroup.strip("/") if cgroup.strip("/") else "/"
        if not files.exists(cgroup):
            raise MemtypeError(f"no memory cgroup {cgroup} (in the cgroup v{files.version} memory hierarchy "
                               f"at /{files.hierarchy.rel})")
    first = read_once(root, files, cgroup, refresh=refresh, notes=notes)
    second = None
    if interval is not None and root.live:
        sleep(interval)
        second = read_once(root, files, cgroup, refresh=refresh, notes=notes)
    last = second or first
    page = host.page_size
    total = machine_reclaim(last.vmstat, pressure=last.pressure, damon=damon_reclaim(last.damon, page))
    between = None
    if second is not None:
        seconds = second.at - first.at
        between = machine_reclaim(counter_delta(first.vmstat, second.vmstat), seconds=seconds,
                                  pressure=second.pressure, damon=damon_reclaim(second.damon, page, first.damon))
    cg_total = cg_between = None
    if files is not None and cgroup is not None:
        cg_total = cgroup_reclaim(cgroup, files.version, last.cgroup, swap_bytes=last.cgroup_swap,
                                  pressure=last.cgroup_pressure)
        if second is not None:
            cg_between = cgroup_reclaim(cgroup, files.version, counter_delta(first.cgroup, second.cgroup),
                                        seconds=second.at - first.at, swap_bytes=second.cgroup_swap,
                                        pressure=second.cgroup_pressure)
    return ReclaimReport(host, total, between, cg_total, cg_between, last.damon, notes)
