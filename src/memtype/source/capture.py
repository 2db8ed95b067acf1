"""``memtype snapshot``: copy the kernel files memtype reads into a tree standing for "/".

Layout follows shared/fixtures: ``proc/PID/{status,stat,statm,smaps,smaps_rollup,cmdline,comm,
cgroup,oom_score,oom_score_adj}``, system files under ``proc/``, memory cgroup files under
``sys/fs/cgroup/``, and ``manifest.json``. Raw files, not results (style.md rule 9), so a later
classifier applies to old captures. ``environ`` is never read. ``exe`` is stored as a text file
holding the link target.

With ``exact`` (``snapshot --exact``), also ``proc/kpageflags.gz`` and ``proc/kpagecount.gz`` for
``system --exact --root``: gzip-compressed (the 50 MiB of each for 24 GiB of RAM became 240 KiB and
83 KiB here), streamed in fixed chunks so memory stays flat however large the machine, and read
right after meminfo and zoneinfo, both at once, so the four are as close in time as they can be.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from memtype._version import __version__
from memtype.errors import MemtypeError

PER_PID = ("status", "stat", "statm", "smaps", "smaps_rollup", "cmdline", "comm", "cgroup", "oom_score",
           "oom_score_adj")
SYSTEM = ("meminfo", "zoneinfo", "vmstat", "swaps", "buddyinfo", "pagetypeinfo", "version", "uptime", "loadavg",
          "sys/kernel/osrelease", "sys/kernel/hostname", "sysvipc/shm", "self/mountinfo")
CGROUP_FILES = ("memory.stat", "memory.current", "memory.max", "memory.swap.current", "memory.swap.max",
                "memory.pressure", "memory.events", "cgroup.procs", "cgroup.controllers",
                "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.memsw.usage_in_bytes",
                "memory.kmem.usage_in_bytes",
                "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control")
KPAGE_FILES = ("kpageflags", "kpagecount")
_KPAGE_CHUNK = 8 << 20  # bytes per read: 1M page frames
SCHEMA = "memtype-snapshot/1"


@dataclass
class CaptureReport:
    out: str
    processes: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)


def capture(out: str, *, pids: list[int] | None = None, redact: bool = False, proc: str = "/proc",
            cgroup: str = "/sys/fs/cgroup", exact: bool = False) -> CaptureReport:
    """Capture this machine into ``out`` (a new directory, or a .tar.gz path).

    Raises:
        MemtypeError: ``out`` exists or cannot be written.
    """
    archive = out.endswith((".tar.gz", ".tgz"))
    if os.path.lexists(out) and not (os.path.isdir(out) and not os.listdir(out) and not archive):
        raise MemtypeError(f"{out!r} already exists; give a new directory or .tar.gz path")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise MemtypeError(f"cannot write {out!r}: {parent} is not a directory")
    if exact:
        _check_kpage(proc)
    tree = tempfile.mkdtemp(prefix="memtype-snap-", dir=parent if archive else None) if archive else out
    report = CaptureReport(out)
    try:
        os.makedirs(tree, exist_ok=True)
        _capture_tree(tree, report, pids, redact, proc, cgroup, exact)
        if archive:
            _write_archive(tree, out)
    except OSError as exc:
        raise MemtypeError(f"cannot write snapshot {out!r}: {exc.strerror or exc}") from None
    finally:
        if archive:
            shutil.rmtree(tree, ignore_errors=True)
    return report


def _copy(src: str, dst: str) -> bool:
    try:
        with open(src, "rb") as f:
            data = f.read()
    except OSError:
        return False
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(data)
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


def _copy_gz(src: str, dst: str) -> int:
    """Stream ``src`` into ``dst`` (gzip) in fixed chunks; the bytes read."""
    import gzip

    buf = bytearray(_KPAGE_CHUNK)
    view = memoryview(buf)
    total = 0
    with open(src, "rb", buffering=0) as fin, gzip.open(dst, "wb", compresslevel=6) as fout:
        while True:
            n = fin.readinto(buf)
            if not n:
                break
            fout.write(view[:n])
            total += n
    return total


def _capture_kpage(proc: str, tree: str) -> None:
    """Both files at once (two threads; the reads and zlib drop the GIL); they must be equally long."""
    from concurrent.futures import ThreadPoolExecutor

    os.makedirs(os.path.join(tree, "proc"), exist_ok=True)
    with ThreadPoolExecutor(max_workers=len(KPAGE_FILES)) as pool:
        sizes = list(pool.map(lambda name: _copy_gz(os.path.join(proc, name),
                                                    os.path.join(tree, "proc", name + ".gz")), KPAGE_FILES))
    if len(set(sizes)) != 1:
        raise MemtypeError(f"snapshot --exact: {' and '.join(KPAGE_FILES)} gave {sizes} bytes (not equal)")


def _capture_tree(tree: str, report: CaptureReport, pids: list[int] | None, redact: bool, proc: str,
                  cgroup: str, exact: bool = False) -> None:
    for rel in SYSTEM:
        report.files += _copy(os.path.join(proc, rel), os.path.join(tree, "proc", rel))
        if rel == "zoneinfo" and exact:  # page frames right after meminfo + zoneinfo, as `system --exact` reads
            _capture_kpage(proc, tree)
            report.files += len(KPAGE_FILES)
    for name in os.listdir(os.path.join(proc, "sys/vm")):
        report.files += _copy(os.path.join(proc, "sys/vm", name), os.path.join(tree, "proc/sys/vm", name))
    report.files += _capture_swap_devices(tree)
    wanted = pids if pids is not None else sorted(int(n) for n in os.listdir(proc) if n.isdigit())
    uids: set[int] = set()
    unreadable = 0
    for pid in wanted:
        src = os.path.join(proc, str(pid))
        dst = os.path.join(tree, "proc", str(pid))
        got = 0
        for name in PER_PID:
            if redact and name == "cmdline":
                continue
            got += _copy(os.path.join(src, name), os.path.join(dst, name))
        if not got:
            continue  # exited before we got to it
        try:
            target = os.readlink(os.path.join(src, "exe"))
            with open(os.path.join(dst, "exe"), "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(os.path.basename(target) if redact else target)
            got += 1
        except OSError:
            pass
        if not os.path.exists(os.path.join(dst, "smaps")):
            unreadable += 1
        try:
            uids.add(os.stat(src).st_uid)
        except OSError:
            pass
        report.processes += 1
        report.files += got
    report.files += _capture_cgroups(cgroup, os.path.join(tree, "sys/fs/cgroup"))
    if unreadable:
        report.notes.append(f"smaps of {unreadable} process{'es' if unreadable != 1 else ''} could not be read "
                            "(run as root for all)")
    _write_manifest(tree, uids, redact, report, exact)


def _capture_swap_devices(tree: str) -> int:
    """zswap's parameters and zram's statistics (``memtype swap`` on a capture)."""
    files = 0
    zswap = "/sys/module/zswap/parameters"
    if os.path.isdir(zswap):
        for name in os.listdir(zswap):
            files += _copy(os.path.join(zswap, name), os.path.join(tree, zswap.lstrip("/"), name))
    if os.path.isdir("/sys/block"):
        for dev in os.listdir("/sys/block"):
            if dev.startswith("zram"):
                for name in ("mm_stat", "disksize", "comp_algorithm"):
                    files += _copy(os.path.join("/sys/block", dev, name), os.path.join(tree, "sys/block", dev, name))
    return files


def _capture_cgroups(src_root: str, dst_root: str) -> int:
    """Every cgroup directory with memory files (v2, or the v1 memory hierarchy), with its procs."""
    files = 0
    if not os.path.isdir(src_root):
        return 0
    for dirpath, _, filenames in os.walk(src_root):
        present = set(filenames)
        if not any(n.startswith("memory.") for n in present):
            continue
        rel = os.path.relpath(dirpath, src_root)
        for name in CGROUP_FILES:
            if name in present:
                files += _copy(os.path.join(dirpath, name), os.path.join(dst_root, rel, name))
    return files


def _write_manifest(tree: str, uids: set[int], redact: bool, report: CaptureReport, exact: bool = False) -> None:
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
    with open(os.path.join(tree, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    report.files += 1


def _write_archive(tree: str, out: str) -> None:
    import tarfile

    tmp = out + ".partial"
    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            tar.add(tree, arcname="snap")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
