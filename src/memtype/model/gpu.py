"""GPU memory beside host memory: ``gpu_view(sample)`` -> ``GpuView`` (``Model.gpu``), pure.

Two sources (landscape-next.md §4):

* NVML (``Sample.gpu.nvml``, the answers ``collect.gpu.nvml`` recorded): per device total/used/free
  and BAR1, per MIG instance, and the compute, graphics and MPS process lists. A PID in several lists
  is one process (its types "C", "G", "M" joined: "C+G", as nvitop does) holding the larger figure
  (the lists report the same allocation, not parts of it). ``usedGpuMemory`` of 2**64-1
  (NVML_VALUE_NOT_AVAILABLE: always under MIG and Windows WDDM) is ``None``, never 0.
* DRM fdinfo (``Sample.gpu.drm``, parse.drm_fdinfo): per client and region; one client is counted once
  by (``drm-client-id``, ``drm-pdev``) as drm-usage-stats.rst requires, for the lowest PID holding it
  (a fd inherited or passed keeps its client id; the other holders are ``shared_with``). Regions are
  device memory (``vram*``, ``local*``, ``stolen*``: outside MemTotal) or system memory (``gtt``,
  ``system*``, ``cpu``, ``memory``: host RAM the GPU maps, nvtop PR #492) or other (amdgpu gws, oa,
  doorbell).

PIDs: NVML reports host PIDs (nvidia-docker#1483). Read in the initial PID namespace they are this
namespace's PIDs; ``container_pid`` is the innermost ``NSpid`` (the PID a container's own ``ps`` shows).
Read inside another PID namespace, a NVML PID that names no process here is ``outside`` (not another
process's): its bytes stay in the device's unattributed remainder.

Not a sixth kind: VRAM is not in MemTotal, so it is never added to RSS or PSS. Per device, the
processes' VRAM plus ``unattributed`` (the driver's reserve, contexts of other PID namespaces, N/A
figures) is ``used``.
"""

from __future__ import annotations

from memtype.model.frozen import FrozenValue, fill
from memtype.model.gpu_host import HostSide
from memtype.model.gpu_sample import GpuSample
from memtype.model.records import ProcessMemory
from memtype.parse.drm_fdinfo import memory_regions

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

NOT_AVAILABLE = 2**64 - 1  # NVML_VALUE_NOT_AVAILABLE (unsigned long long -1), nvml.h
TYPE_LETTERS = {"compute": "C", "graphics": "G", "mps": "M"}
DEVICE_REGIONS = ("vram", "local", "stolen")  # region name prefixes of device memory (not in MemTotal)
SYSTEM_REGIONS = ("gtt", "system", "cpu", "memory")  # host RAM the GPU uses ("memory": system, per the spec)
NO_NVML_HINT = "nvidia-ml-py is not installed (pip install 'memtype[gpu]')"


class GpuDevice(FrozenValue):
    """One GPU (or MIG instance: ``parent`` is its GPU's id). Sizes in bytes, ``None``: not reported.

    ``id`` is stable and bounded (a metric label): ``nvidia0``, ``nvidia0/gi1/ci0`` (a MIG instance),
    ``amdgpu@0000:03:00.0`` (DRM: driver and PCI slot). ``attributed``: the processes' VRAM on it
    (``None`` where a process's figure is N/A); ``unattributed``: used minus attributed.
    """

    __slots__ = ("id", "index", "name", "uuid", "source", "pci", "total", "used", "free", "reserved",
                 "bar1_total", "bar1_used", "mig_mode", "parent", "attributed", "unattributed")

    id: str
    index: int | None
    name: str | None
    uuid: str | None
    source: str  # "nvml" | "drm"
    pci: str | None
    total: int | None
    used: int | None
    free: int | None
    reserved: int | None
    bar1_total: int | None
    bar1_used: int | None
    mig_mode: bool | None
    parent: str | None
    attributed: int | None
    unattributed: int | None

    def __init__(self, id: str, index: int | None, name: str | None, uuid: str | None, source: str,
                 pci: str | None = None, total: int | None = None, used: int | None = None,
                 free: int | None = None, reserved: int | None = None, bar1_total: int | None = None,
                 bar1_used: int | None = None, mig_mode: bool | None = None, parent: str | None = None,
                 attributed: int | None = None, unattributed: int | None = None) -> None:
        fill(self, id, index, name, uuid, source, pci, total, used, free, reserved, bar1_total, bar1_used,
             mig_mode, parent, attributed, unattributed)


