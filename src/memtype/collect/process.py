"""Read one process from a Root. The race policy lives here (style.md rule 4)."""

from __future__ import annotations

from collections.abc import Callable

from memtype.errors import AccessDenied, FileMissing, ParseError, ProcessGone
from memtype.model.classify import Classifier
from memtype.model.reclaim import reclaim_from_smaps
from memtype.model.records import ProcessMemory
from memtype.parse.procfiles import memory_cgroup, parse_cmdline, parse_stat, parse_status
from memtype.parse.smaps import parse_smaps
from memtype.source.root import Root


class KernelThread(Exception):
    """The process has no user memory (kernel thread or zombie: empty smaps)."""


SmapsVisitor = Callable[[ProcessMemory, bytes], None]


def read_process(root: Root, pid: int, classifier: Classifier, users: dict[int, str | None], *,
                 mappings: bool = False, cmdline: bool = False, exe: bool = False,
                 visit: SmapsVisitor | None = None, cgroup: bool = False) -> ProcessMemory:
    """One process's memory by kind.

    ``visit(process, smaps_bytes)`` runs right after the smaps read (``--exact`` reads pagemap there,
    while the mappings are still the ones smaps showed); its errors are this process's errors.

    Raises:
        ProcessGone: it exited while being read.
        AccessDenied: its smaps is not readable by us.
        FileMissing: a capture lacks its smaps.
        KernelThread: it has no user address space.
        ParseError: its status or stat is unreadable.
    """
    base = f"proc/{pid}"
    status_text = root.read_text(f"{base}/status", pid)
    try:
        status = parse_status(status_text)
    except ValueError as exc:
        raise ParseError(f"{base}/status", str(exc)) from None
    if status.kthread:
        raise KernelThread(pid)
    try:
        stat = parse_stat(root.read_text(f"{base}/stat", pid))
    except (ValueError, IndexError) as exc:
        raise ParseError(f"{base}/stat", str(exc)) from None
    except FileMissing:
        stat = None
    data = root.read_bytes(f"{base}/smaps", pid)
    if not data:
        raise KernelThread(pid)  # kernel threads and zombies have an empty smaps
    fast = None if mappings else classifier.summarize(data)
    problems: list[str] = []
    maps = None
    if fast is not None:
        totals, kinds, reclaimable = fast
    else:
        parsed = parse_smaps(data)
        problems = [f"{base}/smaps {p}" for p in parsed.problems]
        if not parsed.vmas and problems:
            raise ParseError(f"{base}/smaps", problems[0])
        try:
            totals, kinds, maps = classifier.split(parsed.names, parsed.vmas, mappings)
            reclaimable = reclaim_from_smaps(parsed.names, parsed.vmas, classifier, swap_room=True)
        except ValueError as exc:
            raise ParseError(f"{base}/smaps", str(exc)) from None
    uid = status.uid
    if uid is not None and uid not in users:
        users[uid] = _user_name(root, uid)
    comm = (stat.comm if stat else None) or status.name or "?"
    proc = ProcessMemory(pid=pid, comm=comm, uid=uid, user=users.get(uid) if uid is not None else None,
                         ppid=stat.ppid if stat else status.ppid, starttime=stat.starttime if stat else None,
                         totals=totals, categories=kinds, mappings=maps, problems=problems)
    proc.reclaim = reclaimable  # "swap" is swappable: model.reclaim.annotate applies the swap room
    if visit is not None:
        visit(proc, data)
    if cmdline or exe:
        _add_identity(root, proc, cmdline, exe)
    if cgroup:
        try:
            proc.cgroup = memory_cgroup(root.read_text(f"{base}/cgroup", pid))
        except (AccessDenied, ProcessGone, FileMissing):
            proc.cgroup = None
    return proc


def _add_identity(root: Root, proc: ProcessMemory, cmdline: bool, exe: bool) -> None:
    base = f"proc/{proc.pid}"
    if exe:
        try:
            proc.exe = root.readlink(f"{base}/exe", proc.pid)
        except (AccessDenied, ProcessGone, FileMissing, OSError):
            proc.exe = None
    if cmdline or (exe and proc.exe is None):
        try:
            proc.cmdline = parse_cmdline(root.read_bytes(f"{base}/cmdline", proc.pid))
        except (AccessDenied, ProcessGone, FileMissing):
            proc.cmdline = None


def _user_name(root: Root, uid: int) -> str | None:
    """User name of a uid: from the machine's passwd (live) or the capture's manifest/etc/passwd."""
    if root.live:
        import pwd

        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return None
    names = root.manifest.get("users")
    if isinstance(names, dict) and str(uid) in names:
        return str(names[str(uid)])
    try:
        for line in root.read_text("etc/passwd").splitlines():
            parts = line.split(":")
            if len(parts) > 2 and parts[2] == str(uid):
                return parts[0]
    except Exception:  # a capture without etc/passwd: numeric uid
        pass
    return "root" if uid == 0 else None
