"""GPU memory as read: ``read_gpu(root)`` -> ``GpuSample`` (NVML answers, DRM fdinfo, NSpid of GPU PIDs).

Live: NVML through nvidia-ml-py (``memtype[gpu]``) where ``/dev/nvidiactl`` exists (no NVIDIA driver,
no call: start-up stays free on other machines), DRM fdinfo where ``/dev/dri`` exists. A capture:
the ``gpu/nvml.json`` and fdinfo files ``snapshot`` kept; a capture without them has no GPU data,
which ``problems`` says (never zeros).
"""

from __future__ import annotations

import os

from memtype.collect.gpu.drm import read_drm
from memtype.collect.gpu.nvml import query_nvml, read_recorded
from memtype.errors import MemtypeError
from memtype.model.gpu_sample import GpuSample
from memtype.source.root import Root

PROC_PID_INIT_INO = 0xEFFFFFFC  # the initial PID namespace's inode (include/linux/proc_ns.h)
NVIDIA_CONTROL = "dev/nvidiactl"
NOT_RECORDED = "the capture holds no NVML answers (gpu/nvml.json)"


def read_gpu(root: Root, pids: list[int] | None = None, *, nvml: bool = True, drm: bool = True) -> GpuSample:
    """What the GPUs hold, per device and per process.

    Args:
        pids: the processes whose DRM fds to read (default: every process of the root).
        nvml, drm: read that source.
    """
    problems: list[str] = []
    doc = None
    host_pidns: bool | None = None
    if nvml:
        if root.live:
            host_pidns = in_initial_pidns()
            if os.path.exists("/" + NVIDIA_CONTROL):
                try:
                    doc = query_nvml()
                except MemtypeError as exc:
                    problems.append(f"NVML: {exc}")
        else:
            try:
                doc = read_recorded(root)
            except MemtypeError as exc:
                problems.append(str(exc))
            if doc is not None:
                recorded = doc.get("host_pidns")
                host_pidns = recorded if isinstance(recorded, bool) else None
            elif not problems:
                problems.append(NOT_RECORDED)
    fds = None
    if drm:
        fds = read_drm(root, pids)
    nspid = {}
    named = {p["pid"] for d in (doc or {}).get("devices") or () if isinstance(d, dict)
             for p in _entries(d) if isinstance(p, dict) and type(p.get("pid")) is int}
    for pid in sorted(named):
        ns = read_nspid(root, pid)
        if ns is not None:
            nspid[pid] = ns
    return GpuSample(doc, fds, nspid, host_pidns, tuple(problems))


def _entries(dev: dict[str, object]) -> list[object]:
    found: list[object] = []
    for holder in [dev, *(m for m in dev.get("mig") or () if isinstance(m, dict))]:  # type: ignore[attr-defined]
        lists = holder.get("processes") if isinstance(holder, dict) else None
        if isinstance(lists, dict):
            for entries in lists.values():
                if isinstance(entries, list):
                    found.extend(entries)
    return found


def read_nspid(root: Root, pid: int) -> tuple[int, ...] | None:
    """``NSpid`` of ``/proc/PID/status`` (this namespace's PID first, the innermost last); ``None``: no
    such process here, or a kernel before 4.1."""
    try:
        status = root.read_text(f"proc/{pid}/status", pid)
    except MemtypeError:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            try:
                return tuple(int(x) for x in line[6:].split()) or None
            except ValueError:
                return None
    return None


def in_initial_pidns() -> bool | None:
    """Whether memtype runs in the initial PID namespace (where NVML's host PIDs are its own)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino == PROC_PID_INIT_INO
    except OSError:
        return None
