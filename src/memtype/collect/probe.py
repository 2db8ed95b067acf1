"""One open file -> its page-cache figures: cachestat(2), or mincore(2) where cachestat is missing.

Where the kernel would refuse or lie the figures are None with a reason, never a wrong number
(kernel-spec.md G.2): EPERM from cachestat means mincore would report every page resident too, since
both apply the same write-permission rule (see ``memtype.collect.pagecache``).
"""

from __future__ import annotations

import errno
import os

from memtype.collect.pagecache import (CAP_FOWNER, PAGE, Cachestat, cachestat_works, has_capability, mincore_pages,
                                      mincore_trusted, mincore_vector)
from memtype.errors import Unsupported
from memtype.model.files import FileCache

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO swapped in never blocks
NOATIME = getattr(os, "O_NOATIME", 0)  # only the owner or CAP_FOWNER may use it (open(2): EPERM otherwise)


class Prober:
    """Measures open files with one method for the whole run.

    Args:
        method: "auto" (cachestat, or mincore on kernels before 6.5), "cachestat" or "mincore".
    """

    def __init__(self, method: str = "auto") -> None:
        if method not in ("auto", "cachestat", "mincore"):
            raise ValueError(method)
        have = method != "mincore" and cachestat_works()
        if method == "cachestat" and not have:
            raise Unsupported("cachestat", "cachestat(2) needs Linux 6.5 or later (mincore(2) works everywhere: "
                              "--mincore)")
        self.cachestat: Cachestat | None = Cachestat() if have else None
        self.method = "cachestat" if have else "mincore"
        self._vec = None if have else mincore_vector()
        self._fowner = has_capability(CAP_FOWNER)  # mincore tells us the truth about every file

    def measure(self, fd: int, st: os.stat_result, path: str, kind: str = "file") -> FileCache:
        """The figures of the open regular file ``fd`` (``st`` is its fstat)."""
        cs = self.cachestat
        if cs is not None:
            try:
                c, d, w, e, r = cs(fd)
            except OSError as exc:
                return unknown(path, st, kind, _why(exc))
            return FileCache(path, st.st_size, c * PAGE, d * PAGE, w * PAGE, e * PAGE, r * PAGE, "cachestat", None,
                             st.st_dev, st.st_ino, kind, _span(st))
        if not self._fowner and not mincore_trusted(st, fd):
            return unknown(path, st, kind, "denied")
        try:
            pages = mincore_pages(fd, st.st_size, self._vec) if st.st_size else 0
        except OSError as exc:
            return unknown(path, st, kind, _why(exc))
        return FileCache(path, st.st_size, pages * PAGE, None, None, None, None, "mincore", None, st.st_dev,
                         st.st_ino, kind, _span(st))


def _span(st: os.stat_result) -> int:
    """The whole pages the file spans, in this (live) machine's page size: what ``cached`` can reach."""
    return -(-st.st_size // PAGE) * PAGE


def unknown(path: str, st: os.stat_result, kind: str, why: str) -> FileCache:
    return FileCache(path, st.st_size, why=why, dev=st.st_dev, ino=st.st_ino, kind=kind)


def _why(exc: OSError) -> str:
    if exc.errno in (errno.EPERM, errno.EACCES):
        return "denied"  # not ours and not writable by us: the kernel would refuse (or, mincore, lie)
    if exc.errno == errno.EOPNOTSUPP:
        return "unsupported"  # hugetlbfs (man 2 cachestat)
    return f"error: {exc.strerror}"


def open_file(path: str, dir_fd: int | None = None, follow: bool = False) -> int:
    """Open for measuring: read-only, no atime update (falls back without O_NOATIME on EPERM), never
    following a final symlink unless ``follow`` (for /proc/PID/fd/N and map_files links).

    Raises:
        OSError: as open(2).
    """
    flags = OPEN_FLAGS & ~os.O_NOFOLLOW if follow else OPEN_FLAGS
    try:
        return os.open(path, flags | NOATIME, dir_fd=dir_fd)
    except PermissionError as exc:
        if exc.errno != errno.EPERM or not NOATIME:
            raise
    return os.open(path, flags, dir_fd=dir_fd)
