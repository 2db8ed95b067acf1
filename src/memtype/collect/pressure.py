"""Inputs of the what-if model (``memtype.model.pressure``) from a Root, and its answer with "from whom"
(``PressureReport``).

Machine: /proc/meminfo (LRU lists, MemFree), /proc/zoneinfo (high watermarks), vm.swappiness,
/proc/swaps. Cgroup: its memory.stat (v1 hierarchical ``total_*``; v2), limit and usage, v1
``memory.swappiness``, v2 ``memory.swap.max``; its child cgroups and its processes as holders.
``read_inputs`` reads all that once; ``pressure`` predicts at the swappiness in force or at another one
(``--swappiness``), ``swappiness_sweep`` at several (``--sweep``).
"""

from __future__ import annotations

from memtype.collect.cgroups import CgroupFiles
from memtype.collect.scan import host_info
from memtype.collect.swapinfo import read_devices, read_swappiness
from memtype.collect.swappiness import read_mglru, read_swappiness_view
from memtype.errors import MemtypeError, PressureError
from memtype.kinds import Kind
from memtype.model.pressure import (CgroupState, LruSizes, Prediction, PressureReport, lru_from_meminfo,
                                    lru_from_memory_stat, predict, share)
from memtype.model.swappiness import Sweep, mglru_note, sweep, what_if_note
from memtype.parse.procfiles import parse_meminfo
from memtype.parse.zoneinfo import high_watermark_pages, parse_zoneinfo
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Sequence

    from memtype.model.records import HostInfo, ProcessMemory, Scan

def cgroup_files(root: Root, page_size: int | None = None) -> CgroupFiles | None:
    """The memory hierarchy's reader, as `memtype cgroups` finds it; None where there is none."""
    try:
        return CgroupFiles(root, page_size=page_size)
    except MemtypeError:
        return None


def read_cgroup(root: Root, path: str, files: CgroupFiles | None = None) -> CgroupState:
    """One cgroup by its path below the hierarchy root ("/" or "/a/b").

    Raises:
        PressureError: no memory controller, a malformed path, or no such cgroup.
    """
    files = files or cgroup_files(root)
    if files is None:
        raise PressureError("no memory cgroup controller on this machine (or in the capture)")
    if not path.startswith("/") or any(part in ("..", ".") for part in path.split("/")):
        raise PressureError(f"--cgroup {path!r}: give the path as `memtype cgroups` shows it, starting with /")
    try:
        stat = files.stat(path)
    except MemtypeError:
        raise PressureError(f"no memory cgroup {path!r} (looked for /{files.rel(path)}/memory.stat)") from None
    cg = CgroupState(path, files.version, stat)
    if files.version == 1:
        cg.usage = files.number(path, "memory.usage_in_bytes")
        found = stat.get("hierarchical_memory_limit")  # the least limit on the way up (memcg1_stat_format)
        cg.limit = files.limit(found) if found is not None else files.number(path, "memory.limit_in_bytes")
        cg.swappiness = files.number(path, "memory.swappiness")
    else:
        cg.usage = files.number(path, "memory.current")
        cg.limit = files.number(path, "memory.max")
        rooms = []
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts), 0, -1):
            up = "/" + "/".join(parts[:depth])
            swap_max, swap_cur = files.number(up, "memory.swap.max"), files.number(up, "memory.swap.current")
            if swap_max is not None:
                rooms.append(max(0, swap_max - (swap_cur or 0)))
        cg.swap_limit_room = min(rooms) if rooms else None
    return cg


def child_cgroups(files: CgroupFiles, path: str) -> list[tuple[str, dict[str, int]]]:
    """The direct children of a cgroup with their memory.stat (unreadable or removed ones left out)."""
    out = []
    for child in files.children(path):
        try:
            out.append((child, files.stat(child)))
        except MemtypeError:
            continue
    return out


def swap_free(root: Root, mi: dict[str, int]) -> int:
    """Free swap bytes: /proc/swaps, else meminfo SwapFree."""
    devices = read_devices(root)
    if devices is not None:
        return sum(max(0, d.free) for d in devices)
    return mi.get("SwapFree", 0)


