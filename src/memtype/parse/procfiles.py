"""Parsers for the small per-process and system files: status, stat, meminfo, vmstat, uptime, cmdline, cgroup.

(mountinfo: ``memtype.parse.mountinfo``; zoneinfo: ``memtype.parse.zoneinfo``.)

Pure functions on text (style.md rule 2). Absent fields are ``None`` (rule 3).
"""

from __future__ import annotations

from memtype.parse.numbers import is_uint, to_int


class Status:
    """What memtype uses from /proc/PID/status."""

    __slots__ = ("name", "uid", "ppid", "kthread")

    def __init__(self, name: str | None, uid: int | None, ppid: int | None, kthread: bool) -> None:
        self.name, self.uid, self.ppid, self.kthread = name, uid, ppid, kthread

    def __repr__(self) -> str:
        return f"Status(name={self.name!r}, uid={self.uid}, ppid={self.ppid}, kthread={self.kthread})"


PF_KTHREAD = 0x00200000  # task flag of kernel threads (include/linux/sched.h), stat field 9


class Stat:
    """What memtype uses from /proc/PID/stat (proc(5): fields 3, 4, 9, 10, 12, 22 and 24)."""

    __slots__ = ("comm", "state", "ppid", "flags", "minflt", "majflt", "starttime", "rss")

    def __init__(self, comm: str, state: str, ppid: int, flags: int, minflt: int, majflt: int,
                 starttime: int, rss: int | None = None) -> None:
        self.comm, self.state, self.ppid, self.flags = comm, state, ppid, flags
        self.minflt, self.majflt = minflt, majflt  # page faults: minor (no I/O), major (read from disk/swap)
        self.starttime = starttime  # clock ticks after boot; with the PID it identifies a process
        self.rss = rss  # resident pages (anon + file + shmem, as status VmRSS); None: a short stat

    @property
    def kernel_thread(self) -> bool:
        """PF_KTHREAD in the flags: a kernel thread (no user address space; its smaps is empty)."""
        return bool(self.flags & PF_KTHREAD)


def parse_status(text: str) -> Status:
    """Only the four lines memtype uses; found by key, so reordered or new lines do no harm."""
    name = _status_value(text, "Name")
    uid_text = _status_value(text, "Uid")
    ppid_text = _status_value(text, "PPid")
    uid_first = uid_text.split(None, 1)[0] if uid_text else ""
    return Status(name, int(uid_first) if is_uint(uid_first) else None,
                  int(ppid_text) if ppid_text and is_uint(ppid_text) else None,
                  _status_value(text, "Kthread") == "1")


class StatusMemory:
    """The memory counters of /proc/PID/status, bytes (``None``: the line is absent, as in kernel threads).

    ``RssAnon + RssFile + RssShmem`` is VmRSS (proc(5)); the kernel keeps them per thread and folds
    them in batches, so they can lag smaps by a few pages (SPLIT_RSS_COUNTING, before 6.2).
    """

    __slots__ = ("rss_anon", "rss_file", "rss_shmem", "vm_swap")

    def __init__(self, rss_anon: int | None, rss_file: int | None, rss_shmem: int | None,
                 vm_swap: int | None) -> None:
        self.rss_anon, self.rss_file, self.rss_shmem, self.vm_swap = rss_anon, rss_file, rss_shmem, vm_swap


def parse_status_memory(text: str) -> StatusMemory:
    """RssAnon, RssFile, RssShmem and VmSwap of /proc/PID/status (``NNN kB`` lines), in bytes."""
    return StatusMemory(*(_kb(_status_value(text, key)) for key in ("RssAnon", "RssFile", "RssShmem", "VmSwap")))


def status_state(text: str) -> str | None:
    """The state letter of /proc/PID/status's ``State:`` line ("Z" for ``State:\tZ (zombie)``)."""
    value = _status_value(text, "State")
    return value[:1] if value else None


def _kb(value: str | None) -> int | None:
    number = value.split(None, 1)[0] if value else ""
    return int(number) * 1024 if is_uint(number) else None


def _status_value(text: str, key: str) -> str | None:
    at = text.find(key + ":")
    while at > 0 and text[at - 1] != "\n":
        at = text.find(key + ":", at + 1)
    if at < 0:
        return None
    end = text.find("\n", at)
    return text[at + len(key) + 1: end if end >= 0 else len(text)].strip()


def parse_stat(text: str) -> Stat:
    """Split at the last ')': the comm may itself contain ')' and spaces (psutil's rule)."""
    left, sep, right = text.rpartition(")")
    if not sep or "(" not in left:
        raise ValueError("no '(comm)' in stat")
    comm = left.split("(", 1)[1]
    fields = right.split()
    if len(fields) < 20:
        raise ValueError("stat has too few fields")
    # fields[0] is field 3 of proc(5): the state letter (R S D Z T t X I...), then ppid, ..., flags (9).
    return Stat(comm, fields[0], to_int(fields[1]), to_int(fields[6]), to_int(fields[7]), to_int(fields[9]),
                to_int(fields[19]), to_int(fields[21]) if len(fields) > 21 else None)


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo -> {field: bytes}; HugePages_* counts stay counts."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        parts = value.split()
        if not sep or not parts or not is_uint(parts[0]):  # '²'.isdigit() is True
            continue
        n = int(parts[0])
        out[key.strip()] = n * 1024 if len(parts) > 1 and parts[1] == "kB" else n
    return out


def parse_vmstat(text: str) -> dict[str, int]:
    """/proc/vmstat -> {counter: value} (pages or events, as the kernel counts them)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        value = value.strip()
        if key and value.isascii() and value.isdigit():
            out[key] = int(value)
    return out


def parse_uptime(text: str) -> float:
    """Seconds since boot from /proc/uptime (its first field; CLOCK_BOOTTIME).

    Raises:
        ValueError: not an uptime line.
    """
    first = text.split(None, 1)[0] if text.strip() else ""
    if not first.replace(".", "", 1).isascii() or not first.replace(".", "", 1).isdigit():
        raise ValueError(f"not an uptime: {text[:40]!r}")
    return float(first)


def memory_cgroup(text: str) -> str | None:
    """The process's memory cgroup from /proc/PID/cgroup: the v1 ``memory`` controller's line, else v2's
    ``0::`` line (cgroups(7): ``hierarchy-ID:controller-list:cgroup-path``). Hybrid hosts (memory in v1,
    like this VM) list both."""
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if "memory" in parts[1].split(","):
            return parts[2]
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
    return v2


def parse_cmdline(data: bytes) -> list[str]:
    return [a.decode("utf-8", "surrogateescape") for a in data.rstrip(b"\0").split(b"\0")] if data else []
