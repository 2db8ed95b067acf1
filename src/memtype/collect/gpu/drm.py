"""DRM clients' fdinfo: ``read_drm(root, pids)`` -> the ``DrmFd`` of every DRM fd (``Sample.gpu.drm``).

Live, a process's fds are listed (``/proc/PID/fd``) and each link read; one that leads to ``/dev/dri/``
(a card or render node) has its ``/proc/PID/fdinfo/N`` read (bounded: parse.drm_fdinfo.MAX_FDINFO)
and kept if it names a ``drm-driver``. No link is followed: readlink only. A capture holds
``proc/PID/fdinfo/N`` for those fds alone (``snapshot`` keeps nothing else), read through the Root
(no symlink, FIFO or device of a capture is opened; sizes capped).

Cost: one readlink per fd of every process (htop's walk). On a machine without ``/dev/dri`` no
process is walked at all (there can be no DRM client). Processes that vanish or deny access mid-walk
are skipped (the race policy), their fds unknown.
"""

from __future__ import annotations

from memtype.errors import MemtypeError
from memtype.model.gpu_sample import DrmFd
from memtype.parse.drm_fdinfo import MAX_FDINFO, fdinfo_fields
from memtype.source.root import Root

DRM_PREFIX = "/dev/dri/"


def has_drm_devices(root: Root) -> bool:
    """A live machine with DRM nodes (``/dev/dri``); a capture: any process with kept fdinfo."""
    if root.live:
        try:
            return bool(root.listdir("dev/dri"))
        except MemtypeError:
            return False
    return True


def drm_fds(root: Root, pid: int) -> list[int]:
    """The fds of ``pid`` that are DRM device files (live: by link target; a capture: those kept)."""
    base = f"proc/{pid}"
    if not root.live:
        try:
            names = root.listdir(f"{base}/fdinfo", pid)
        except MemtypeError:
            return []
        return sorted(int(n) for n in names if n.isascii() and n.isdigit())
    found = []
    try:
        names = root.listdir(f"{base}/fd", pid)
    except MemtypeError:
        return []
    for name in names:
        if not (name.isascii() and name.isdigit()):
            continue
        try:
            target = root.readlink(f"{base}/fd/{name}", pid)
        except MemtypeError:
            continue  # closed meanwhile
        if target.startswith(DRM_PREFIX):
            found.append(int(name))
    return sorted(found)


def read_fdinfo(root: Root, pid: int, fd: int) -> DrmFd | None:
    """One fd's DRM fdinfo, ``None`` if it is not a DRM client's (or went away)."""
    try:
        text = root.read_bytes(f"proc/{pid}/fdinfo/{fd}", pid, limit=MAX_FDINFO).decode("utf-8", "replace")
    except MemtypeError:
        return None
    fields = fdinfo_fields(text)
    return None if fields is None else DrmFd(pid, fd, fields)


def read_drm(root: Root, pids: list[int] | None = None) -> tuple[DrmFd, ...] | None:
    """Every DRM fd of ``pids`` (default: every process); ``None`` where the machine has no DRM device
    (nothing to read: no process is listed)."""
    if not has_drm_devices(root):
        return None
    found = []
    for pid in root.pids() if pids is None else pids:
        for fd in drm_fds(root, pid):
            got = read_fdinfo(root, pid, fd)
            if got is not None:
                found.append(got)
    return tuple(found)
