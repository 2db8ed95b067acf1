"""/proc/PID/mountinfo: the one parser, and the views memtype takes of it.

Pure functions on text (style.md rule 2). The line format is proc(5) ("/proc/pid/mountinfo"):

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)   (4)   (5)      (6)      (7)   (8) (9)     (10)         (11)

mount ID, parent ID, major:minor (decimal) of the filesystem, the root of the mount within it, the
mount point, per-mount options, zero or more optional fields, a ``-`` separator, the filesystem type,
the source and the super-block options. The kernel escapes space, tab, newline and backslash in the
root, mount point and source as ``\\ooo`` (fs/proc_namespace.c show_mountinfo -> mangle), so no
field holds a blank and ``" - "`` can only be the separator.
"""

from __future__ import annotations

import re

SHMEM_TYPES = frozenset({"tmpfs", "ramfs", "hugetlbfs", "shmem"})  # files there are shmem, not page cache
_OCTAL = re.compile(r"\\([0-7]{3})")


class MountEntry:
    """One line of mountinfo."""

    __slots__ = ("mount_id", "parent_id", "major", "minor", "root", "mountpoint", "options", "fstype", "source",
                 "super_options")

    def __init__(self, mount_id: int, parent_id: int, major: int, minor: int, root: str, mountpoint: str,
                 options: str, fstype: str, source: str, super_options: str) -> None:
        self.mount_id, self.parent_id, self.major, self.minor = mount_id, parent_id, major, minor
        self.root, self.mountpoint, self.options = root, mountpoint, options
        self.fstype, self.source, self.super_options = fstype, source, super_options

    @property
    def smaps_dev(self) -> str:
        """The device as smaps and maps headers print it: ``%02x:%02x`` (fs/proc/task_mmu.c)."""
        return f"{self.major:02x}:{self.minor:02x}"

    def __repr__(self) -> str:
        return f"MountEntry({self.mountpoint!r}, {self.fstype}, {self.major}:{self.minor})"


def unescape(field: str) -> str:
    """Undo the kernel's ``\\ooo`` escapes (``\\040`` is a space)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field) if "\\" in field else field


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Every well-formed line, in file order; a malformed line is left out."""
    out: list[MountEntry] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split(" ")
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        major, colon, minor = fields[2].partition(":")
        if not (colon and _is_number(fields[0]) and _is_number(fields[1]) and _is_number(major)
                and _is_number(minor)):
            continue
        out.append(MountEntry(int(fields[0]), int(fields[1]), int(major), int(minor), unescape(fields[3]),
                              unescape(fields[4]), fields[5], tail[0], unescape(tail[1]),
                              tail[2] if len(tail) > 2 else ""))
    return out


def _is_number(word: str) -> bool:
    return word.isascii() and word.isdigit()  # '²' is isdigit() but int() refuses it


def shmem_devices(mounts: list[MountEntry]) -> frozenset[str]:
    """Devices ("00:1b", hex as in smaps headers) of tmpfs/ramfs/hugetlbfs mounts: files there are shmem."""
    return frozenset(m.smaps_dev for m in mounts if m.fstype in SHMEM_TYPES)


def mount_types(mounts: list[MountEntry]) -> dict[tuple[int, int], str]:
    """{(major, minor): filesystem type}; the first mount of a device names it."""
    out: dict[tuple[int, int], str] = {}
    for m in mounts:
        out.setdefault((m.major, m.minor), m.fstype)
    return out


class CgroupMount:
    """A cgroup hierarchy: where it is mounted, which version, and the cgroup its mount root is."""

    __slots__ = ("mountpoint", "version", "memory", "root")

    def __init__(self, mountpoint: str, version: int, memory: bool, root: str = "/") -> None:
        self.mountpoint, self.version = mountpoint, version
        self.memory = memory  # v1: the memory controller is bound here (v2: read cgroup.controllers)
        self.root = root  # the cgroup the mount shows at its top ("/" unless a namespace or bind mount)

    def __repr__(self) -> str:
        return f"CgroupMount({self.mountpoint!r}, v{self.version}, memory={self.memory})"


def cgroup_mounts(mounts: list[MountEntry]) -> list[CgroupMount]:
    """The cgroup (v1) and cgroup2 mounts; v1 lists its controllers in the super-block options."""
    found: list[CgroupMount] = []
    for m in mounts:
        if m.fstype == "cgroup2":
            found.append(CgroupMount(m.mountpoint, 2, False, m.root))
        elif m.fstype == "cgroup":
            found.append(CgroupMount(m.mountpoint, 1, "memory" in m.super_options.split(","), m.root))
    return found
