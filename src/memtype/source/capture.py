"""``memtype snapshot``: copy the kernel files memtype reads into a tree standing for "/".

Layout follows shared/fixtures: ``proc/PID/{status,stat,statm,smaps,smaps_rollup,cmdline,comm,
cgroup,oom_score,oom_score_adj}``, system files under ``proc/``, memory cgroup files under
``sys/fs/cgroup/``, and ``manifest.json``. Raw files, not results (style.md rule 9), so a later
classifier applies to old captures. ``environ`` is never read. ``exe`` is stored as a text file
holding the link target.

Written safely as root (issue 8): a directory OUT is created by memtype (an existing one is refused)
with mode 0700, and every file in it is created 0600 with ``O_EXCL|O_NOFOLLOW`` through directory
descriptors, so nobody can plant a symlink for root to write through, or read the smaps that /proc
hid from them. A ``.tar.gz`` is written from memory into a ``mkstemp`` file (0600) in OUT's directory,
then linked into place. Each file is read up to the limit a reader accepts from a capture
(safeio.CAPTURE_LIMITS); a longer one is left out with a note.

``redact`` (``snapshot --redact``) drops command lines, keeps only the name of the executable, and
rewrites each file path in smaps to ``/.../NAME`` (redact.py); see there for what stays.

With ``exact`` (``snapshot --exact``), also ``proc/kpageflags.gz`` and ``proc/kpagecount.gz`` for
``system --exact --root``: gzip-compressed (the 50 MiB of each for 24 GiB of RAM became 240 KiB and
83 KiB here), streamed in fixed chunks so memory stays flat however large the machine, and read
right after meminfo and zoneinfo, both at once, so the four are as close in time as they can be.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from memtype._version import __version__
from memtype.errors import MemtypeError, NoSuchProcess
from memtype.source import safeio
from memtype.source.redact import redact_smaps
from memtype.source.sinks import DirSink, Sink, TarSink, publish_archive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import IO

    # A part of the capture a collector writes (``collect.shm_capture.record_shm``): given the sink, the
    # PIDs asked for (None: all) and --redact, it returns the files it wrote and its notes. The command
    # passes them in: source/ stays below collect/.
    Recorder = Callable[[Sink, "list[int] | None", bool], tuple[int, list[str]]]

PER_PID = ("status", "stat", "statm", "smaps", "smaps_rollup", "cmdline", "comm", "cgroup", "oom_score",
           "oom_score_adj")
SYSTEM = ("meminfo", "zoneinfo", "vmstat", "swaps", "buddyinfo", "pagetypeinfo", "version", "uptime", "loadavg",
          "pressure/memory", "sys/kernel/osrelease", "sys/kernel/hostname", "sysvipc/shm", "self/mountinfo")
CGROUP_FILES = ("memory.stat", "memory.current", "memory.max", "memory.swap.current", "memory.swap.max",
                "memory.pressure", "memory.events", "cgroup.procs", "cgroup.controllers",
                "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.memsw.usage_in_bytes",
                "memory.kmem.usage_in_bytes",
                "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control")
KPAGE_FILES = ("kpageflags", "kpagecount")
DAMON_FILES, DAMON_LISTED = 4096, 64  # as collect/damon.py's MAX_FILES and MAX_LISTED
_KPAGE_CHUNK = 8 << 20  # bytes per read: 1M page frames
SCHEMA = "memtype-snapshot/1"


@dataclass
class CaptureReport:
    out: str
    processes: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)


def capture(out: str, *, pids: list[int] | None = None, redact: bool = False, proc: str = "/proc",
            cgroup: str = "/sys/fs/cgroup", exact: bool = False, recorders: Sequence[Recorder] = ()) -> CaptureReport:
    """Capture this machine into ``out`` (a new directory, or a .tar.gz path).

    ``recorders`` write further parts (the shared-memory objects of ``memtype shm``) after the files.

    Raises:
        NoSuchProcess: a PID in ``pids`` does not exist.
        MemtypeError: ``out`` exists or cannot be written, or none of ``pids`` could be read.
    """
    archive = out.endswith((".tar.gz", ".tgz"))
    if os.path.lexists(out):
        raise MemtypeError(f"{out!r} already exists; give a new directory or .tar.gz path")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise MemtypeError(f"cannot write {out!r}: {parent} is not a directory")
    for pid in pids or ():
        if not os.path.isdir(os.path.join(proc, str(pid))):
            raise NoSuchProcess(pid)
    if exact:
        _check_kpage(proc)
    report = CaptureReport(out)
    sink: Sink | None = None
    try:
        sink = TarSink(parent, os.path.basename(out)) if archive else DirSink(out)
        _capture_tree(sink, report, pids, redact, proc, cgroup, exact)
        for recorder in recorders:
            files, lines = recorder(sink, pids, redact)
            report.files += files
            report.notes.extend(lines)
        if pids is not None and report.processes == 0:
            raise MemtypeError(f"none of the PIDs {', '.join(map(str, pids))} could be read (they exited?)")
        sink.finish()
        if isinstance(sink, TarSink):
            publish_archive(sink.tmp_path, out)
    except OSError as exc:
        if sink is not None:
            sink.discard()
        raise MemtypeError(f"cannot write snapshot {out!r}: {exc.strerror or exc}") from None
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    if report.too_large:
        report.notes.append(f"left out as larger than a capture may hold: {', '.join(report.too_large[:5])}"
                            + (f" and {len(report.too_large) - 5} more" if len(report.too_large) > 5 else ""))
    return report


def _read(src: str, report: CaptureReport, rel: str) -> bytes | None:
    """A kernel file, bounded as a reader will bound it; None if it cannot be read."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return safeio.read_fd(fd, safeio.limit_for(rel, live=False))
    except safeio.TooLarge:
        report.too_large.append(rel)
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def _copy(sink: Sink, report: CaptureReport, src: str, rel: str, redact_paths: bool = False) -> bool:
    data = _read(src, report, rel)
    if data is None:
        return False
    sink.add(rel, redact_smaps(data) if redact_paths else data)
    return True


