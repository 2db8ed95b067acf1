"""The page-cache system calls, through ctypes: cachestat(2), mincore(2), fstatfs(2).

* ``cachestat(fd, &range, &cstat, 0)`` (Linux 6.5, man 2 cachestat): one call per file gives the pages
  in the cache, dirty, under writeback, evicted (a shadow entry remains) and recently evicted (its
  refault distance is within the working set). Range ``{0, 0}`` is the whole file.
* Both calls reveal cache state only to a caller that could write the file: ``can_do_cachestat()``
  in mm/filemap.c and ``can_do_mincore()`` in mm/mincore.c admit FMODE_WRITE, the owner or
  CAP_FOWNER (``inode_owner_or_capable``), or ``file_permission(MAY_WRITE)``. Otherwise cachestat
  fails with EPERM and mincore *lies*, reporting every page resident (kernel-spec.md G.2,
  surprise 13). So EPERM from cachestat means "unknown", never a mincore figure.
* mincore(2) needs a mapping: mmap of a 0-byte file fails (EINVAL), and a huge file is mapped in
  windows. It has no dirty, writeback or evicted figure.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import sys

from memtype.errors import MemtypeError
from memtype.source.root import Root

PAGE = os.sysconf("SC_PAGE_SIZE")
# 451 in arch/x86/entry/syscalls/syscall_64.tbl and in the generic table (arm64, riscv...); alpha adds 110.
SYS_CACHESTAT = 561 if platform.machine() == "alpha" else 451
MINCORE_WINDOW = 1 << 30  # map at most 1 GiB at a time (a 256 KiB mincore vector)
CAP_FOWNER = 3  # include/uapi/linux/capability.h
# statfs f_type values (include/uapi/linux/magic.h) of filesystems whose files are shmem.
SHMEM_MAGIC = {0x01021994: "tmpfs", 0x858458F6: "ramfs", 0x958458F6: "hugetlbfs"}

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_munmap = _libc.munmap
_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_mincore = _libc.mincore
_mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_fstatfs = _libc.fstatfs
_fstatfs.argtypes = [ctypes.c_int, ctypes.c_char_p]
_MAP_FAILED = ctypes.c_void_p(-1).value
_LSB = bytes(i & 1 for i in range(256))  # mincore: only bit 0 of each vector byte is defined


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted",
                                               "nr_recently_evicted")]


class Cachestat:
    """A cachestat(2) caller with its buffers made once (one per thread: the buffers are shared)."""

    def __init__(self) -> None:
        self._range = _Range(0, 0)
        self._out = _Cachestat()
        self._args = (ctypes.byref(self._range), ctypes.byref(self._out))

    def __call__(self, fd: int) -> tuple[int, int, int, int, int]:
        """Pages of the whole file: cached, dirty, writeback, evicted, recently evicted.

        Raises:
            OSError: ENOSYS (kernel < 6.5), EPERM (we could not write it), EOPNOTSUPP (hugetlbfs)...
        """
        if _syscall(SYS_CACHESTAT, fd, self._args[0], self._args[1], 0) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        o = self._out
        return (o.nr_cache, o.nr_dirty, o.nr_writeback, o.nr_evicted, o.nr_recently_evicted)


def cachestat_works() -> bool:
    """Whether this kernel has cachestat(2): probed with fd -1, which gives EBADF if it does, ENOSYS if not."""
    if _syscall(SYS_CACHESTAT, -1, None, None, 0) == 0:
        return True
    return ctypes.get_errno() != errno.ENOSYS


def mincore_vector() -> ctypes.Array[ctypes.c_char]:
    """A vector for ``mincore_pages`` (one byte per page of a window), to make once and reuse."""
    return ctypes.create_string_buffer(MINCORE_WINDOW // PAGE + 1)


def mincore_pages(fd: int, size: int, vec: ctypes.Array[ctypes.c_char] | None = None) -> int:
    """Resident pages of the file, by mapping it (read-only, shared) window by window and asking mincore(2).

    Only truthful when we could write the file or own it (see the module docstring): callers check.
    ``vec``: a reusable vector from ``mincore_vector`` (one is made otherwise).

    Raises:
        OSError: mmap or mincore failed.
    """
    resident = 0
    off = 0
    if vec is None or len(vec) < min(MINCORE_WINDOW, size) // PAGE + 1:
        vec = ctypes.create_string_buffer(min(MINCORE_WINDOW, size) // PAGE + 1)
    while off < size:
        length = min(MINCORE_WINDOW, size - off)
        addr = _mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, off)
        if addr in (None, _MAP_FAILED):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        try:
            if _mincore(addr, length, vec) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
        finally:
            _munmap(addr, length)
        resident += ctypes.string_at(vec, (length + PAGE - 1) // PAGE).translate(_LSB).count(1)
        off += length
    return resident


def mincore_trusted(st: os.stat_result, path: str | int) -> bool:
    """Whether mincore tells the truth about this file for us: can_do_mincore() admits the owner,
    CAP_FOWNER, or whoever may write it (mm/mincore.c). ``path``: a path or an open fd."""
    euid = os.geteuid()
    if st.st_uid == euid or has_capability(CAP_FOWNER):
        return True
    if isinstance(path, int):
        path = f"/proc/self/fd/{path}"
    try:
        return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)
    except OSError:
        return False


_CAPS: dict[int, int] = {}


def has_capability(cap: int) -> bool:
    """Whether the effective capability set (CapEff in /proc/self/status) holds ``cap``; read once per
    euid, since setuid() drops the capabilities."""
    euid = os.geteuid()
    if euid not in _CAPS:
        caps = 0
        try:
            for line in Root("/").read_text("proc/self/status").splitlines():  # this process, even on a capture
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
        except (MemtypeError, ValueError, IndexError):
            pass
        _CAPS[euid] = caps
    return bool(_CAPS[euid] >> cap & 1)


def fs_magic(fd: int) -> int | None:
    """statfs(2) ``f_type`` of the filesystem holding ``fd`` (the first field, a long, on Linux)."""
    buf = ctypes.create_string_buffer(256)
    if _fstatfs(fd, buf) != 0:
        return None
    return int.from_bytes(buf.raw[: ctypes.sizeof(ctypes.c_long)], sys.byteorder, signed=True) & 0xFFFFFFFF
