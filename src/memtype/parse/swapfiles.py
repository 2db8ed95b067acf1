"""Parsers for swap and reclaim files: /proc/swaps, /proc/sysvipc/shm, zram mm_stat (spec E.1).
(zoneinfo: ``memtype.parse.zoneinfo``.)

Pure functions on text (style.md rule 2); sizes come back in bytes.
"""

from __future__ import annotations

import re


class SwapDevice:
    """One line of /proc/swaps: an active swap area (sizes in bytes)."""

    __slots__ = ("path", "type", "size", "used", "priority")

    def __init__(self, path: str, type: str, size: int, used: int, priority: int) -> None:
        self.path, self.type, self.size, self.used, self.priority = path, type, size, used, priority

    @property
    def free(self) -> int:
        return self.size - self.used

    def __repr__(self) -> str:
        return f"SwapDevice({self.path!r}, {self.type}, size={self.size}, used={self.used}, prio={self.priority})"


_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(path: str) -> str:
    """seq_file escapes space, tab, newline and backslash in paths as ``\\ooo``."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), path)


def parse_swaps(text: str) -> list[SwapDevice]:
    """/proc/swaps -> devices. ``Filename Type Size Used Priority``, sizes in kB; the file name may hold
    escaped blanks, so the four numeric columns are taken from the right.

    Raises:
        ValueError: a line does not have that shape.
    """
    out = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        parts = line.rsplit(None, 4)
        if len(parts) != 5:
            raise ValueError(f"unexpected /proc/swaps line: {line!r}")
        path, typ, size, used, prio = parts
        out.append(SwapDevice(_unescape(path.strip()), typ, int(size) * 1024, int(used) * 1024, int(prio)))
    return out


class ShmSegment:
    """One SysV shared-memory segment from /proc/sysvipc/shm: ``rss`` and ``swap`` in bytes (kernel 4.x+)."""

    __slots__ = ("key", "shmid", "size", "nattch", "cpid", "rss", "swap", "locked", "lpid", "uid", "dest")

    def __init__(self, key: int, shmid: int, size: int, nattch: int, cpid: int, rss: int | None, swap: int | None,
                 locked: bool, lpid: int | None = None, uid: int | None = None, dest: bool = False) -> None:
        self.key, self.shmid, self.size, self.nattch, self.cpid = key, shmid, size, nattch, cpid
        self.rss, self.swap, self.locked = rss, swap, locked
        self.lpid, self.uid = lpid, uid
        self.dest = dest  # marked for removal (IPC_RMID while attached): SHM_DEST in the mode; key shows 0


SHM_LOCKED = 0o2000  # include/uapi/linux/shm.h: segment locked by SHM_LOCK (its pages are unevictable)
SHM_DEST = 0o1000  # include/uapi/linux/shm.h: IPC_RMID done, destroyed at the last detach (observed: perms 1600)


def parse_sysvipc_shm(text: str) -> list[ShmSegment]:
    """/proc/sysvipc/shm -> segments, columns found by the header (``rss``/``swap`` absent: ``None``)."""
    lines = text.splitlines()
    if not lines:
        return []
    head = lines[0].split()
    col = {name: i for i, name in enumerate(head)}
    need = ("key", "shmid", "perms", "size", "nattch", "cpid")
    if any(n not in col for n in need):
        raise ValueError("unexpected /proc/sysvipc/shm header")
    out = []
    for line in lines[1:]:
        f = line.split()
        if len(f) < len(head):
            continue

        def opt(name: str) -> int | None:
            return int(f[col[name]]) if name in col else None

        mode = int(f[col["perms"]], 8)
        out.append(ShmSegment(int(f[col["key"]]), int(f[col["shmid"]]), int(f[col["size"]]),
                              int(f[col["nattch"]]), int(f[col["cpid"]]), opt("rss"), opt("swap"),
                              bool(mode & SHM_LOCKED), opt("lpid"), opt("uid"), bool(mode & SHM_DEST)))
    return out


def parse_zram_mm_stat(text: str) -> dict[str, int]:
    """/sys/block/zramN/mm_stat (Documentation/admin-guide/blockdev/zram.rst): the first three columns,
    bytes: ``orig_data_size`` (stored), ``compr_data_size`` and ``mem_used_total`` (RAM the pool uses).

    Raises:
        ValueError: fewer than three numbers.
    """
    f = text.split()
    if len(f) < 3:
        raise ValueError("zram mm_stat has fewer than 3 fields")
    return {"stored": int(f[0]), "compressed": int(f[1]), "pool": int(f[2])}