def _check_kpage(proc: str) -> None:
    for name in KPAGE_FILES:
        path = os.path.join(proc, name)
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except PermissionError:
            raise MemtypeError(f"snapshot --exact reads {path}, which only root can read (mode 0400)") from None
        except OSError as exc:
            raise MemtypeError(f"snapshot --exact: cannot read {path}: {exc.strerror}") from None


def _copy_gz(src: str, dst: IO[bytes]) -> int:
    """Stream ``src`` into the binary file ``dst`` (gzip) in fixed chunks; the bytes read."""
    import gzip

    buf = bytearray(_KPAGE_CHUNK)
    view = memoryview(buf)
    total = 0
    with open(src, "rb", buffering=0) as fin, gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=6) as fout:
        while True:
            n = fin.readinto(buf)
            if not n:
                break
            fout.write(view[:n])
            total += n
    return total


def _capture_kpage(proc: str, sink: Sink) -> None:
    """Both files at once (two threads; the reads and zlib drop the GIL); they must be equally long."""
    from concurrent.futures import ThreadPoolExecutor

    streams = [sink.stream(f"proc/{name}.gz") for name in KPAGE_FILES]
    with ThreadPoolExecutor(max_workers=len(KPAGE_FILES)) as pool:
        sizes = list(pool.map(lambda i: _copy_gz(os.path.join(proc, KPAGE_FILES[i]), streams[i]),
                              range(len(KPAGE_FILES))))
    for name, stream in zip(KPAGE_FILES, streams):
        sink.end_stream(f"proc/{name}.gz", stream)
    if len(set(sizes)) != 1:
        raise MemtypeError(f"snapshot --exact: {' and '.join(KPAGE_FILES)} gave {sizes} bytes (not equal)")


def _capture_tree(sink: Sink, report: CaptureReport, pids: list[int] | None, redact: bool, proc: str,
                  cgroup: str, exact: bool = False) -> None:
    for rel in SYSTEM:
        report.files += _copy(sink, report, os.path.join(proc, rel), f"proc/{rel}")
        if rel == "zoneinfo" and exact:  # page frames right after meminfo + zoneinfo, as `system --exact` reads
            _capture_kpage(proc, sink)
            report.files += len(KPAGE_FILES)
    for name in sorted(os.listdir(os.path.join(proc, "sys/vm"))):
        report.files += _copy(sink, report, os.path.join(proc, "sys/vm", name), f"proc/sys/vm/{name}")
    report.files += _capture_swap_devices(sink, report)
    report.files += _capture_damon(sink, report)
    wanted = pids if pids is not None else sorted(int(n) for n in os.listdir(proc) if n.isascii() and n.isdigit())
    uids: set[int] = set()
    unreadable = 0
    for pid in wanted:
        src = os.path.join(proc, str(pid))
        got = 0
        has_smaps = False
        for name in PER_PID:
            if redact and name == "cmdline":
                continue
            copied = _copy(sink, report, os.path.join(src, name), f"proc/{pid}/{name}",
                           redact_paths=redact and name == "smaps")
            got += copied
            has_smaps |= copied and name == "smaps"
        if not got:
            continue  # exited before we got to it
        try:
            target = os.readlink(os.path.join(src, "exe"))
            sink.add(f"proc/{pid}/exe", (os.path.basename(target) if redact else target).encode(
                "utf-8", "surrogateescape"))
            got += 1
        except OSError:
            pass
        if not has_smaps:
            unreadable += 1
        try:
            uids.add(os.stat(src).st_uid)
        except OSError:
            pass
        report.processes += 1
        report.files += got
    report.files += _capture_cgroups(sink, report, cgroup)
    if unreadable:
        report.notes.append(f"smaps of {unreadable} process{'es' if unreadable != 1 else ''} could not be read "
                            "(run as root for all)")
    _write_manifest(sink, uids, redact, report, exact)


