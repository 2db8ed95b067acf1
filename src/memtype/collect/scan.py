"""A whole machine (or chosen PIDs) -> Scan. Bulk views degrade, never fail (style.md rule 6)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from memtype.collect.process import KernelThread, read_process
from memtype.errors import AccessDenied, FileMissing, MemtypeError, NoSuchProcess, ParseError, ProcessGone
from memtype.model.classify import Classifier
from memtype.model.records import HostInfo, ProcessMemory, Scan, Skipped
from memtype.parse.procfiles import parse_mountinfo_shmem_devs
from memtype.source.root import Root


def open_root(root: str | Root) -> Root:
    return root if isinstance(root, Root) else Root(root)


def scan(root: str | Root = "/", pids: Iterable[int] | None = None, *, mappings: bool = False,
         cmdline: bool = False, exe: bool = False) -> Scan:
    """Every process's memory split into the five kinds.

    Args:
        root: "/" (this machine), a capture directory, a ``.tar.gz`` capture, or an open Root.
        pids: only these processes; a PID that does not exist raises NoSuchProcess.
        mappings: keep each process's mappings (``memtype maps``).
        cmdline: read command lines. exe: resolve executables (``--group program``).

    Returns:
        The processes that could be read; the others are in ``Scan.skipped`` with the reason.
    """
    r = open_root(root)
    classifier = Classifier(shmem_devs(r))
    users: dict[int, str | None] = {}
    out = Scan(host=host_info(r), processes=[])
    wanted = sorted(set(pids)) if pids is not None else r.pids()
    if pids is not None:
        present = set(r.pids())
        for pid in wanted:
            if pid not in present:
                raise NoSuchProcess(pid)
    for pid in wanted:
        try:
            out.processes.append(read_process(r, pid, classifier, users, mappings=mappings, cmdline=cmdline,
                                              exe=exe))
        except KernelThread:
            out.kernel_threads += 1
        except ProcessGone as exc:
            out.skipped.append(Skipped(pid, "gone", exc.path))
        except AccessDenied as exc:
            out.skipped.append(Skipped(pid, "denied", exc.path))
        except FileMissing as exc:
            out.skipped.append(Skipped(pid, "not captured", exc.path))
        except ParseError as exc:
            out.skipped.append(Skipped(pid, "unreadable", exc.path))
            out.warnings.append(str(exc))
        except MemtypeError as exc:
            out.skipped.append(Skipped(pid, "error", str(exc)))
            out.warnings.append(str(exc))
    for p in out.processes:
        out.warnings.extend(p.problems)
    return out


def shmem_devs(root: Root) -> frozenset[str]:
    """tmpfs-like devices from mountinfo (the capture's, or this machine's init namespace)."""
    for rel in ("proc/self/mountinfo", "proc/1/mountinfo"):
        try:
            return parse_mountinfo_shmem_devs(root.read_text(rel))
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
    page = m.get("page_size")
    return HostInfo(hostname if isinstance(hostname, str) else None, kernel if isinstance(kernel, str) else None,
                    page if isinstance(page, int) else 4096,
                    str(m["time"]) if "time" in m else None, root.source, False)


