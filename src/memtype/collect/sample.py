"""A whole machine (or chosen PIDs) -> Sample: what was read, before classification (``model.sample``).

The readers and the race policy are ``collect.process``'s, as for ``collect.scan``: a process that
exits mid-read is skipped "gone", a kernel thread "kernel", a zombie "zombie". ``memtype ps`` does
not go through a Sample: it classifies each smaps in compiled code as it is read and keeps nothing
of it (peak RSS stays flat). A Sample keeps every process's smaps as rows instead, for
``model.derive`` (the model plus deltas), a continuous sampler and history. With ``cgroups=True`` it
holds the memory cgroups' files too (``collect.cgroups.read_cgroups_sample``), read before the processes.

Cost, measured on a 2-CPU VM (6.18): parsing and packing add about 1.8 µs per mapping to the ~16 µs
the kernel takes to print it (read_sample ~1.2x the CPU of scan); a Sample takes ~250 bytes per mapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from memtype.collect.cgroups import find_hierarchy, read_cgroups_sample
from memtype.collect.process import read_cgroup, read_exe, read_identity, user_of
from memtype.collect.scan import in_parallel, default_jobs, host_info, open_root, shmem_devs, skip_for
from memtype.errors import MemtypeError, NoSuchProcess, ParseError
from memtype.model.cgroups import Hierarchy
from memtype.model.records import Skipped
from memtype.model.sample import Counters, ProcessSample, Sample, SmapsRows
from memtype.parse.cgroupfiles import parse_pressure
from memtype.parse.procfiles import parse_meminfo, parse_status_memory, parse_uptime, parse_vmstat, status_state
from memtype.parse.smaps import parse_smaps
from memtype.parse.zoneinfo import Zone, parse_zoneinfo
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

SmapsWanted = Callable[[ProcessSample], bool]


def read_sample(root: str | Root = "/", pids: Iterable[int] | None = None, *, smaps: bool | SmapsWanted = True,
                exe: bool = False, cgroup: bool = False, cgroups: bool | Hierarchy = False,
                jobs: int | None = None, gpu: bool = False) -> Sample:
    """The machine as read now: system files, and every process's identity, counters and smaps rows.

    Args:
        root: "/" (this machine), a capture directory or ``.tar.gz``, or an open Root.
        pids: only these processes; a PID that does not exist raises NoSuchProcess.
        smaps: read every process's smaps (True), none (False: counters only), or those for which
            ``smaps(process)`` is true; it gets the process with its fresh counters and no rows, in a
            reader thread (a sampler decides there which processes changed).
        exe: resolve executables. cgroup: read each process's memory cgroup.
        cgroups: read the memory cgroups (``Sample.cgroups``; ``read_system``), before the processes.
        jobs: reader threads (default: up to 4, one per CPU we may run on).
        gpu: read the GPUs too (``Sample.gpu``: ``collect.gpu.read_gpu``, NVML and DRM fdinfo).
    """
    r = open_root(root)
    system = read_system(r, cgroups=cgroups)
    monotonic = system.monotonic
    jobs = default_jobs() if jobs is None else jobs
    wanted = sorted(set(pids)) if pids is not None else r.pids()
    if pids is not None:
        present = set(r.pids())
        for pid in wanted:
            if pid not in present:
                raise NoSuchProcess(pid)
    users: dict[int, str | None] = {}
    interned: dict[Any, Any] = {}  # headers and field lists shared by processes (setdefault is atomic)

    def read_all(part: list[int]) -> list[tuple[int, ProcessSample | Skipped | MemtypeError]]:
        done: list[tuple[int, ProcessSample | Skipped | MemtypeError]] = []
        for pid in part:
            try:
                done.append((pid, read_process_sample(r, pid, users, interned, smaps=smaps, exe=exe, cgroup=cgroup,
                                                      read_at=monotonic)))
            except MemtypeError as exc:
                done.append((pid, exc))
        return done

    processes: dict[tuple[int, int | None], ProcessSample] = {}
    skipped: list[Skipped] = []
    warnings: list[str] = []
    for pid, got in sorted(in_parallel(read_all, wanted, jobs), key=lambda item: item[0]):
        if isinstance(got, ProcessSample):
            processes[got.key] = got
        elif isinstance(got, Skipped):
            skipped.append(got)
        else:
            skip, warning = skip_for(pid, got)
            skipped.append(skip)
            if warning:
                warnings.append(warning)
    warnings.extend(r.warnings)  # what a capture held that memtype refused to read (a symlink, a FIFO)
    if gpu:
        from memtype.collect.gpu import read_gpu  # only when asked: NVML's module is not free to import

        system = system.replace(gpu=read_gpu(r, sorted({k[0] for k in processes})))
    return system.replace(duration=None if not r.live or monotonic is None else _now() - monotonic, users=users,
                          processes=processes, skipped=tuple(skipped), warnings=tuple(warnings))


def read_system(root: str | Root = "/", *, cgroups: bool | Hierarchy = False) -> Sample:
    """The machine's own files (meminfo, vmstat, zoneinfo, PSI, the tmpfs-like mounts) as a Sample with
    no processes: ``read_sample`` adds every process's, a sampler its own selection.

    Args:
        cgroups: also read the memory cgroups (``collect.cgroups.read_cgroups_sample``) of the hierarchy
            found (True) or of this one; ``Sample.cgroups`` stays ``None`` where the root has none.
    """
    r = open_root(root)
    started = _now() if r.live else None
    wall = time.time() if r.live else _capture_time(r)
    monotonic = started if started is not None else _uptime(r)
    host = host_info(r)
    meminfo = _optional(r, "proc/meminfo", parse_meminfo) or {}
    vmstat = _optional(r, "proc/vmstat", parse_vmstat)
    zones = _optional(r, "proc/zoneinfo", parse_zoneinfo)
    psi = _optional(r, "proc/pressure/memory", parse_pressure)
    groups = None
    if cgroups is not False:
        hierarchy = cgroups if isinstance(cgroups, Hierarchy) else _hierarchy(r)
        groups = None if hierarchy is None else read_cgroups_sample(r, hierarchy, page_size=host.page_size)
    return Sample(host, monotonic, wall, None, meminfo, vmstat,
                  None if zones is None else tuple(_zone_dict(z) for z in zones), shmem_devs(r), {}, {}, (), (),
                  None if psi is None else {k: v for k, v in psi.as_dict().items() if v is not None}, groups)


def _hierarchy(r: Root) -> Hierarchy | None:
    """The root's memory hierarchy; ``None`` where it has none (``find_hierarchy`` raised)."""
    try:
        return find_hierarchy(r)
    except MemtypeError:
        return None


