"""The vocabulary: the five resident kinds of memory memtype reports, once, for every front end.

Spec: shared/docs/kernel-spec.md section 0 (categories and precedence). Swap is reported per kind
(the ``swap`` of each kind), not as a kind of its own, because only the origin decides where a
swapped page came back from.
"""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    """A resident kind of memory. The value is the stable id used in JSON, CSV and column names."""

    ANONYMOUS = "anonymous"
    SHARED = "shared"
    COW = "cow"
    FILE = "file"
    DEVICE = "device"

    @property
    def label(self) -> str:
        """Short column title: Anon, Shared, CoW, File, Device."""
        return _TITLES[self]

    @property
    def help(self) -> str:
        return _HELP[self]


KINDS: tuple[Kind, ...] = tuple(Kind)

_TITLES = {
    Kind.ANONYMOUS: "Anon",
    Kind.SHARED: "Shared",
    Kind.COW: "CoW",
    Kind.FILE: "File",
    Kind.DEVICE: "Device",
}

_HELP = {
    Kind.ANONYMOUS: "private anonymous pages only this process maps: heap, stack, private mmap (swappable)",
    Kind.SHARED: "shmem: MAP_SHARED anonymous, memfd, /dev/shm, SysV, tmpfs files (swappable, never dropped)",
    Kind.COW: "copy-on-write: anon pages still shared after fork, KSM, unwritten private writable file pages",
    Kind.FILE: "page cache of regular files (droppable: the file is the source of truth)",
    Kind.DEVICE: "driver pages mapped into the process ([vdso], /dev/nvidiactl, anon_inode:*): never reclaimable",
}
