"""Positioned reads of pagemap and kpageflags/kpagecount (spec B.1, B.2, B.5).

One ``pread`` per mapping on pagemap (8 bytes per virtual page), and one per run of nearby PFNs on
the kpage* files: never a read per page. Short reads are errors (style.md rule 6: a page walk fails
loudly), except that a process exiting mid-read is ProcessGone.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from memtype.errors import AccessDenied, MemtypeError, ProcessGone

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U64 = npt.NDArray[np.uint64]

PFN_GAP = 64  # read across gaps up to this many PFNs rather than issuing another pread


def pagemap_error(exc: OSError, pid: int) -> MemtypeError:
    """The race policy for pagemap reads (style.md rule 4)."""
    if exc.errno in (errno.ESRCH, errno.ENOENT):
        return ProcessGone(pid, "pagemap")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(pid, f"proc/{pid}/pagemap")
    return MemtypeError(f"proc/{pid}/pagemap: {exc.strerror}")


def pread_exact(fd: int, length: int, offset: int, pid: int) -> bytes:
    """``length`` bytes of /proc/PID/pagemap at ``offset`` (a virtual page number times 8)."""
    try:
        data = os.pread(fd, length, offset)
    except OSError as exc:
        raise pagemap_error(exc, pid) from None
    if len(data) != length:
        if not data:
            raise ProcessGone(pid, "pagemap")  # the address space went away under us
        raise MemtypeError(f"proc/{pid}/pagemap: short read ({len(data)} of {length} bytes)")
    return data


def pread_ranges(fd: int, offsets: list[int], lengths: list[int], pid: int) -> bytes:
    """Many ranges of /proc/PID/pagemap, concatenated: one call into the compiled reader (adjacent
    ranges merged, GIL released), or a loop of preads without it."""
    from memtype.parse.smaps import compiled

    c_reader = compiled()
    if c_reader is None or not hasattr(c_reader, "pread_ranges"):
        return b"".join(pread_exact(fd, n, off, pid) for off, n in zip(offsets, lengths))
    try:
        data: bytes = c_reader.pread_ranges(fd, offsets, lengths)
    except EOFError:
        raise ProcessGone(pid, "pagemap") from None  # the address space shrank under us
    except OSError as exc:
        raise pagemap_error(exc, pid) from None
    return data


def gather(fd: int, pfns: U64, path: str, missing: int = 0) -> U64:
    """Values of a /proc/kpage* file for sorted, unique ``pfns``, reading runs of nearby PFNs.

    Args:
        missing: the value for PFNs past the end of the file (MMIO; spec B.3 row 6 treats them as NOPAGE).
    """
    import numpy as np

    out = np.full(len(pfns), missing, dtype=np.uint64)
    if len(pfns) == 0:
        return out
    gaps = np.diff(pfns.astype(np.int64))
    breaks = np.flatnonzero(gaps > PFN_GAP) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(pfns)]))
    for a, b in zip(starts.tolist(), ends.tolist()):
        first, last = int(pfns[a]), int(pfns[b - 1])
        want = (last - first + 1) * 8
        try:
            data = os.pread(fd, want, first * 8)
        except OSError as exc:
            raise MemtypeError(f"{path}: {exc.strerror}") from None
        block = np.frombuffer(data, dtype=np.uint64)
        idx = pfns[a:b].astype(np.int64) - first
        ok = idx < len(block)
        out[a:b][ok] = block[idx[ok]]
    return out