def measure_file_folio(root: Root, cgroup: str | None = None) -> float | None:
    """Pages per page-cache folio, machine-wide or of one cgroup, from /proc/kpageflags (and
    /proc/kpagecgroup); None where it cannot be read (not root, no numpy, a capture)."""
    if not root.live:
        return None
    try:
        import numpy  # noqa: F401  (memtype.collect.exact.folios needs it)

        from memtype.collect.exact.folios import file_folio_pages
    except ImportError:
        return None
    inode = None
    if cgroup is not None:
        files = cgroup_files(root)
        if files is None:
            return None
        try:
            inode = root.stat(files.rel(cgroup)).st_ino  # kpagecgroup gives the memcg's inode
        except MemtypeError:
            return None
    try:
        with root.open_binary("proc/kpageflags") as flags:
            if inode is None:
                return file_folio_pages(flags)
            with root.open_binary("proc/kpagecgroup") as owners:
                return file_folio_pages(flags, owners, inode)
    except (MemtypeError, OSError):  # OSError: a read error part-way (the files are live-only)
        return None


class Inputs:
    """What the model reads once for a target; ``predict_at`` runs it at any swappiness."""

    __slots__ = ("need", "host", "lru", "swappiness", "room", "free", "cg", "file_folio", "notes", "version")

    def __init__(self, need: int, host: HostInfo, lru: LruSizes, swappiness: int, room: int, free: int | None,
                 cg: CgroupState | None, file_folio: float, notes: list[str]) -> None:
        self.need, self.host, self.lru, self.swappiness, self.room = need, host, lru, swappiness, room
        self.free, self.cg, self.file_folio, self.notes = free, cg, file_folio, notes
        self.version: int | None = cg.version if cg is not None else None  # the memory hierarchy's

    def predict_at(self, swappiness: int) -> Prediction:
        return predict(self.need, self.lru, swappiness, self.room, page_size=self.host.page_size, free=self.free,
                       cgroup=self.cg is not None, file_folio=self.file_folio)


def read_inputs(root: Root, need: int, cgroup: str | None = None, *, file_folio: float | None = None) -> Inputs:
    """The lists, the swap room, the swappiness in force and the free memory of the machine or ``cgroup``.

    Raises:
        PressureError: a bad cgroup, or a machine without meminfo's LRU lines.
        FileMissing: no proc/meminfo.
    """
    mi = parse_meminfo(root.read_text("proc/meminfo"))
    host = host_info(root)
    swappiness = read_swappiness(root)
    room = swap_free(root, mi)
    notes = [host.page_size_note] if host.page_size_note else []
    if swappiness is None:
        notes.append("vm.swappiness not found (capture without proc/sys/vm): assumed 60, the kernel default")
        swappiness = 60
    mglru = mglru_note(read_mglru(root))
    if mglru:
        notes.append(mglru)
    files = cgroup_files(root, host.page_size)
    cg = read_cgroup(root, cgroup, files) if cgroup is not None else None
    if file_folio is None:
        file_folio = measure_file_folio(root, cgroup)
        if file_folio is None:
            notes.append("page-cache folio size unknown (needs root and numpy on the live machine; or give "
                         "--file-folio): assumed 1 page, which predicts the most swapping")
            file_folio = 1.0
    free: int | None = None
    try:
        if cg is None:
            lru = lru_from_meminfo(mi)
            try:
                high = high_watermark_pages(parse_zoneinfo(root.read_text("proc/zoneinfo"))) * host.page_size
                free = max(0, mi.get("MemFree", 0) - high)
            except (MemtypeError, ValueError):
                free = mi.get("MemFree", 0)
                notes.append("no zoneinfo watermarks: all of MemFree counted as usable before reclaim")
        else:
            lru = lru_from_memory_stat(cg.stat, cg.version)
            if cg.swappiness is not None:
                swappiness = cg.swappiness
            if cg.swap_limit_room is not None:
                room = min(room, cg.swap_limit_room)
    except ValueError as exc:
        raise PressureError(f"cannot model reclaim here: {exc}") from None
    if cg is None and files is not None and files.version == 1:
        own = read_swappiness_view(root, files).cgroups
        if own:
            shown = ", ".join(f"{c.path} {c.value}" for c in own[:3]) + (f" +{len(own) - 3}" if len(own) > 3 else "")
            notes.append(f"{len(own)} v1 memory cgroups have their own memory.swappiness ({shown}): machine-wide "
                         f"reclaim balances their pages by it; the model uses {swappiness} for every page")
    out = Inputs(need, host, lru, swappiness, room, free, cg, file_folio, notes)
    out.version = files.version if files is not None else None
    return out


