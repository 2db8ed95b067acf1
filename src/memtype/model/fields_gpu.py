"""Fields of a GPU device (``model.gpu.GpuDevice``): ``system``'s GPU section and the exporter's
``memtype_gpu_device_*`` metrics, labelled by the bounded device id (``nvidia0``, ``nvidia0/gi1/ci0``,
``amdgpu@0000:03:00.0``) and its UUID. A size NVML does not report (BAR1 on some boards, a MIG
instance's figures, any DRM device's total) is null and has no series, never 0.
"""

from __future__ import annotations

from memtype.model.fields import Registry, gauge, info, label
from memtype.model.gpu import GpuDevice

GPU_DEVICE = Registry("gpu_device", "one GPU or MIG instance (NVML; DRM devices: what fdinfo attributes)", [
    label("device", "Device", "device id: nvidia<index>, nvidia<index>/gi<G>/ci<C> (MIG), <driver>@<pci slot>",
          lambda d: d.id, attr="id", default=True),
    label("uuid", "UUID", "NVML's UUID (GPU-..., MIG-...); empty where unknown", lambda d: d.uuid or ""),
    info("index", "Index", "NVML's device index (MIG: the instance's slot)", lambda d: d.index),
    info("name", "Name", "the product name NVML gives; DRM: the driver", lambda d: d.name, default=True),
    info("source", "Source", "nvml or drm (fdinfo)", lambda d: d.source),
    info("pci", "PCI", "PCI bus id", lambda d: d.pci),
    info("parent", "Parent", "a MIG instance's GPU", lambda d: d.parent),
    info("mig_mode", "MIG", "MIG mode enabled (nvmlDeviceGetMigMode current)", lambda d: d.mig_mode),
    gauge("total", "Total", "device memory (nvmlDeviceGetMemoryInfo total)", lambda d: d.total, default=True),
    gauge("used", "Used", "device memory in use (NVML used; v2: without the driver's reserve)", lambda d: d.used,
          default=True),
    gauge("free", "Free", "device memory free (NVML free)", lambda d: d.free, default=True),
    gauge("reserved", "Reserved", "the driver's reserve (nvmlMemory_v2 reserved)", lambda d: d.reserved),
    gauge("bar1_total", "BAR1", "BAR1 aperture size (nvmlDeviceGetBAR1MemoryInfo)", lambda d: d.bar1_total,
          default=True),
    gauge("bar1_used", "BAR1 used", "BAR1 in use", lambda d: d.bar1_used, default=True),
    gauge("attributed", "Processes", "the processes' VRAM on it (null where one's is not available)",
          lambda d: d.attributed, default=True),
    gauge("unattributed", "Rest", "used minus the processes' VRAM: driver, other PID namespaces' contexts",
          lambda d: d.unattributed, default=True),
], labels=("device", "uuid"), exclude={})

REGISTRIES = (GPU_DEVICE,)
COVERS = ((GPU_DEVICE, GpuDevice),)
