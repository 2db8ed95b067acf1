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

Memory cgroups (``Sample.cgroups``, when asked for) are kept as read too: per cgroup its memory.stat as
a dict and the one-number files (``CgroupSample``); ``model.cgroup_tree`` maps them onto the kinds.
"""

from __future__ import annotations

from array import array

from memtype.model.frozen import FrozenValue, fill
from memtype.model.gpu_sample import GpuSample
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


class CgroupSample(FrozenValue):
    """One memory cgroup's files as read (bytes and counts as the kernel prints them; ``None``: absent,
    unreadable or removed meanwhile, named in ``problems`` where it was there but could not be read).

    ``path`` is relative to the hierarchy root ("/" for the root). ``stat`` is memory.stat whole (v1: its
    own and ``total_*`` fields; kernel-spec.md D.1, D.2); ``None``: unreadable. The rest, v2 | v1:

    - ``current``: memory.current | memory.usage_in_bytes (the v2 root has none).
    - ``limit``: memory.max | memory.limit_in_bytes; ``high``: memory.high | -. ``None`` is "no limit"
      (v2 ``max``, v1 PAGE_COUNTER_MAX: ``parse.cgroupfiles.v1_unlimited``), or unknown: a file absent
      (the root cgroup has none) or, with a ``problems`` line, unreadable.
    - ``swap_current``, ``swap_limit``: memory.swap.current, memory.swap.max | - (v1 counts swap in
      ``stat`` ``total_swap``, and memory+swap in ``memsw``/``memsw_limit``: memory.memsw.usage_in_bytes,
      memory.memsw.limit_in_bytes, present with swap accounting only).
    - ``kmem``: - | memory.kmem.usage_in_bytes (not read at the v1 root: its usage holds no kmem).
    - ``events``: memory.events (``oom``, ``oom_kill``, ``max``, ``high``...) | memory.oom_control
      (``oom_kill_disable``, ``under_oom``, ``oom_kill``).
    - ``pressure``: memory.pressure as ``Sample.pressure``; the root cgroup's is the machine's PSI
      (psi.rst): its memory.pressure, else /proc/pressure/memory, else the v2 root's beside v1 (v1 has
      no PSI per cgroup: ``None`` below its root).
    - ``procs``: cgroup.procs, the cgroup's own member PIDs (``None``: absent, denied or damaged).
    - ``problems``: the files that were there but could not be read or parsed, one line each
      (``"memory.max: not a number: 'x'"``); ``model.cgroup_tree`` turns them into warnings.

    memory.memsw.usage_in_bytes is read only where memory.stat has no swap counter (it is the
    fallback; ``total_swap`` is the better figure). ~3.5 KiB of memory per cgroup (v1: ~42 stat fields).
    """

    __slots__ = ("path", "stat", "current", "limit", "high", "swap_current", "swap_limit", "memsw", "memsw_limit",
                 "kmem", "events", "pressure", "procs", "problems")

    path: str
    stat: dict[str, int] | None
    current: int | None
    limit: int | None
    high: int | None
    swap_current: int | None
    swap_limit: int | None
    memsw: int | None
    memsw_limit: int | None
    kmem: int | None
    events: dict[str, int] | None
    pressure: dict[str, dict[str, float]] | None
    procs: tuple[int, ...] | None
    problems: tuple[str, ...]

    def __init__(self, path: str, stat: dict[str, int] | None, current: int | None = None, limit: int | None = None,
                 high: int | None = None, swap_current: int | None = None, swap_limit: int | None = None,
                 memsw: int | None = None, memsw_limit: int | None = None, kmem: int | None = None,
                 events: dict[str, int] | None = None, pressure: dict[str, dict[str, float]] | None = None,
                 procs: tuple[int, ...] | None = None, problems: tuple[str, ...] = ()) -> None:
        fill(self, path, stat, current, limit, high, swap_current, swap_limit, memsw, memsw_limit, kmem, events,
             pressure, procs, problems)


class CgroupsSample(FrozenValue):
    """The memory hierarchy as read: where it lives (``version`` 1 or 2, ``rel``: its directory inside
    the Root, ``hybrid``: v1 memory beside a cgroup2 mount; ``model.cgroups.Hierarchy``), every cgroup
    with the memory controller by path, parents first and siblings by name, and ``gone``: cgroups
    removed between listing and reading (skipped, not an error)."""

    __slots__ = ("version", "rel", "hybrid", "groups", "gone")

    version: int
    rel: str
    hybrid: bool
    groups: dict[str, CgroupSample]
    gone: int

    def __init__(self, version: int, rel: str, hybrid: bool, groups: dict[str, CgroupSample], gone: int = 0) -> None:
        fill(self, version, rel, hybrid, groups, gone)


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
        cgroups: the memory cgroups (``CgroupsSample``); ``None``: not read (not asked for, or the root
            has no memory hierarchy).
        gpu: the GPUs as read (``model.gpu_sample.GpuSample``: NVML's answers, DRM fdinfo); ``None``:
            not read (not asked for; older documents).
        damon: DAMON's sysfs tree as read (``collect.damon.read_damon``: nested dicts of the files' text,
            ``model.damon.damon_state`` reads it); ``None``: not read (not asked for; no DAMON; older documents).
    """

    __slots__ = ("host", "monotonic", "wall", "duration", "meminfo", "vmstat", "zoneinfo", "shmem_devs", "users",
                 "processes", "skipped", "warnings", "pressure", "cgroups", "gpu", "damon")

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
    cgroups: CgroupsSample | None
    gpu: GpuSample | None
    damon: dict[str, Any] | None

    def __init__(self, host: HostInfo, monotonic: float | None, wall: float | None, duration: float | None,
                 meminfo: dict[str, int], vmstat: dict[str, int] | None, zoneinfo: tuple[dict[str, Any], ...] | None,
                 shmem_devs: frozenset[str], users: dict[int, str | None], processes: dict[ProcessKey, ProcessSample],
                 skipped: tuple[Skipped, ...] = (), warnings: tuple[str, ...] = (),
                 pressure: dict[str, dict[str, float]] | None = None, cgroups: CgroupsSample | None = None,
                 gpu: GpuSample | None = None, damon: dict[str, Any] | None = None) -> None:
        fill(self, host, monotonic, wall, duration, meminfo, vmstat, zoneinfo, shmem_devs, users, processes,
             skipped, warnings, pressure, cgroups, gpu, damon)
