"""``memtype snapshot``: copy the kernel files memtype reads into a tree standing for "/".

Layout follows shared/fixtures: ``proc/PID/{status,stat,statm,smaps,smaps_rollup,cmdline,comm,
cgroup,oom_score,oom_score_adj}``, system files under ``proc/``, memory cgroup files under
``sys/fs/cgroup/``, and ``manifest.json``. Raw files, not results (style.md rule 9), so a later
classifier applies to old captures. ``environ`` is never read. ``exe`` is stored as a text file
holding the link target.
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
SYSTEM = ("meminfo", "vmstat", "swaps", "zoneinfo", "buddyinfo", "pagetypeinfo", "version", "uptime", "loadavg",
          "sys/kernel/osrelease", "sys/kernel/hostname", "sysvipc/shm", "self/mountinfo")
CGROUP_FILES = ("memory.stat", "memory.current", "memory.max", "memory.swap.current", "memory.swap.max",
                "memory.pressure", "memory.events", "cgroup.procs", "cgroup.controllers",
                "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.memsw.usage_in_bytes",
                "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.oom_control")
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
    tree = tempfile.mkdtemp(prefix="memtype-snap-", dir=parent if archive else None) if archive else out
    report = CaptureReport(out)
    try:
        os.makedirs(tree, exist_ok=True)
        _capture_tree(tree, report, pids, redact, proc, cgroup)
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


def _capture_tree(tree: str, report: CaptureReport, pids: list[int] | None, redact: bool, proc: str,
                  cgroup: str) -> None:
    for rel in SYSTEM:
        report.files += _copy(os.path.join(proc, rel), os.path.join(tree, "proc", rel))
    for name in os.listdir(os.path.join(proc, "sys/vm")):
        report.files += _copy(os.path.join(proc, "sys/vm", name), os.path.join(tree, "proc/sys/vm", name))
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
    _write_manifest(tree, uids, redact, report)


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


def _write_manifest(tree: str, uids: set[int], redact: bool, report: CaptureReport) -> None:
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
        "redacted": redact, "processes": report.processes, "users": users,
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
