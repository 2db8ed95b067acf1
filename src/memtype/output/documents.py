"""The JSON documents of the overview, ``system``, ``cgroups``, ``swap`` and ``pressure`` (``memtype/2``;
``pressure --swappiness`` and ``--sweep`` too):
the one envelope of ``output/json.py`` around their records, each made from its field registry.

``ps`` and ``maps`` build theirs with ``json.scan_document`` directly; ``files`` streams its own
(``output/files_json.py``) inside the same envelope.
"""

from __future__ import annotations

from collections.abc import Sequence

from memtype.model.cgroups import CgroupMemory, CgroupTree
from memtype.model.fields_cgroups import CGROUP
from memtype.model.fields_process import PROCESS
from memtype.model.fields_machine import MACHINE, RECONCILE, SYSTEM
from memtype.model.fields_pressure import CGROUP_SWAPPINESS, HOLDER, PRESSURE, SWEEP_POINT
from memtype.model.fields_swap import SHMEM_OBJECT, SWAP, SWAP_DEVICE, SWAP_PROCESS, SWAPPED_MAPPING, ZRAM
from memtype.model.machine import MachineMemory, SystemMemory
from memtype.model.pressure import PressureReport, holders
from memtype.model.records import HostInfo, ProcessMemory, Scan
from memtype.model.swap import SwapReport
from memtype.model.swappiness import SwappinessView, Sweep, SweepPoint, difference
from memtype.output.human import size
from memtype.output.json import envelope, record, records, scan_document, scan_summary

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

MODEL = "classic-lru/1"  # the documented model of memtype.model.pressure; bumped when it changes


def overview_document(scan: Scan, mm: MachineMemory, shown: Sequence[ProcessMemory]) -> dict[str, Any]:
    """``memtype --format json``: the machine's rows (meminfo; they add up to ``total``) and the top
    processes by PSS (the ``ps`` records)."""
    return scan_document(scan, machine=record(MACHINE, mm),
                         processes=records(PROCESS, shown, absent=scan.host.smaps_absent))


def system_document(sm: SystemMemory) -> dict[str, Any]:
    """``memtype system --format json``: the rows (null where the mode cannot know them: cow and device
    from meminfo), sub-rows, swap, reclaim classes, the reconciliation and the page scan."""
    scan = sm.processes
    body = record(SYSTEM, sm)
    if sm.census is None:
        body["scan"] = None
    else:
        body["scan"]["buckets"] = {k: v * sm.host.page_size for k, v in sm.census.pages.items()}
    body["reconcile"] = None if sm.reconcile is None else records(RECONCILE, sm.reconcile)
    body["processes"] = None if scan is None else {  # memtype/1's name for the summary's counts
        "count": len(scan.processes), "kernel_threads": scan.kernel_threads, "skipped": scan.skip_counts()}
    return envelope(sm.host, scan_summary(scan), scan.warnings if scan is not None else [], notes=sm.notes, **body)


def cgroups_document(tree: CgroupTree, rows: Sequence[CgroupMemory], scan: Scan, *, members: bool,
                     notes: Sequence[str], freed: bool = False) -> dict[str, Any]:
    """``memtype cgroups --format json``: the hierarchy and one item per cgroup (``rows``, in order);
    ``freed``: with what killing each cgroup's processes frees (``cgroups --freed``)."""
    options = {"v1"} if tree.hierarchy.version == 1 else set()
    if members:
        options.add("processes")
    if freed:
        options.add("freed")
    items = records(CGROUP, rows, options=options)
    for item, cg in zip(items, rows):
        if cg.self_categories is None:
            item.pop("self_categories", None)
    doc = scan_document(scan, notes=notes, hierarchy=tree.hierarchy.as_dict(), cgroups=items)
    doc["summary"].update(cgroups=len(tree.cgroups), cgroups_gone=tree.gone)
    return doc


def swap_document(r: SwapReport, in_force: SwappinessView | None = None) -> dict[str, Any]:
    """``memtype swap --format json``: the setup, the attribution (adds up to ``used``), who is in swap, and
    ``swappiness_in_force`` (``swappiness_section``; null where not read)."""
    absent = r.scan.host.smaps_absent
    i = r.info
    return scan_document(
        r.scan, **record(SWAP, r), devices=records(SWAP_DEVICE, i.devices), zram=records(ZRAM, i.zram),
        processes=records(SWAP_PROCESS, r.processes(), absent=absent), objects=records(SHMEM_OBJECT, r.objects),
        mappings=records(SWAPPED_MAPPING, r.mappings[: r.top], absent=absent),
        swappiness_in_force=swappiness_section(in_force) if in_force is not None else None)


def pressure_document(r: PressureReport, host: HostInfo, scan: Scan | None) -> dict[str, Any]:
    """``memtype pressure --format json``: the target, the lists, the prediction (``from_free`` +
    ``predicted`` + ``short`` = ``need``) and, per kind, the holders it is taken from."""
    body = record(PRESSURE, r)
    found: dict[str, dict[str, list[dict[str, Any]]]] = {"cgroups": {}, "processes": {}}
    for item in records(HOLDER, holders(r)):  # grouped as memtype/1 had them: from.SOURCE.KIND = [{who, ...}]
        source, kind = item.pop("source"), item.pop("kind")
        found[source].setdefault(kind, []).append(item)
    return envelope(host, scan_summary(scan), scan.warnings if scan is not None else [], notes=r.notes,
                    model=MODEL, **body, **{"from": found})


def what_if_document(r: PressureReport, now: SweepPoint, host: HostInfo, scan: Scan | None) -> dict[str, Any]:
    """``pressure --swappiness N --format json``: the pressure document at N (``target.swappiness`` is N), and
    ``what_if``: the value in force, its prediction, and ``difference`` (N's minus now's, per kind)."""
    doc = pressure_document(r, host, scan)
    doc["what_if"] = {"swappiness": r.prediction.swappiness, "current_swappiness": now.swappiness,
                      "current": record(SWEEP_POINT, now), "difference": difference(now.prediction, r.prediction)}
    return doc


def sweep_document(s: Sweep, host: HostInfo) -> dict[str, Any]:
    """``pressure --sweep --format json``: the target, one record per swappiness (ascending; ``current``
    marks the value in force) and the verdict sentence."""
    target = {"cgroup": s.cgroup, "version": s.version, "need": s.need, "swap_room": s.swap_room,
              "swappiness": s.current.swappiness}
    return envelope(host, scan_summary(None), [], notes=s.notes, model=MODEL, target=target,
                    sweep=records(SWEEP_POINT, s.points), verdict=s.verdict(size))


def swappiness_section(v: SwappinessView) -> dict[str, Any]:
    """``memtype swap``'s ``swappiness`` object: the machine's value, the v1 cgroups that differ, what 0 means."""
    return {"machine": v.machine, "cgroup_version": v.version, "per_cgroup": v.per_cgroup,
            "cgroups": records(CGROUP_SWAPPINESS, v.cgroups), "zero_means": v.zero, "mglru": v.mglru}