class GpuUse(FrozenValue):
    """One process's memory on one device (bytes; ``None``: reported as not available).

    ``vram``: device memory (NVML usedGpuMemory; DRM: resident in device regions). ``system``: host RAM
    the GPU holds for it (DRM resident in gtt/system regions; NVML reports none: ``None``). ``types``:
    NVML's lists it is in ("C", "G", "M", joined by "+"); DRM: the driver. ``regions``: DRM's
    ``{region: {stat: bytes}}``. ``container_pid``: its PID in its innermost PID namespace where that is
    not this one. ``shared_with``: other PIDs holding the same DRM client.
    """

    __slots__ = ("device", "pid", "container_pid", "vram", "system", "types", "regions", "shared_with")

    device: str
    pid: int
    container_pid: int | None
    vram: int | None
    system: int | None
    types: str
    regions: dict[str, dict[str, int | None]] | None
    shared_with: tuple[int, ...]

    def __init__(self, device: str, pid: int, container_pid: int | None, vram: int | None, system: int | None,
                 types: str, regions: dict[str, dict[str, int | None]] | None = None,
                 shared_with: tuple[int, ...] = ()) -> None:
        fill(self, device, pid, container_pid, vram, system, types, regions, shared_with)


class GpuView(FrozenValue):
    """The GPUs of a sample: ``devices`` (GPUs, then their MIG instances), ``uses`` (per process and
    device), ``outside`` (NVML PIDs that are no process of this PID namespace: ``(device, host pid,
    bytes)``), ``problems`` (why something is unknown), and meminfo's ``GPUActive``/``GPUReclaim``
    (kernel 7.1+, TTM drivers; ``None`` where meminfo has no such line)."""

    __slots__ = ("devices", "uses", "outside", "problems", "gpu_active", "gpu_reclaim")

    devices: tuple[GpuDevice, ...]
    uses: tuple[GpuUse, ...]
    outside: tuple[tuple[str, int, int | None], ...]
    problems: tuple[str, ...]
    gpu_active: int | None
    gpu_reclaim: int | None

    def __init__(self, devices: tuple[GpuDevice, ...], uses: tuple[GpuUse, ...],
                 outside: tuple[tuple[str, int, int | None], ...] = (), problems: tuple[str, ...] = (),
                 gpu_active: int | None = None, gpu_reclaim: int | None = None) -> None:
        fill(self, devices, uses, outside, problems, gpu_active, gpu_reclaim)

    def of(self, pid: int) -> list[GpuUse]:
        return [u for u in self.uses if u.pid == pid]

    def by_pid(self) -> dict[int, dict[str, Any]]:
        """Per PID the ``"gpu"`` of ``ps`` JSON (``process_gpu``)."""
        pids = sorted({u.pid for u in self.uses})
        return {pid: process_gpu(self.of(pid)) for pid in pids}


def process_gpu(uses: list[GpuUse]) -> dict[str, Any]:
    """A process's GPU figures: ``{"vram": bytes, "system": bytes, "devices": {id: vram}, "types": ...}``
    (``vram``/``system`` ``None`` where a device's figure is not available or not reported)."""
    vram = _sum([u.vram for u in uses])
    drm = [u for u in uses if u.regions is not None]
    system = _sum([u.system for u in drm]) if drm else None  # NVML reports no host side
    container = next((u.container_pid for u in uses if u.container_pid is not None), None)
    return {"vram": vram, "system": system, "devices": {u.device: u.vram for u in uses},
            "types": "+".join(sorted({t for u in uses for t in u.types.split("+")}, key=_type_order)),
            "container_pid": container}


def attach_gpu(processes: list[ProcessMemory], view: GpuView | None,
               sides: dict[int, HostSide]) -> list[ProcessMemory]:
    """``processes`` with each one's ``gpu`` (``process_gpu`` plus ``"host"``: its NVIDIA host side), or
    ``None`` for one that holds no GPU memory and maps no NVIDIA device."""
    if view is None:
        return processes
    out = []
    for p in processes:
        uses = view.of(p.pid)
        side = sides.get(p.pid)
        if not uses and side is None:
            out.append(p if p.gpu is None else p.replace(gpu=None))
            continue
        doc: dict[str, Any] = process_gpu(uses) if uses else {"vram": None, "system": None, "devices": {},
                                                                 "types": None, "container_pid": None}
        doc["host"] = side.as_dict() if side is not None else None
        out.append(p.replace(gpu=doc))
    return out


def nvidia_pids(view: GpuView | None) -> list[int]:
    """The PIDs NVML lists (whose host side is worth reading)."""
    return [] if view is None else sorted({u.pid for u in view.uses if u.regions is None})


