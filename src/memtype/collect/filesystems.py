"""Which filesystem a file lives on: pseudo filesystems are refused, tmpfs files are shmem.

From /proc/self/mountinfo (proc(5): field 3 is the device "major:minor", the field after " - " the
filesystem type). A device no mount lists (memfd's internal tmpfs, pipefs) is asked with fstatfs(2).
"""

from __future__ import annotations

import os

from memtype.collect.pagecache import SHMEM_MAGIC, fs_magic

# No page cache worth showing, and reading their files can block or have side effects.
PSEUDO = frozenset({"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
                    "configfs", "bpf", "pstore", "efivarfs", "fusectl", "mqueue", "binfmt_misc", "autofs", "nsfs",
                    "rpc_pipefs", "selinuxfs"})
SHMEM = frozenset({"tmpfs", "ramfs", "hugetlbfs"})


def parse_mount_types(text: str) -> dict[int, str]:
    """mountinfo text -> {st_dev: filesystem type}."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 3 or not right:
            continue
        major, _, minor = fields[2].partition(":")
        try:
            dev = os.makedev(int(major), int(minor))
        except ValueError:
            continue
        out.setdefault(dev, right.split()[0])
    return out


class Filesystems:
    """Filesystem type by device, for this machine's mount namespace."""

    def __init__(self, mountinfo: str | None = None) -> None:
        if mountinfo is None:
            try:
                with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
                    mountinfo = f.read()
            except OSError:
                mountinfo = ""
        self.types = parse_mount_types(mountinfo)

    def fstype(self, dev: int, fd: int | None = None) -> str | None:
        """The type of ``dev``; for a device no mount lists, fstatfs(fd) tells tmpfs-like ones apart."""
        t = self.types.get(dev)
        if t is None and fd is not None:
            magic = fs_magic(fd)
            t = SHMEM_MAGIC.get(magic) if magic is not None else None
            self.types[dev] = t or "?"
        return t

    def pseudo(self, dev: int) -> str | None:
        """The type's name if ``dev`` is a pseudo filesystem (/proc, /sys, /dev...), else None."""
        t = self.types.get(dev)
        return t if t in PSEUDO else None

    def kind(self, dev: int, fd: int | None = None) -> str:
        """"shmem" for tmpfs-like filesystems (their files are Shmem, not page cache), else "file"."""
        return "shmem" if self.fstype(dev, fd) in SHMEM else "file"
