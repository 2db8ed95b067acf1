"""GPU memory as read (``Sample.gpu``): NVML's answers and DRM clients' fdinfo, raw (style.md rule 9).

``collect.gpu`` fills it from a Root (live: NVML through nvidia-ml-py, ``/proc/PID/fdinfo`` of DRM fds; a
capture: ``gpu/nvml.json`` and the fdinfo files ``snapshot`` kept); ``model.gpu.gpu_view`` derives the
per-device and per-process figures from it. Nothing here is interpreted: NVML's "not available"
sentinel (2**64-1) stays as NVML gave it, an fdinfo keeps its text values.

``to_dict``/``from_dict`` round-trip it (``Sample``'s ``"gpu"``; absent in older documents: ``None``).
"""

from __future__ import annotations

from memtype.model.frozen import FrozenValue, fill

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any


class DrmFd(FrozenValue):
    """One DRM fd of a process: its fdinfo's ``drm-*`` (and driver) keys with their text values."""

    __slots__ = ("pid", "fd", "fields")

    pid: int
    fd: int
    fields: dict[str, str]

    def __init__(self, pid: int, fd: int, fields: dict[str, str]) -> None:
        fill(self, pid, fd, fields)


class GpuSample(FrozenValue):
    """What was read of the GPUs.

    Attributes:
        nvml: NVML's answers (``collect.gpu.nvml``'s document: driver, devices, MIG instances, process
            lists), ``None`` where NVML was not asked or did not answer (``problems`` says why).
        drm: every DRM fd's fdinfo, ``None`` where not read (a capture without them, no /dev/dri).
        nspid: ``/proc/PID/status`` ``NSpid`` of the PIDs NVML named, as read here (outermost first:
            this PID namespace's PID, then each nested namespace's; kernel >= 4.1).
        host_pidns: the reader was in the initial PID namespace (``/proc/self/ns/pid``'s inode is the
            kernel's PROC_PID_INIT_INO), so NVML's host PIDs are its own; ``None``: unknown.
        problems: one line per thing that could not be read ("NVML: nvidia-ml-py is not installed...").
    """

    __slots__ = ("nvml", "drm", "nspid", "host_pidns", "problems")

    nvml: dict[str, Any] | None
    drm: tuple[DrmFd, ...] | None
    nspid: dict[int, tuple[int, ...]]
    host_pidns: bool | None
    problems: tuple[str, ...]

    def __init__(self, nvml: dict[str, Any] | None, drm: tuple[DrmFd, ...] | None,
                 nspid: dict[int, tuple[int, ...]] | None = None, host_pidns: bool | None = None,
                 problems: tuple[str, ...] = ()) -> None:
        fill(self, nvml, drm, nspid if nspid is not None else {}, host_pidns, problems)

    @property
    def empty(self) -> bool:
        """Nothing was read: no NVML answer and no DRM fd."""
        return self.nvml is None and not self.drm


def to_dict(gpu: GpuSample) -> dict[str, Any]:
    return {"nvml": gpu.nvml, "drm": None if gpu.drm is None else [[d.pid, d.fd, dict(d.fields)] for d in gpu.drm],
            "nspid": {str(k): list(v) for k, v in gpu.nspid.items()}, "host_pidns": gpu.host_pidns,
            "problems": list(gpu.problems)}


def from_dict(doc: Any) -> GpuSample | None:
    """The GpuSample ``to_dict`` gave (``None`` stays ``None``).

    Raises:
        ValueError: a damaged document.
    """
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError("gpu: not an object")
    nvml = doc.get("nvml")
    if nvml is not None and not isinstance(nvml, dict):
        raise ValueError("gpu.nvml: not an object")
    drm = None
    if doc.get("drm") is not None:
        drm = tuple(DrmFd(_int(pid), _int(fd), {str(k): str(v) for k, v in fields.items()})
                    for pid, fd, fields in doc["drm"])
    nspid = {int(k): tuple(_int(x) for x in v) for k, v in (doc.get("nspid") or {}).items()}
    host = doc.get("host_pidns")
    return GpuSample(nvml, drm, nspid, host if isinstance(host, bool) else None,
                     tuple(str(p) for p in doc.get("problems") or ()))


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"not an integer: {value!r}")
    return value