def gpu_view(gpu: GpuSample | None, meminfo: dict[str, int] | None = None,
             present: set[int] | None = None) -> GpuView | None:
    """The devices and per-process figures of ``gpu`` (``None``: not read).

    Args:
        meminfo: the sample's /proc/meminfo (for GPUActive/GPUReclaim).
        present: the PIDs of the sample's processes; outside the initial PID namespace a NVML PID not
            among them is ``outside``.
    """
    if gpu is None:
        return None
    problems = list(gpu.problems)
    devices: list[GpuDevice] = []
    uses: list[GpuUse] = []
    outside: list[tuple[str, int, int | None]] = []
    if gpu.nvml is not None:
        try:
            _nvml(gpu, present, devices, uses, outside)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"NVML answers damaged ({type(exc).__name__}: {exc}); GPU figures of NVML left out")
            devices, uses, outside = [], [], []
    if gpu.drm:
        _drm(gpu, devices, uses)
    info = meminfo or {}
    return GpuView(tuple(devices), tuple(uses), tuple(outside), tuple(problems), info.get("GPUActive"),
                   info.get("GPUReclaim"))


# -- NVML --------------------------------------------------------------------------------------------

def _nvml(gpu: GpuSample, present: set[int] | None, devices: list[GpuDevice], uses: list[GpuUse],
          outside: list[tuple[str, int, int | None]]) -> None:
    doc = gpu.nvml or {}
    for dev in doc.get("devices") or ():
        index = _opt_int(dev.get("index"))
        dev_id = f"nvidia{index}" if index is not None else f"nvidia-{dev.get('uuid')}"
        mig = [m for m in dev.get("mig") or ()]
        own = _processes(dev.get("processes"))
        instance_ids = []
        for m in mig:
            gi, ci = _opt_int(m.get("gpu_instance_id")), _opt_int(m.get("compute_instance_id"))
            instance_ids.append((f"{dev_id}/gi{gi}/ci{ci}", m, gi, ci))
        placed: list[tuple[str, int, int | None, str]] = []
        for pid, (used, types, gi, ci) in own.items():
            target = next((i for i, _, g, c in instance_ids if g == gi and (c == ci or ci is None)), dev_id) \
                if gi is not None else dev_id
            placed.append((target, pid, used, types))
        for mid, m, _, _ in instance_ids:  # the MIG device's own list: its figure where the GPU's is N/A
            for pid, (used, types, _, _) in _processes(m.get("processes")).items():
                at = next((i for i, (t, p, _, _) in enumerate(placed) if t == mid and p == pid), None)
                if at is None:
                    placed.append((mid, pid, used, types))
                elif placed[at][2] is None:
                    placed[at] = (mid, pid, used, placed[at][3])
        memory, bar1 = dev.get("memory") or {}, dev.get("bar1") or {}
        mode = dev.get("mig_mode") or {}
        attributed: dict[str, int | None] = {}
        for target, pid, used, types in placed:
            ns = gpu.nspid.get(pid)
            if gpu.host_pidns is False and present is not None and pid not in present:
                outside.append((target, pid, used))
                continue
            container = ns[-1] if ns and len(ns) > 1 else None
            uses.append(GpuUse(target, pid, container, used, None, types))
            prev = attributed.get(target, 0)
            attributed[target] = None if prev is None or used is None else prev + used
        used_total = _bytes(memory.get("used"))
        dev_attr = _sum([v for k, v in attributed.items() if k == dev_id or k.startswith(dev_id + "/")]) \
            if attributed else 0
        devices.append(GpuDevice(dev_id, index, _opt_str(dev.get("name")), _opt_str(dev.get("uuid")), "nvml",
                                 _opt_str(dev.get("pci_bus_id")), _bytes(memory.get("total")), used_total,
                                 _bytes(memory.get("free")), _bytes(memory.get("reserved")),
                                 _bytes(bar1.get("total")), _bytes(bar1.get("used")),
                                 None if mode.get("current") is None else bool(mode.get("current")), None,
                                 dev_attr, _minus(used_total, dev_attr)))
        for mid, m, _, _ in instance_ids:
            mm, mb = m.get("memory") or {}, m.get("bar1") or {}
            used_m = _bytes(mm.get("used"))
            got = attributed.get(mid, 0)
            devices.append(GpuDevice(mid, _opt_int(m.get("index")), _opt_str(m.get("name")),
                                     _opt_str(m.get("uuid")), "nvml", None, _bytes(mm.get("total")), used_m,
                                     _bytes(mm.get("free")), None, _bytes(mb.get("total")), _bytes(mb.get("used")),
                                     True, dev_id, got, _minus(used_m, got)))


