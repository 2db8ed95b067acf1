"""A raw Sample of a machine: what was read, before classification (style.md rule 9, review anchor B).

``memtype.collect.sample.read_sample`` fills it from a Root; ``memtype.model.derive.derive`` turns
it (and the previous one) into the classified model. A Sample holds inputs, never kinds: the split
into kinds is not linear per smaps entry (``model/classify.py``: the copy-on-write estimate takes a
``min`` per entry), so per-kind sums could not be re-derived by a newer classifier, but these rows can.

Per process it keeps its identity ``(pid, starttime)`` (``ProcessKey``: a reused PID is another
process), comm, uid, ppid and state, the cheap counters of status and stat (``Counters``: what a
sampler reads every tick), and its smaps as numbers (``SmapsRows``: every ``kB`` field of every
entry, with the entry's header), or ``None`` where its smaps was not read in this sample. Command
lines are never kept (they may hold secrets); nor are environments.

Memory: a ``SmapsRows`` entry is one row of an ``array('Q')`` (8 bytes per field, 26 fields on 6.x)
plus a reference to an interned header. A whole Sample takes about 250 bytes per mapping (tracemalloc,
1000 processes, 58,000 mappings: 14 MB), a third of what the parsed tuples take.
``to_dict``/``from_dict`` give a JSON-ready form that round-trips exactly: headers and field-name
lists are stored once per sample, each entry is a run of integers.
"""

from __future__ import annotations

from array import array

from memtype.model.frozen import FrozenValue, fill
from memtype.model.records import HostInfo, Skipped
from memtype.parse.smaps import RawVma

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    ProcessKey = tuple[int, "int | None"]  # (pid, starttime); starttime is None only in a capture without stat
    Header = tuple[str, str, str, str]  # an smaps entry's perms, dev, path, vmflags

SCHEMA = "memtype-sample/1"
ENTRY_COLUMNS = ("start", "end", "offset", "inode")  # the numbers of an entry before its smaps fields
COUNTERS = ("rss_anon", "rss_file", "rss_shmem", "vm_swap", "minflt", "majflt")


class Counters(FrozenValue):
    """The cheap per-process figures: status ``RssAnon``, ``RssFile``, ``RssShmem``, ``VmSwap`` (bytes)
    and stat's minor and major page faults (counts since the process started). ``None``: not reported."""

    __slots__ = COUNTERS

    def __init__(self, rss_anon: int | None, rss_file: int | None, rss_shmem: int | None, vm_swap: int | None,
                 minflt: int | None, majflt: int | None) -> None:
        fill(self, rss_anon, rss_file, rss_shmem, vm_swap, minflt, majflt)

    rss_anon: int | None
    rss_file: int | None
    rss_shmem: int | None
    vm_swap: int | None
    minflt: int | None
    majflt: int | None

    def as_tuple(self) -> tuple[int | None, ...]:
        return (self.rss_anon, self.rss_file, self.rss_shmem, self.vm_swap, self.minflt, self.majflt)


class SmapsRows(FrozenValue):
    """One process's smaps as numbers: the classifier's input, compact.

    ``names`` are the ``kB`` fields in file order (``SmapsText.names``); ``headers[i]`` is entry i's
    (perms, dev, path, vmflags); ``numbers`` holds, per entry, ``ENTRY_COLUMNS`` then one value per
    name (kB), ``width`` numbers in all.
    """

    __slots__ = ("names", "headers", "numbers")

    names: tuple[str, ...]
    headers: tuple[Header, ...]
    numbers: array[int]

    def __init__(self, names: tuple[str, ...], headers: tuple[Header, ...], numbers: array[int]) -> None:
        if len(numbers) != len(headers) * (len(ENTRY_COLUMNS) + len(names)):
            raise ValueError(f"{len(numbers)} numbers for {len(headers)} entries of {len(names)} fields")
        fill(self, names, headers, numbers)

    @classmethod
    def from_vmas(cls, names: tuple[str, ...], vmas: Sequence[RawVma],
                  interned: dict[Any, Any] | None = None) -> SmapsRows:
        """Pack parsed entries. ``interned`` shares equal headers and name tuples between processes.

        Raises:
            OverflowError: a value below 0 or at or above 2**64 (a damaged or hostile smaps).
        """
        pool: dict[Any, Any] = {} if interned is None else interned
        names = pool.setdefault(names, names)
        headers = []
        flat: list[int] = []
        for v in vmas:
            header = (v[2], v[4], v[6], v[7])
            headers.append(pool.setdefault(header, header))
            flat += (v[0], v[1], v[3], v[5])
            flat += v[8]
        return cls(names, tuple(headers), array("Q", flat))

    @property
    def width(self) -> int:
        return len(ENTRY_COLUMNS) + len(self.names)

    def __len__(self) -> int:
        return len(self.headers)

    def vmas(self) -> list[RawVma]:
        """The entries as the smaps parser gives them (``Classifier.split``'s input)."""
        n, w = self.numbers.tolist(), self.width
        make = tuple.__new__  # RawVma(...) without namedtuple's Python-level __new__: half the time
        return [make(RawVma, (n[i], n[i + 1], h[0], n[i + 2], h[1], n[i + 3], h[2], h[3], tuple(n[i + 4:i + w])))
                for i, h in zip(range(0, len(n), w), self.headers)]


