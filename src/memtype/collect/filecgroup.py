"""Which memory cgroup a file's page cache is charged to, sampled from the pages processes map.

A page-cache page is charged to the memory cgroup of the task that brought it in, and stays there
(cgroup-v2.rst "Memory Ownership"; cgroup-v1/memory.rst 2.3). ``/proc/kpagecgroup`` (root, 0400)
gives per page frame the inode of that cgroup's directory (admin-guide/mm/pagemap.rst), and
``/proc/PID/pagemap`` the frames of a mapping's present pages (bit 63 present, bit 61 file page or
shared anon, bits 0-54 the PFN; kernel-spec.md B.1). So the charge is known for pages some process
maps; for a file only read() or held open there is no frame to look at without touching the file,
and the cgroup stays unknown (None). A file's pages can be charged to several cgroups: the one
holding most of the sampled pages is reported.
"""

from __future__ import annotations

import os
from array import array
from collections import Counter

from memtype.collect.cgroups import find_hierarchy
from memtype.collect.holders import Held
from memtype.errors import MemtypeError
from memtype.collect.pagecache import PAGE
from memtype.source.root import Root

SAMPLE = 64  # page frames looked up per file
MAPS_PER_FILE = 4  # mappings read per file
PAGES_PER_MAP = 16384  # pagemap entries read per mapping (64 MiB of address space: 128 KiB)
_PRESENT, _FILE = 1 << 63, 1 << 61
_PFN = (1 << 55) - 1


class CgroupCharge:
    """Looks up charged cgroups; unusable (``ok`` False) without root or memory cgroups."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self._fd: int | None = None
        self._names: dict[int, str] | None = None
        try:
            self._fd = root.open_fd("proc/kpagecgroup")
        except MemtypeError:
            self._fd = None

    @property
    def ok(self) -> bool:
        return self._fd is not None and self.root.live

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def charged(self, held: Held) -> str | None:
        """The cgroup path charged for most of the file's mapped pages, or None if no page tells."""
        if not self.ok or not held.maps:
            return None
        pfns = sorted(self._frames(held))
        if not pfns:
            return None
        step = max(1, len(pfns) // SAMPLE)
        votes: Counter[int] = Counter()
        assert self._fd is not None
        for pfn in pfns[::step][:SAMPLE]:
            try:
                data = os.pread(self._fd, 8, pfn * 8)
            except OSError:
                continue
            if len(data) == 8:
                ino = int.from_bytes(data, "little")
                if ino:
                    votes[ino] += 1
        if not votes:
            return None
        ino = votes.most_common(1)[0][0]
        return self._name(ino)

    def _frames(self, held: Held) -> set[int]:
        out: set[int] = set()
        for pid, start, end in held.maps[:MAPS_PER_FILE]:
            n = min((end - start) // PAGE, PAGES_PER_MAP)
            rel = f"proc/{pid}/pagemap"
            try:
                fd = self.root.open_fd(rel, pid)
            except MemtypeError:
                continue  # gone, or not ours to read
            try:
                data = os.pread(fd, n * 8, start // PAGE * 8)
            except OSError:
                continue  # the process exited meanwhile (ESRCH)
            finally:
                os.close(fd)
            entries = array("Q")
            entries.frombytes(data[: len(data) // 8 * 8])
            out.update(e & _PFN for e in entries if e & _PRESENT and e & _FILE and e & _PFN)
        return out

    def _name(self, ino: int) -> str:
        if self._names is None:
            self._names = memcg_names(self.root)
        return self._names.get(ino, f"(removed cgroup, inode {ino})")


def memcg_names(root: Root) -> dict[int, str]:
    """{directory inode: cgroup path} of the memory hierarchy ``memtype cgroups`` reads
    (``memtype.collect.cgroups.find_hierarchy``: v2 with the memory controller, else v1's ``memory``)."""
    try:
        top = find_hierarchy(root).rel
    except MemtypeError:
        return {}
    names: dict[int, str] = {}
    try:
        names[root.stat(top).st_ino] = "/"
    except MemtypeError:
        return names
    stack = [(top, "")]
    while stack:
        d, rel = stack.pop()
        try:
            entries = root.scandir(d)
        except MemtypeError:
            continue  # removed meanwhile
        for name, is_dir, inode in entries:
            if is_dir:
                names[inode] = f"{rel}/{name}"
                stack.append((f"{d}/{name}", f"{rel}/{name}"))
    return names