def _processes(lists: Any) -> dict[int, tuple[int | None, str, int | None, int | None]]:
    """NVML's compute/graphics/mps lists by PID: (bytes or None, types, GPU instance, compute instance)."""
    found: dict[int, tuple[int | None, str, int | None, int | None]] = {}
    for name in ("compute", "graphics", "mps"):
        for entry in (lists or {}).get(name) or ():
            pid = entry["pid"]
            if type(pid) is not int or pid <= 0:
                raise ValueError(f"pid {pid!r}")
            used = _bytes(entry.get("used"))
            gi, ci = _opt_int(entry.get("gpu_instance_id")), _opt_int(entry.get("compute_instance_id"))
            letter = TYPE_LETTERS[name]
            if pid in found:
                was, types, g0, c0 = found[pid]
                both = None if was is None or used is None else max(was, used)
                found[pid] = (both, types if letter in types.split("+") else f"{types}+{letter}", g0, c0)
            else:
                found[pid] = (used, letter, gi, ci)
    return found


# -- DRM ---------------------------------------------------------------------------------------------

def region_class(region: str) -> str:
    """``device``, ``system`` or ``other`` (module docstring)."""
    name = region.rstrip("0123456789")
    if name.startswith(DEVICE_REGIONS):
        return "device"
    if name in SYSTEM_REGIONS or name.startswith("system"):
        return "system"
    return "other"


def _drm(gpu: GpuSample, devices: list[GpuDevice], uses: list[GpuUse]) -> None:
    holders: dict[tuple[str, str, str], list[int]] = {}
    first: dict[tuple[str, str, str], dict[str, str]] = {}
    for fd in sorted(gpu.drm or (), key=lambda d: (d.pid, d.fd)):
        f = fd.fields
        driver = f.get("drm-driver", "?")
        client = f.get("drm-client-id")
        key = (driver, f.get("drm-pdev", ""), client if client is not None else f"fd:{fd.pid}:{fd.fd}")
        pids = holders.setdefault(key, [])
        if fd.pid not in pids:
            pids.append(fd.pid)
        first.setdefault(key, f)
    per: dict[tuple[str, int], list[tuple[dict[str, dict[str, int | None]], tuple[int, ...]]]] = {}
    seen_devices: dict[str, tuple[str, str | None]] = {}
    for key, pids in holders.items():
        driver, pdev, _ = key
        dev_id = f"{driver}@{pdev}" if pdev else driver
        seen_devices.setdefault(dev_id, (driver, pdev or None))
        per.setdefault((dev_id, pids[0]), []).append((memory_regions(first[key]), tuple(pids[1:])))
    for (dev_id, pid), clients in sorted(per.items(), key=lambda item: (item[0][0], item[0][1])):
        regions: dict[str, dict[str, int | None]] = {}
        for client_regions, _ in clients:
            for region, stats in client_regions.items():
                into = regions.setdefault(region, {})
                for stat, value in stats.items():
                    old = into.get(stat, 0)
                    into[stat] = None if old is None or value is None else old + value
        shared = tuple(sorted({p for _, others in clients for p in others}))
        vram = _resident(regions, "device")
        system = _resident(regions, "system")
        uses.append(GpuUse(dev_id, pid, None, vram, system, "drm", regions, shared))
    for device, (name, slot) in sorted(seen_devices.items()):
        got = _sum([u.vram for u in uses if u.device == device])
        devices.append(GpuDevice(device, None, name, None, "drm", slot, attributed=got))


def _resident(regions: dict[str, dict[str, int | None]], cls: str) -> int | None:
    """Resident bytes in the regions of class ``cls``; 0 where the client has none of them (a
    region the driver prints, all 0, is 0 too); ``None`` where a figure there is not a size."""
    values = [stats.get("resident") for r, stats in regions.items() if region_class(r) == cls]
    return _sum(values) if values else 0


# -- helpers -----------------------------------------------------------------------------------------

def _bytes(value: Any) -> int | None:
    """An NVML size: ``None`` for null and for NVML_VALUE_NOT_AVAILABLE (never 0)."""
    if value is None or value == NOT_AVAILABLE:
        return None
    if type(value) is not int or value < 0:
        raise ValueError(f"not a size: {value!r}")
    return value


def _opt_int(value: Any) -> int | None:
    if value is None or value == NOT_AVAILABLE or value == 2**32 - 1:  # NVML_VALUE_NOT_AVAILABLE_uint too
        return None
    if type(value) is not int:
        raise ValueError(f"not an integer: {value!r}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _sum(values: list[int | None]) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def _type_order(letter: str) -> tuple[int, str]:
    order = {"C": 0, "G": 1, "M": 2}
    return (order.get(letter, 3), letter)