def _capture_swap_devices(sink: Sink, report: CaptureReport) -> int:
    """zswap's parameters and zram's statistics (``memtype swap`` on a capture)."""
    files = 0
    zswap = "/sys/module/zswap/parameters"
    if os.path.isdir(zswap):
        for name in sorted(os.listdir(zswap)):
            files += _copy(sink, report, os.path.join(zswap, name), f"{zswap.lstrip('/')}/{name}")
    if os.path.isdir("/sys/block"):
        for dev in sorted(os.listdir("/sys/block")):
            if dev.startswith("zram"):
                for name in ("mm_stat", "disksize", "comp_algorithm"):
                    files += _copy(sink, report, os.path.join("/sys/block", dev, name), f"sys/block/{dev}/{name}")
    return files + _capture_lru_gen(sink, report)


def _capture_lru_gen(sink: Sink, report: CaptureReport) -> int:
    """Whether MGLRU runs (``pressure`` and ``swap`` warn: their classic-LRU swappiness rule does not apply)."""
    path = "/sys/kernel/mm/lru_gen/enabled"
    return _copy(sink, report, path, path.lstrip("/")) if os.path.exists(path) else 0


def _capture_damon(sink: Sink, report: CaptureReport, base: str = "/sys") -> int:
    """DAMON's sysfs tree and module parameters (``memtype reclaim --root``; collect/damon.py reads them
    back with the same caps: at most DAMON_FILES files, DAMON_LISTED entries of a long list, no link)."""
    files = 0
    tops = [os.path.join(base, "kernel/mm/damon/admin")] + [os.path.join(base, "module", m, "parameters")
                                                            for m in ("damon_reclaim", "damon_lru_sort", "damon_stat")]
    for top in tops:
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for dirpath, dirnames, filenames in os.walk(top):  # os.walk follows no directory link
            if os.path.basename(dirpath) in ("tried_regions", "regions"):
                dirnames[:] = sorted((d for d in dirnames if d.isdigit()), key=int)[:DAMON_LISTED] + \
                    [d for d in dirnames if not d.isdigit()]
            for name in sorted(filenames):
                if files >= DAMON_FILES:
                    report.notes.append(f"the DAMON tree was cut at its first {DAMON_FILES} files")
                    return files
                src = os.path.join(dirpath, name)
                if os.path.islink(src) or name == "memory_idle_ms_percentiles":
                    continue
                files += _copy(sink, report, src, "sys/" + os.path.relpath(src, base))
    return files


def _capture_cgroups(sink: Sink, report: CaptureReport, src_root: str) -> int:
    """Every cgroup directory with memory files (v2, or the v1 memory hierarchy), with its procs."""
    files = 0
    if not os.path.isdir(src_root):
        return 0
    for dirpath, _, filenames in os.walk(src_root):
        present = set(filenames)
        if not any(n.startswith("memory.") for n in present):
            continue
        rel = os.path.relpath(dirpath, src_root)
        dst = "sys/fs/cgroup" if rel == "." else f"sys/fs/cgroup/{rel}"
        for name in CGROUP_FILES:
            if name in present:
                files += _copy(sink, report, os.path.join(dirpath, name), f"{dst}/{name}")
    return files


def _write_manifest(sink: Sink, uids: set[int], redact: bool, report: CaptureReport, exact: bool = False) -> None:
    import pwd

    users = {}
    for uid in sorted(uids):
        try:
            users[str(uid)] = pwd.getpwuid(uid).pw_name
        except KeyError:
            pass
    u = os.uname()
    manifest = {
        "schema": SCHEMA, "memtype_version": __version__, "kernel": u.release, "hostname": u.nodename,
        "machine": u.machine, "page_size": os.sysconf("SC_PAGE_SIZE"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "captured_by_uid": os.getuid(),
        "redacted": redact, "processes": report.processes, "users": users, "exact": exact,
    }
    sink.add("manifest.json", json.dumps(manifest, indent=1).encode())
    report.files += 1
