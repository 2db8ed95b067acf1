"""A whole machine (or chosen PIDs) -> Scan. Bulk views degrade, never fail (style.md rule 6)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from memtype.collect.process import SmapsVisitor, read_process
from memtype.errors import (AccessDenied, FileMissing, MemtypeError, NoSuchProcess, NotProvided, ParseError,
                            ProcessGone)
from memtype.model.classify import Classifier
from memtype.model.records import HostInfo, ProcessMemory, Scan, Skipped
from memtype.parse.mountinfo import parse_mountinfo, shmem_devices
from memtype.parse.smaps import absent_fields, kernel_page_size
from memtype.source.root import Root


TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def open_root(root: str | Root) -> Root:
    return root if isinstance(root, Root) else Root(root)


def scan(root: str | Root = "/", pids: Iterable[int] | None = None, *, mappings: bool = False,
         cmdline: bool = False, exe: bool = False, jobs: int | None = None,
         visit: SmapsVisitor | None = None, cgroup: bool = False) -> Scan:
    """Every process's memory split into the five kinds.

    Args:
        root: "/" (this machine), a capture directory, a ``.tar.gz`` capture, or an open Root.
        pids: only these processes; a PID that does not exist raises NoSuchProcess.
        mappings: keep each process's mappings (``memtype maps``).
        cmdline: read command lines. exe: resolve executables (``--group program``).
        jobs: reader threads (default: up to 4, one per CPU we may run on).
        visit: called with each process and its smaps bytes, in the reader thread (``--exact``).
        cgroup: read each process's memory cgroup (``ProcessMemory.cgroup``).

    Returns:
        The processes that could be read; the others are in ``Scan.skipped`` with the reason.
    """
    r = open_root(root)
    jobs = default_jobs() if jobs is None else jobs
    classifier = Classifier(shmem_devs(r))
    users: dict[int, str | None] = {}
    host = host_info(r)
    wanted = sorted(set(pids)) if pids is not None else r.pids()
    if pids is not None:
        present = set(r.pids())
        for pid in wanted:
            if pid not in present:
                raise NoSuchProcess(pid)

    first: list[bytes] = []  # one smaps text: which fields this kernel prints (HostInfo.smaps_absent)

    def note_fields(proc: ProcessMemory, data: bytes) -> None:
        if not first:
            first.append(data[:16384])
        if visit is not None:
            visit(proc, data)

    def read_all(pids_part: list[int]) -> list[tuple[int, ProcessMemory | Skipped | MemtypeError]]:
        done: list[tuple[int, ProcessMemory | Skipped | MemtypeError]] = []
        for pid in pids_part:
            try:
                done.append((pid, read_process(r, pid, classifier, users, mappings=mappings, cmdline=cmdline,
                                               exe=exe, visit=note_fields, cgroup=cgroup)))
            except MemtypeError as exc:
                done.append((pid, exc))
        return done

    processes: list[ProcessMemory] = []
    skipped: list[Skipped] = []
    warnings: list[str] = [host.page_size_note] if host.page_size_note else []
    for pid, got in sorted(in_parallel(read_all, wanted, jobs), key=lambda item: item[0]):
        if isinstance(got, ProcessMemory):
            processes.append(got)
        elif isinstance(got, Skipped):
            skipped.append(got)
        else:
            skip, warning = skip_for(pid, got)
            skipped.append(skip)
            if warning:
                warnings.append(warning)
    for p in processes:
        warnings.extend(p.problems)
    warnings.extend(r.warnings)  # what a capture held that memtype refused to read (a symlink, a FIFO)
    if first:
        host = HostInfo(host.hostname, host.kernel, host.page_size, host.captured_at, host.root, host.live,
                        host.page_size_note, smaps_absent=absent_fields(first[0]))
    return Scan(host, processes, skipped, warnings)


def skip_for(pid: int, error: MemtypeError) -> tuple[Skipped, str | None]:
    """The race policy's verdict on a read error: why the process is skipped, and a warning if it is news."""
    if isinstance(error, ProcessGone):
        return Skipped(pid, "gone", error.path), None
    if isinstance(error, AccessDenied):
        return Skipped(pid, "denied", error.path), None
    if isinstance(error, FileMissing) and not isinstance(error, NotProvided):  # NotProvided: an error, warned
        return Skipped(pid, "not captured", error.path), None
    if isinstance(error, ParseError):
        return Skipped(pid, "unreadable", error.path), str(error)
    return Skipped(pid, "error", str(error)), str(error)


def default_jobs() -> int:
    """Readers to run at once: the kernel formats smaps on the CPU of the reading thread, so two
    threads on two CPUs halve the wall time; more than 4 only adds contention."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def in_parallel(work: Callable[[list[int]], list[T]], pids: list[int], jobs: int) -> list[T]:
    """Run ``work`` over interleaved shares of ``pids`` in ``jobs`` threads (os.read drops the GIL)."""
    if jobs <= 1 or len(pids) < 32:
        return work(pids)
    import threading

    shares = [pids[i::jobs] for i in range(jobs)]
    results: list[list[T]] = [[] for _ in shares]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(shares[i])
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(1, jobs)]
    for t in threads:
        t.start()
    run(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [item for part in results for item in part]


def shmem_devs(root: Root) -> frozenset[str]:
    """tmpfs-like devices from mountinfo (the capture's, or this machine's init namespace)."""
    for rel in ("proc/self/mountinfo", "proc/1/mountinfo"):
        try:
            return shmem_devices(parse_mountinfo(root.read_text(rel)))
        except MemtypeError:
            continue
    return frozenset()


def host_info(root: Root) -> HostInfo:
    m = root.manifest
    if root.live:
        u = os.uname()
        return HostInfo(u.nodename, u.release, os.sysconf("SC_PAGE_SIZE"), None, "/", True)
    kernel = m.get("kernel")
    hostname = m.get("hostname")
    if kernel is None:
        try:
            kernel = root.read_text("proc/sys/kernel/osrelease").strip()
        except MemtypeError:
            try:
                parts = root.read_text("proc/version").split()
                kernel = parts[2] if len(parts) > 2 else None
            except MemtypeError:
                kernel = None
    if hostname is None:
        try:
            hostname = root.read_text("proc/sys/kernel/hostname").strip()
        except MemtypeError:
            hostname = None
    page, note = capture_page_size(root)
    return HostInfo(hostname if isinstance(hostname, str) else None, kernel if isinstance(kernel, str) else None,
                    page, str(m["time"]) if "time" in m else None, root.source, False, page_size_note=note)


ASSUMED_PAGE = 4096  # x86-64 has no other base page; arm64 kernels are built with 4K, 16K or 64K pages


def capture_page_size(root: Root) -> tuple[int, str | None]:
    """The captured machine's page size: the manifest's (``snapshot`` records sysconf(_SC_PAGE_SIZE)),
    else the smallest KernelPageSize of the first process smaps in the capture, else 4 KiB with a note."""
    page = root.manifest.get("page_size")
    if isinstance(page, int) and _is_page_size(page):
        return page, None
    for pid in root.pids():
        try:
            found = kernel_page_size(root.read_bytes(f"proc/{pid}/smaps", pid))
        except MemtypeError:
            continue
        if found is not None and _is_page_size(found):
            return found, None
    return ASSUMED_PAGE, (f"the capture does not say its page size (no manifest page_size, no smaps "
                          f"KernelPageSize): {ASSUMED_PAGE} bytes assumed")


def _is_page_size(n: int) -> bool:
    return 1024 <= n <= 1 << 20 and n & (n - 1) == 0