def read_process_sample(root: Root, pid: int, users: dict[int, str | None], interned: dict[Any, Any], *,
                        smaps: bool | SmapsWanted = True, exe: bool = False, cgroup: bool = False,
                        read_at: float | None = None) -> ProcessSample | Skipped:
    """One process as read, or why it has no user memory (``Skipped``: "kernel", "zombie").

    Args:
        users: the uid -> name cache. interned: shared headers (``SmapsRows.from_vmas``).
        read_at: the smaps time for a capture (live: the moment of the read).

    Raises:
        ProcessGone, AccessDenied, FileMissing, ParseError: as ``collect.process.read_process``; a
        value out of range in smaps (negative, or 2**64 kB and more) is a ParseError.
    """
    ident = read_identity(root, pid)
    if isinstance(ident, Skipped):
        return ident
    stat = ident.stat
    mem = parse_status_memory(ident.status_text)
    counters = Counters(mem.rss_anon, mem.rss_file, mem.rss_shmem, mem.vm_swap,
                        stat.minflt if stat else None, stat.majflt if stat else None)
    uid = ident.status.uid
    user_of(root, uid, users)
    head = ProcessSample(pid, ident.starttime, ident.comm, uid, ident.ppid,
                         stat.state if stat else status_state(ident.status_text), counters,
                         exe=read_exe(root, pid) if exe else None, cgroup=read_cgroup(root, pid) if cgroup else None)
    if smaps is False or (smaps is not True and not smaps(head)):
        return head
    at = _now() if root.live else read_at
    got = read_smaps_rows(root, pid, interned)
    if got is None:
        return Skipped(pid, "zombie")  # no kernel thread (read_identity): it exited after its stat was read
    rows, problems = got
    return head.replace(smaps=rows, smaps_at=at, problems=problems)


def read_smaps_rows(root: Root, pid: int, interned: dict[Any, Any]) -> tuple[SmapsRows, tuple[str, ...]] | None:
    """A process's smaps as rows, with the damage found in it; ``None`` if it reads empty (a zombie, or
    a kernel thread: the caller has ruled those out by stat, so the process exited meanwhile).

    Raises:
        ProcessGone, AccessDenied, FileMissing: the race policy; ParseError: nothing readable in it, or a
        value out of range (negative, or 2**64 kB and more).
    """
    base = f"proc/{pid}"
    data = root.read_bytes(f"{base}/smaps", pid)
    if not data:
        return None
    parsed = parse_smaps(data)
    problems = tuple(f"{base}/smaps {p}" for p in parsed.problems)
    if not parsed.vmas and problems:
        raise ParseError(f"{base}/smaps", problems[0])
    try:
        return SmapsRows.from_vmas(parsed.names, parsed.vmas, interned), problems
    except OverflowError:
        raise ParseError(f"{base}/smaps", "a value out of range (negative, or 2**64 kB or more)") from None


def _now() -> float:
    """Seconds since boot, suspend included: /proc/uptime's clock, so live and captured samples compare."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _uptime(r: Root) -> float | None:
    try:
        return parse_uptime(r.read_text("proc/uptime"))
    except (MemtypeError, ValueError):
        return None


def _capture_time(r: Root) -> float | None:
    """The capture's manifest time (``2024-05-01T12:00:00Z``, UTC) as Unix time."""
    stamp = r.manifest.get("time")
    if not isinstance(stamp, str):
        return None
    import calendar

    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _optional(r: Root, rel: str, parse: Callable[[str], Any]) -> Any:
    """A system file parsed, or ``None`` where the root lacks it or it cannot be read."""
    try:
        return parse(r.read_text(rel))
    except MemtypeError:
        return None


def _zone_dict(zone: Zone) -> dict[str, Any]:
    return {name: getattr(zone, name) for name in Zone.__slots__}
