"""GPU memory for people and programs (``system``'s GPU section): ``gpu_document`` (JSON) and
``gpu_tables`` (rich). Per device: total, used, free, BAR1 and how used splits into the processes'
VRAM and the unattributed rest (a remainder row, so the rows add up to used); per process its VRAM
and, for DRM drivers, the host RAM the GPU holds for it (GTT/system regions)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from memtype.model.gpu import GpuDevice, GpuUse, GpuView
from memtype.model.gpu_host import HostSide
from memtype.output.console import new_table
from memtype.output.human import size

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

_DEVICE = GpuDevice.__slots__
_USE = ("device", "pid", "container_pid", "vram", "system", "types", "regions", "shared_with")


def gpu_document(view: GpuView | None, sides: dict[int, HostSide] | None = None) -> dict[str, Any] | None:
    """``{"devices": [...], "processes": [...], "outside": [...], "meminfo": {...}, "problems": [...]}``:
    sizes in bytes, ``null`` where not reported (NVML's N/A is null, never 0). A process's ``host`` is
    its NVIDIA host side (``model.gpu_host``: driver pages, likely-pinned and managed memory)."""
    if view is None:
        return None
    got = sides or {}
    return {"devices": [{k: getattr(d, k) for k in _DEVICE} for d in view.devices],
            "processes": [_use(u, got.get(u.pid)) for u in view.uses],
            "outside": [{"device": d, "host_pid": pid, "vram": b} for d, pid, b in view.outside],
            "meminfo": {"GPUActive": view.gpu_active, "GPUReclaim": view.gpu_reclaim},
            "problems": list(view.problems)}


def _use(u: GpuUse, side: HostSide | None) -> dict[str, Any]:
    item = {k: getattr(u, k) for k in _USE}
    item["shared_with"] = list(u.shared_with)
    item["host"] = None if side is None else side.as_dict()
    return item


def gpu_tables(view: GpuView, names: dict[int, str] | None = None,
               sides: dict[int, HostSide] | None = None) -> RenderableType:
    """The devices table, then the processes table (``names``: PID -> process name)."""
    parts: list[RenderableType] = [devices_table(view)]
    if view.uses or view.outside:
        parts.append(processes_table(view, names or {}, sides or {}))
        if any(s.pinned_likely for s in (sides or {}).values()):
            parts.append(Text("pinned?: MAP_SHARED anonymous memory (/dev/zero (deleted)) of a process holding "
                              "/dev/nvidiactl, counted as shared: how CUDA pinned host memory appears; /proc shows "
                              "no pin count, so likely, not certain", style="dim"))
    if view.gpu_active is not None or view.gpu_reclaim is not None:
        parts.append(Text(f"meminfo: GPUActive {size(view.gpu_active)} (system pages held by GPU drivers' "
                          f"buffers), GPUReclaim {size(view.gpu_reclaim)} (their reclaimable pools)"))
    return Group(*parts)


def devices_table(view: GpuView) -> Table:
    t = new_table("GPU memory per device (not in MemTotal: beside it, not part of it)")
    for head, right in (("device", False), ("name", False), ("total", True), ("used", True), ("free", True),
                        ("processes", True), ("rest", True), ("BAR1 used", True), ("of BAR1", True)):
        t.add_column(head, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")
    for d in view.devices:
        label = ("  " if d.parent else "") + d.id
        t.add_row(label, d.name or "", size(d.total), size(d.used), size(d.free), size(d.attributed),
                  size(d.unattributed), size(d.bar1_used), size(d.bar1_total))
    return t


def processes_table(view: GpuView, names: dict[int, str], sides: dict[int, HostSide]) -> Table:
    t = new_table("GPU memory per process (VRAM; sys: host RAM a DRM GPU holds for it; host side from smaps)")
    for head, right in (("PID", True), ("ctr PID", True), ("name", False), ("device", False), ("type", False),
                        ("VRAM", True), ("sys", True), ("driver", True), ("pinned?", True), ("UVM host", True)):
        t.add_column(head, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")
    for u in view.uses:
        side = sides.get(u.pid)
        host = ("", "", "") if side is None else (size(side.driver), size(side.pinned_likely),
                                                   size(side.uvm_resident))
        t.add_row(str(u.pid), "" if u.container_pid is None else str(u.container_pid), names.get(u.pid, ""),
                  u.device, u.types, size(u.vram), "" if u.regions is None else size(u.system), *host)
    for device, pid, vram in view.outside:
        t.add_row(str(pid), "", "(another PID namespace)", device, "", size(vram), "", "", "", "")
    return t
