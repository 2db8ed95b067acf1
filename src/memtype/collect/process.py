"""Read one process from a Root. The race policy lives here (style.md rule 4).

* ENOENT/ESRCH on a per-PID file: the process is gone (``source.root`` maps the errno); EACCES: denied.
* A kernel thread has no user memory: ``PF_KTHREAD`` in stat's flags (or ``Kthread: 1`` in status,
  5.16+) makes it ``Skipped(pid, "kernel")`` before its (empty) smaps is read.
* A zombie has exited and freed its memory, but is not reaped yet: the state letter after the last
  ``)`` of stat is ``Z`` (psutil's ``_is_zombie``), or its smaps reads empty although it is no kernel
  thread (it exited after stat was read): ``Skipped(pid, "zombie")``. Not a kernel thread.
"""

from __future__ import annotations

from collections.abc import Callable

from memtype.errors import AccessDenied, FileMissing, ParseError, ProcessGone
from memtype.model.classify import Classifier
from memtype.model.reclaim import reclaim_from_smaps
from memtype.model.records import ProcessMemory, Skipped
from memtype.parse.procfiles import Stat, Status, memory_cgroup, parse_cmdline, parse_stat, parse_status, status_state
from memtype.parse.smaps import parse_smaps
from memtype.source.root import Root

SmapsVisitor = Callable[[ProcessMemory, bytes], None]


class Identity:
    """A process's status and stat as read (stat is ``None`` in a capture that lacks it)."""

    __slots__ = ("pid", "status_text", "status", "stat")

    def __init__(self, pid: int, status_text: str, status: Status, stat: Stat | None) -> None:
        self.pid, self.status_text, self.status, self.stat = pid, status_text, status, stat

    @property
    def comm(self) -> str:
        return (self.stat.comm if self.stat else None) or self.status.name or "?"

    @property
    def ppid(self) -> int | None:
        return self.stat.ppid if self.stat else self.status.ppid

    @property
    def starttime(self) -> int | None:
        return self.stat.starttime if self.stat else None


def read_identity(root: Root, pid: int) -> Identity | Skipped:
    """A process's status and stat, or why it has no user memory (a kernel thread, a zombie).

    Raises:
        ProcessGone, AccessDenied: the race policy (module docstring).
        ParseError: its status or stat is unreadable.
    """
    base = f"proc/{pid}"
    status_text = root.read_text(f"{base}/status", pid)
    try:
        status = parse_status(status_text)
    except ValueError as exc:
        raise ParseError(f"{base}/status", str(exc)) from None
    if status.kthread:
        return Skipped(pid, "kernel")
    try:
        stat: Stat | None = parse_stat(root.read_text(f"{base}/stat", pid))
    except (ValueError, IndexError) as exc:
        raise ParseError(f"{base}/stat", str(exc)) from None
    except FileMissing:
        stat = None
    if stat is not None and stat.kernel_thread:
        return Skipped(pid, "kernel")
    if (stat.state if stat is not None else status_state(status_text)) == "Z":
        return Skipped(pid, "zombie")
    return Identity(pid, status_text, status, stat)


def read_process(root: Root, pid: int, classifier: Classifier, users: dict[int, str | None], *,
                 mappings: bool = False, cmdline: bool = False, exe: bool = False,
                 visit: SmapsVisitor | None = None, cgroup: bool = False) -> ProcessMemory | Skipped:
    """One process's memory by kind, or why it has none (``Skipped``: "kernel", "zombie").

    ``visit(process, smaps_bytes)`` runs right after the smaps read (``--exact`` reads pagemap there,
    while the mappings are still the ones smaps showed); its errors are this process's errors.

    Raises:
        ProcessGone: it exited while being read.
        AccessDenied: its smaps is not readable by us.
        FileMissing: a capture lacks its smaps.
        ParseError: its status, stat or smaps is unreadable.
    """
    ident = read_identity(root, pid)
    if isinstance(ident, Skipped):
        return ident
    base = f"proc/{pid}"
    exe_path = read_exe(root, pid) if exe else None
    args = read_cmdline(root, pid) if cmdline or (exe and exe_path is None) else None
    memcg = read_cgroup(root, pid) if cgroup else None
    data = root.read_bytes(f"{base}/smaps", pid)
    if not data:
        return Skipped(pid, "zombie")  # no kernel thread (read_identity), so it exited after its stat was read
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
    uid = ident.status.uid
    proc = ProcessMemory(pid=pid, comm=ident.comm, uid=uid, user=user_of(root, uid, users), ppid=ident.ppid,
                         starttime=ident.starttime, totals=totals, categories=kinds, exe=exe_path, cmdline=args,
                         mappings=maps, problems=problems, cgroup=memcg,
                         reclaim=reclaimable)  # "swap" is swappable: model.reclaim.annotate applies the swap room
    if visit is not None:
        visit(proc, data)
    return proc


def read_exe(root: Root, pid: int) -> str | None:
    """The executable's path (``/proc/PID/exe``), ``None`` where unreadable."""
    try:
        return root.readlink(f"proc/{pid}/exe", pid)
    except (AccessDenied, ProcessGone, FileMissing, OSError):
        return None


def read_cmdline(root: Root, pid: int) -> list[str] | None:
    """The command line (sensitive: never stored in a Sample), ``None`` where unreadable."""
    try:
        return parse_cmdline(root.read_bytes(f"proc/{pid}/cmdline", pid))
    except (AccessDenied, ProcessGone, FileMissing):
        return None


def read_cgroup(root: Root, pid: int) -> str | None:
    """The process's memory cgroup path, ``None`` where unreadable."""
    try:
        return memory_cgroup(root.read_text(f"proc/{pid}/cgroup", pid))
    except (AccessDenied, ProcessGone, FileMissing):
        return None


def user_of(root: Root, uid: int | None, users: dict[int, str | None]) -> str | None:
    """The user name of ``uid``, looked up once per uid (``users`` is the cache)."""
    if uid is None:
        return None
    if uid not in users:
        users[uid] = _user_name(root, uid)
    return users[uid]


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