class ProcessSample(FrozenValue):
    """One process as read: identity, counters, and its smaps rows (``None``: not read this time).

    ``smaps_at`` is when its smaps was read (``Sample.monotonic``'s clock): a sampler that carries a
    process's rows forward keeps their time, so their age is known.
    """

    __slots__ = ("pid", "starttime", "comm", "uid", "ppid", "state", "counters", "smaps", "smaps_at", "exe",
                 "cgroup", "problems")

    pid: int
    starttime: int | None
    comm: str
    uid: int | None
    ppid: int | None
    state: str | None
    counters: Counters
    smaps: SmapsRows | None
    smaps_at: float | None
    exe: str | None
    cgroup: str | None
    problems: tuple[str, ...]

    def __init__(self, pid: int, starttime: int | None, comm: str, uid: int | None, ppid: int | None,
                 state: str | None, counters: Counters, smaps: SmapsRows | None = None,
                 smaps_at: float | None = None, exe: str | None = None, cgroup: str | None = None,
                 problems: tuple[str, ...] = ()) -> None:
        fill(self, pid, starttime, comm, uid, ppid, state, counters, smaps, smaps_at, exe, cgroup, problems)

    @property
    def key(self) -> ProcessKey:
        """``(pid, starttime)``: the process's identity across samples."""
        return (self.pid, self.starttime)


class Sample(FrozenValue):
    """The machine as read at one moment.

    Attributes:
        host: the machine. monotonic: seconds since boot when the read began (CLOCK_BOOTTIME, the
            clock of /proc/uptime and of stat's starttime; a capture's proc/uptime), ``None`` if unknown.
        wall: Unix time when the read began (a capture's manifest time), ``None`` if unknown.
        duration: seconds the read took (``None`` for a capture).
        meminfo: /proc/meminfo, bytes (HugePages_* counts stay counts). vmstat: /proc/vmstat counters
            (``None``: not read). zoneinfo: one dict per zone (``memtype.parse.zoneinfo.Zone``'s fields).
        shmem_devs: devices of tmpfs-like mounts (the classifier's input, from mountinfo).
        users: uid -> user name for the uids seen (``None``: no name).
        processes: by ``ProcessKey``, in PID order. skipped: processes not read, and why.
        warnings: damage found while reading.
        pressure: /proc/pressure/memory (PSI, Documentation/accounting/psi.rst): ``{"some": {"avg10": %,
            "avg60", "avg300", "total": µs}, "full": {...}}``; ``None`` where the kernel has no PSI (before
            4.20, or ``psi=0``) or a capture lacks the file. A line the kernel does not print is absent.
    """

    __slots__ = ("host", "monotonic", "wall", "duration", "meminfo", "vmstat", "zoneinfo", "shmem_devs", "users",
                 "processes", "skipped", "warnings", "pressure")

    host: HostInfo
    monotonic: float | None
    wall: float | None
    duration: float | None
    meminfo: dict[str, int]
    vmstat: dict[str, int] | None
    zoneinfo: tuple[dict[str, Any], ...] | None
    shmem_devs: frozenset[str]
    users: dict[int, str | None]
    processes: dict[ProcessKey, ProcessSample]
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]
    pressure: dict[str, dict[str, float]] | None

    def __init__(self, host: HostInfo, monotonic: float | None, wall: float | None, duration: float | None,
                 meminfo: dict[str, int], vmstat: dict[str, int] | None, zoneinfo: tuple[dict[str, Any], ...] | None,
                 shmem_devs: frozenset[str], users: dict[int, str | None], processes: dict[ProcessKey, ProcessSample],
                 skipped: tuple[Skipped, ...] = (), warnings: tuple[str, ...] = (),
                 pressure: dict[str, dict[str, float]] | None = None) -> None:
        fill(self, host, monotonic, wall, duration, meminfo, vmstat, zoneinfo, shmem_devs, users, processes,
             skipped, warnings, pressure)
