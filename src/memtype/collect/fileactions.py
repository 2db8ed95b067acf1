"""``--evict`` and ``--warm``: vmtouch's two jobs, explicit and safe.

* evict: ``posix_fadvise(POSIX_FADV_DONTNEED)`` (man 2 posix_fadvise). The kernel first starts
  writeback of dirty pages without waiting (``__filemap_fdatawrite_range(WB_SYNC_NONE)`` in
  mm/fadvise.c), then drops only the pages it can: clean, unmapped, unlocked ones. Dirty pages,
  pages under writeback and pages mapped by a process stay; the report says how much stayed. No
  data is ever lost, and nothing needs write permission.
* warm: read the file through, 1 MiB at a time, with ``POSIX_FADV_SEQUENTIAL`` (larger readahead);
  fully cached files are not read again. It refuses to read more than MemAvailable: warming more than
  fits would only evict other cache (or this run's own first files).

Each file is reopened by its path and checked to be the same inode that was measured.
"""

from __future__ import annotations

import os

from memtype.collect.pagecache import PAGE
from memtype.collect.probe import Prober, open_file
from memtype.errors import MemtypeError
from memtype.model.files import FIGURES, FileCache, FilesReport

_CHUNK = 1 << 20


def act(report: FilesReport, prober: Prober, action: str, warm_limit: int | None = None) -> None:
    """Evict or warm every measured file of ``report``; its figures become the ones after."""
    if action not in ("evict", "warm"):
        raise ValueError(action)
    files = [f for f in report.files if f.size is not None]
    if action == "warm" and warm_limit is not None:
        need = sum(missing(f) for f in files)
        if need > warm_limit:
            raise MemtypeError(f"--warm would read {need / 2**20:.0f} MiB into the page cache, more than "
                               f"MemAvailable ({warm_limit / 2**20:.0f} MiB); warm fewer files")
    buf = bytearray(_CHUNK) if action == "warm" else None
    for f in files:
        try:
            fd = open_file(f.path, follow=True)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (f.dev, f.ino):
                continue  # replaced since it was measured
            if buf is None:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            elif missing(f):
                _read_through(fd, buf)
            after = prober.measure(fd, st, f.path, f.kind)
        except OSError:
            continue
        finally:
            os.close(fd)
        f.before = f.cached
        for name in FIGURES:
            setattr(f, name, getattr(after, name))
        f.method, f.why, f.size = after.method, after.why, after.size
    report.action = action


def missing(f: FileCache) -> int:
    """Bytes of ``f`` not in the cache (all of it when unknown), whole pages."""
    pages = ((f.size or 0) + PAGE - 1) // PAGE * PAGE
    return max(0, pages - (f.cached or 0)) if f.cached is not None else pages


def _read_through(fd: int, buf: bytearray) -> None:
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    while os.readv(fd, [buf]):
        pass
