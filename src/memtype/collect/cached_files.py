"""``memtype files --top N``: the most cached files that processes map or hold open, and what share of
the machine's file cache they explain.

Live: every file from ``scan_holders`` is reopened through its /proc link and measured
(``Prober``); /proc/meminfo is read right after, so the two are as close in time as they can be.
The file cache (Cached − Shmem + Buffers, kernel-spec.md C.1) is then split into three named parts
that add up exactly: the cache of the files processes map or hold open, Buffers, and the rest: cache
of files nobody maps or holds (read earlier and closed). Shmem files (tmpfs, memfd) are listed but
belong to Shmem, not to the file cache, so they are summed apart.

A capture has no page cache state and no fd links: it lists the files its processes map, with the
sum of their mappings' PSS (smaps) as the mapped, resident part, and says so.
"""

from __future__ import annotations

import os
import stat

from memtype.collect.filecgroup import CgroupCharge
from memtype.collect.filesystems import Filesystems
from memtype.collect.holders import Held, scan_holders
from memtype.collect.probe import Prober, open_file
from memtype.collect.scan import scan
from memtype.collect.system import machine_memory
from memtype.errors import MemtypeError
from memtype.kinds import Kind
from memtype.model.files import FileCache, MachineCache
from memtype.source.root import Root

_FILE_CLASSES = frozenset({"file-shared", "file-private", "file-cow"})
_SHMEM_CLASSES = frozenset({"shmem", "shmem-private"})
CAPTURE_NOTE = ("a capture holds no page cache state and no open files: listed are the files its processes map, "
                "with the PSS of their mappings (smaps) as the mapped, resident part")


def cached_files(root: Root, top: int, *, method: str = "auto", fs: Filesystems | None = None) -> MachineCache:
    """The ``top`` most cached files that processes map or hold open (live), or map (a capture)."""
    if not root.live:
        return mapped_in_capture(root, top)
    fs = fs if fs is not None else Filesystems()
    holders = scan_holders(root)
    prober = Prober(method)
    measured: list[tuple[FileCache, Held]] = []
    for held in holders.files.values():
        f = measure_held(held, prober, fs)
        if f is not None:
            measured.append((f, held))
    mm = machine_memory(root)
    files = [f for f, _ in measured]
    out = MachineCache([], len(files), mm.page_cache, mm.raw.get("Buffers"))
    out.processes, out.denied, out.gone = holders.processes, holders.denied, holders.gone
    out.notes.extend(holders.warnings)
    out.held = sum(f.cached for f in files if f.kind == "file" and f.cached is not None)
    out.held_unknown = sum(1 for f in files if f.cached is None)
    out.shmem = sum(f.cached for f in files if f.kind == "shmem" and f.cached is not None)
    measured.sort(key=lambda fh: (fh[0].cached or 0, fh[0].size or 0), reverse=True)
    charge = CgroupCharge(root)
    if not charge.ok:
        out.notes.append("cgroup charges: unknown without root (they come from /proc/kpagecgroup)")
    try:
        for f, held in measured[:top]:
            f.cgroup = charge.charged(held)
            out.files.append(f)
    finally:
        charge.close()
    return out


def measure_held(held: Held, prober: Prober, fs: Filesystems) -> FileCache | None:
    """Reopen a held file through its /proc link (or its path) and measure it; None if it is not a
    regular file after all."""
    f: FileCache | None = None
    for candidate in (held.opener, held.path):
        if candidate is None:
            continue
        try:
            fd = open_file(candidate, follow=True)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (held.dev, held.ino):
                continue  # the path now names another file
            if not stat.S_ISREG(st.st_mode):
                return None
            f = prober.measure(fd, st, held.path, fs.kind(st.st_dev, fd))
            break
        finally:
            os.close(fd)
    if f is None:
        f = FileCache(held.path, None, why="denied" if held.opener else "unreachable", dev=held.dev, ino=held.ino)
    f.mapped_by = tuple(sorted(held.mapped_by))
    f.open_by = tuple(sorted(held.open_by))
    return f


def mapped_in_capture(root: Root, top: int) -> MachineCache:
    """Files the captured processes map, by the Σ PSS of their mappings (file kind; shared for shmem)."""
    result = scan(root, mappings=True)
    files: dict[tuple[str, int], FileCache] = {}
    pids: dict[tuple[str, int], set[int]] = {}
    for p in result.processes:
        for m in p.mappings or []:
            if not m.inode or not m.path.startswith("/"):
                continue
            if m.mapclass in _FILE_CLASSES:
                kind, pss = "file", m.categories[Kind.FILE].pss
                if m.mapclass == "file-cow":  # unwritten pages of a private writable map are page cache too
                    pss += m.categories[Kind.COW].pss
            elif m.mapclass in _SHMEM_CLASSES:
                kind, pss = "shmem", m.categories[Kind.SHARED].pss
            else:
                continue
            key = (m.dev, m.inode)
            f = files.get(key)
            if f is None:
                f = files[key] = FileCache(m.path, None, why="capture", ino=m.inode, kind=kind)
                pids[key] = set()
            f.mapped_pss = (f.mapped_pss or 0) + pss
            pids[key].add(p.pid)
    for key, f in files.items():
        f.mapped_by = tuple(sorted(pids[key]))
    file_cache: int | None = None
    buffers: int | None = None
    try:
        mm = machine_memory(root)
        file_cache, buffers = mm.page_cache, mm.raw.get("Buffers")
    except MemtypeError:
        pass
    ranked = sorted(files.values(), key=lambda f: f.mapped_pss or 0, reverse=True)
    out = MachineCache(ranked[:top], len(ranked), file_cache, buffers)
    out.live = False
    out.processes = len(result.processes)
    out.denied = result.count("not captured")
    out.mapped = sum(f.mapped_pss or 0 for f in ranked if f.kind == "file")
    out.shmem = sum(f.mapped_pss or 0 for f in ranked if f.kind == "shmem")
    out.notes.append(CAPTURE_NOTE)
    return out
