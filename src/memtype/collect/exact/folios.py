"""The page cache's folio size: pages per file folio on the LRU, from /proc/kpageflags (root, numpy).

Reclaim isolates whole folios, so how large the page cache's folios are sets how fast the file
lists give pages back against the anon lists (``memtype.model.vmscan``). ext4 on 6.x keeps large
folios: a file written with 1 MiB writes sat in 256-page folios here, one written 4 KiB at a time in
single pages (surprise 5 of the spec). With a memory cgroup's inode, /proc/kpagecgroup restricts the
count to the pages charged to it (spec D.3: the inode of the cgroup's directory).
"""

from __future__ import annotations

from typing import BinaryIO

from memtype.parse.pagebits import kpf_mask

_CHUNK = 1 << 20  # page frames per read: 8 MiB of each file
_FILE_LRU = kpf_mask("lru")
_NOT_FILE = kpf_mask("anon", "swapbacked", "unevictable")
_HEAD, _TAIL = kpf_mask("compound_head"), kpf_mask("compound_tail")


def file_folio_pages(flags: BinaryIO, cgroups: BinaryIO | None = None, inode: int | None = None) -> float | None:
    """Average pages per folio of the evictable page cache (LRU, not anon, not shmem, evictable).

    Args:
        flags: /proc/kpageflags opened for reading; cgroups: /proc/kpagecgroup, with ``inode`` the memory
            cgroup's directory inode (only its pages are counted).

    Returns:
        pages / folios, or None when there is no such page.
    """
    import numpy as np

    pages = folios = 0
    while True:
        raw = flags.read(_CHUNK * 8)
        if not raw:
            break
        kf = np.frombuffer(raw, dtype="<u8")
        mask = ((kf & np.uint64(_FILE_LRU)) != 0) & ((kf & np.uint64(_NOT_FILE)) == 0)
        if cgroups is not None and inode is not None:
            cg = np.frombuffer(cgroups.read(len(raw)), dtype="<u8")
            mask &= cg[: len(kf)] == np.uint64(inode) if len(cg) >= len(kf) else np.zeros(len(kf), dtype=bool)
        pages += int(mask.sum())
        folios += int((mask & ((kf & np.uint64(_TAIL)) == 0)).sum())  # heads and single pages
    return pages / folios if folios else None
