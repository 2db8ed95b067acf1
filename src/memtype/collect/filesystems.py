"""Which filesystem a file lives on: pseudo filesystems are refused, tmpfs files are shmem.

From /proc/self/mountinfo (``memtype.parse.mountinfo``: the device "major:minor" and the filesystem
type of every mount). A device no mount lists (memfd's internal tmpfs, pipefs) is asked with fstatfs(2).
"""

from __future__ import annotations

import os

from memtype.collect.pagecache import SHMEM_MAGIC, fs_magic
from memtype.errors import MemtypeError
from memtype.parse.mountinfo import SHMEM_TYPES, mount_types, parse_mountinfo
from memtype.source.root import Root

# No page cache worth showing, and reading their files can block or have side effects.
PSEUDO = frozenset({"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
                    "configfs", "bpf", "pstore", "efivarfs", "fusectl", "mqueue", "binfmt_misc", "autofs", "nsfs",
                    "rpc_pipefs", "selinuxfs"})


class Filesystems:
    """Filesystem type by device, for this machine's mount namespace."""

    def __init__(self, mountinfo: str | None = None) -> None:
        """``mountinfo``: the text to use; None reads this process's (the namespace stat(2) answers in)."""
        if mountinfo is None:
            try:
                mountinfo = Root("/").read_text("proc/self/mountinfo")
            except MemtypeError:
                mountinfo = ""
        self.types = {os.makedev(major, minor): fstype
                      for (major, minor), fstype in mount_types(parse_mountinfo(mountinfo)).items()}

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
        return "shmem" if self.fstype(dev, fd) in SHMEM_TYPES else "file"