def pressure(root: Root, need: int, cgroup: str | None = None, *, top: int = 5,
             scan: Scan | None = None, file_folio: float | None = None, swappiness: int | None = None,
             inputs: Inputs | None = None) -> PressureReport:
    """Predict what the kernel would take for ``need`` more bytes, machine-wide or in ``cgroup``.

    Args:
        scan: the processes, for "from whom" (``memtype.scan(root, cgroup=True)``); None: no process holders.
        file_folio: pages per page-cache folio; None: measured (root, live), else 1 with a note.
        swappiness: predict as if it were this (0-200); None: the value in force for the target.
        inputs: what ``read_inputs`` read already (then ``need``, ``cgroup`` and ``file_folio`` are its).

    Raises:
        PressureError: a bad cgroup, or a machine without meminfo's LRU lines.
        FileMissing: no proc/meminfo.
    """
    got = inputs or read_inputs(root, need, cgroup, file_folio=file_folio)
    cgroup = got.cg.path if got.cg is not None else None
    pred = got.predict_at(got.swappiness if swappiness is None else swappiness)
    report = PressureReport(pred, got.cg, got.room, got.free)
    report.notes = list(got.notes)
    if swappiness is not None:
        report.notes.append(what_if_note(str(swappiness), got.cg is not None, got.version))
    _holders(root, got.host, report, got.lru, cgroup, scan, top)
    return report


def swappiness_sweep(inputs: Inputs, values: Sequence[int]) -> Sweep:
    """The prediction at each of ``values`` and at the swappiness in force (``memtype.model.swappiness``)."""
    cg = inputs.cg
    points = sweep(inputs.predict_at, values, inputs.swappiness)
    out = Sweep(inputs.need, cg.path if cg is not None else None, inputs.version, inputs.room, points)
    out.notes = list(inputs.notes) + [what_if_note("each value", cg is not None, inputs.version)]
    return out


def _holders(root: Root, host: HostInfo, report: PressureReport, lru: LruSizes, cgroup: str | None,
             scan: Scan | None, top: int) -> None:
    pred = report.prediction
    pool = lru.holds()
    files = cgroup_files(root, host.page_size)
    if files is not None:
        kids: list[tuple[str, dict[str, int]]] = []
        for path, stat in child_cgroups(files, cgroup or "/"):
            try:
                kids.append((path, lru_from_memory_stat(stat, files.version).holds()))
            except ValueError:
                continue
        for kind in pred.taken:
            if kids:
                report.cgroups[kind] = share(pred.taken[kind], pool[kind], [(p, h[kind]) for p, h in kids], top,
                                             rest=f"{cgroup or '/'} itself (not in a child)")
    if scan is None:
        return
    procs = [p for p in scan.processes if cgroup is None or _inside(p.cgroup, cgroup)]
    for kind in pred.taken:
        held = [(f"{p.pid} {p.comm}", _process_holds(p, kind)) for p in procs]
        report.processes[kind] = share(pred.taken[kind], pool[kind], held, top, rest="(not mapped by a process)")


def _inside(path: str | None, cgroup: str) -> bool:
    if path is None:
        return False
    base = cgroup.rstrip("/")
    return path == cgroup or path.startswith(base + "/") or base == ""


def _process_holds(p: ProcessMemory, kind: str) -> int:
    c = p.categories
    if kind == "file":
        return c[Kind.FILE].rss
    if kind == "shared":
        return c[Kind.SHARED].rss
    return c[Kind.ANONYMOUS].rss + c[Kind.COW].rss
