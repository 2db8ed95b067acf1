"""Parsers for the small per-process and system files: status, stat, meminfo, mountinfo.

Pure functions on text (style.md rule 2). Absent fields are ``None`` (rule 3).
"""

from __future__ import annotations

from typing import NamedTuple


class Status(NamedTuple):
    """What memtype uses from /proc/PID/status."""

    name: str | None
    uid: int | None
    ppid: int | None
    kthread: bool


class Stat(NamedTuple):
    """What memtype uses from /proc/PID/stat."""

    comm: str
    ppid: int
    starttime: int  # clock ticks after boot; with the PID it identifies a process


def parse_status(text: str) -> Status:
    name = uid = ppid = None
    kthread = False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Name":
            name = value.strip()
        elif key == "Uid":
            parts = value.split()
            uid = int(parts[0]) if parts and parts[0].isdigit() else None
        elif key == "PPid":
            v = value.strip()
            ppid = int(v) if v.isdigit() else None
        elif key == "Kthread":
            kthread = value.strip() == "1"
    return Status(name, uid, ppid, kthread)


def parse_stat(text: str) -> Stat:
    """Split at the last ')': the comm may itself contain ')' and spaces (psutil's rule)."""
    left, sep, right = text.rpartition(")")
    if not sep or "(" not in left:
        raise ValueError("no '(comm)' in stat")
    comm = left.split("(", 1)[1]
    fields = right.split()
    if len(fields) < 20:
        raise ValueError("stat has too few fields")
    return Stat(comm, int(fields[1]), int(fields[19]))


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo -> {field: bytes}; HugePages_* counts stay counts."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        parts = value.split()
        if not sep or not parts or not parts[0].isdigit():
            continue
        n = int(parts[0])
        out[key.strip()] = n * 1024 if len(parts) > 1 and parts[1] == "kB" else n
    return out


def parse_mountinfo_shmem_devs(text: str) -> frozenset[str]:
    """Devices ("00:1b", hex as in smaps headers) of tmpfs/ramfs/hugetlbfs mounts: files there are shmem."""
    devs = set()
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        lf, rf = left.split(), right.split()
        if len(lf) < 3 or not rf or rf[0] not in ("tmpfs", "ramfs", "hugetlbfs", "shmem"):
            continue
        major, _, minor = lf[2].partition(":")
        if major.isdigit() and minor.isdigit():
            devs.add(f"{int(major):02x}:{int(minor):02x}")
    return frozenset(devs)


def parse_cmdline(data: bytes) -> list[str]:
    return [a.decode("utf-8", "surrogateescape") for a in data.rstrip(b"\0").split(b"\0")] if data else []
