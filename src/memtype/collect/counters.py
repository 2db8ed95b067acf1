"""A sampler's cheap per-tick reads of one process: stat in one pread(2), status where stat moved.

stat carries the identity (starttime), the resident pages and the fault counts a sampler compares
tick to tick; status the RSS split (RssAnon, RssFile, RssShmem), VmSwap and the uid, read only when
stat's figures moved (they are all kept from the same mm counters: ``task_mem`` and ``do_task_stat``
in fs/proc). Errors go through the Root's race policy (``Root.read_error``, ``skip_for``).
"""

from __future__ import annotations

import os
import resource
import weakref

from memtype.collect.process import read_cgroup, read_exe, user_of
from memtype.collect.refresh import Tracked
from memtype.collect.scan import skip_for
from memtype.errors import MemtypeError, ProcessGone
from memtype.model.records import Skipped
from memtype.model.sample import Counters, ProcessSample
from memtype.model.sampling import Baseline
from memtype.parse.procfiles import parse_stat, parse_status, parse_status_memory
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Container

    from memtype.model.sample import ProcessKey


class StatReader:
    """Reads /proc/PID/stat of a live root tick after tick, each in one read(2) (it is under 1 KiB).

    It keeps each process's stat open and preads it again at offset 0 (the kernel formats it anew):
    no path walk, no open and close, ~40% of the cost of a tick with nothing moving (1000 processes:
    ~12 ms of open/read/close against ~7 of pread here). An open stat belongs to its process, not its
    PID: once the process has exited it fails (ESRCH) even if its PID was given to another. It keeps
    at most half of RLIMIT_NOFILE's soft limit open (the rest are opened and closed each time), and
    ``close`` (or garbage collection) closes them all.
    """

    def __init__(self, root: Root) -> None:
        self.root, self.proc = root, root.join("proc")
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.keep = (1 << 20) if soft == resource.RLIM_INFINITY else soft // 2
        self.fds: dict[int, int] = {}
        self._finalizer = weakref.finalize(self, _close_all, self.fds)

    def read(self, pid: int) -> bytes:
        """The stat of the process that has PID ``pid`` now.

        Raises:
            ProcessGone, AccessDenied, MemtypeError: the Root's race policy.
        """
        fd = self.fds.get(pid)
        if fd is not None:
            try:
                data = os.pread(fd, 4096, 0)
                if data:
                    return data if len(data) < 4096 else self.root.read_bytes(f"proc/{pid}/stat", pid)
            except OSError:
                pass  # that process exited: the PID, listed again, is another one's
            del self.fds[pid]
            os.close(fd)
        rel = f"proc/{pid}/stat"
        try:
            fd = os.open(f"{self.proc}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise self.root.read_error(exc, rel, pid) from None
        try:
            data = os.pread(fd, 4096, 0)
        except OSError as exc:
            os.close(fd)
            raise self.root.read_error(exc, rel, pid) from None
        if len(self.fds) < self.keep:
            self.fds[pid] = fd
        else:
            os.close(fd)
        return data if len(data) < 4096 else self.root.read_bytes(rel, pid)

    def forget(self, live: Container[int]) -> None:
        """Close the stats of the PIDs not in ``live`` (their processes exited)."""
        for pid in [p for p in self.fds if p not in live]:
            os.close(self.fds.pop(pid))

    def close(self) -> None:
        self._finalizer()


def _close_all(fds: dict[int, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


def read_counters(root: Root, pid: int, data: bytes, old: dict[ProcessKey, Tracked], first: bool,
                  users: dict[int, str | None], warnings: list[str], *, big_rss: int | None, page: int,
                  exe: bool, cgroup: bool) -> tuple[ProcessKey, Tracked, bool] | Skipped | None:
    """A process whose stat bytes are new or moved (``data``): its Tracked, from ``old`` where it was
    there (updated: status read where stat's figures moved), and whether it is new; why it is skipped
    (a kernel thread, a zombie, unreadable); ``None``: it exited meanwhile.

    Args:
        first: the sampler's first tick (a new process's baseline is then "at the start").
        users: the uid -> name cache. big_rss: the big-process threshold (bytes; ``None``: none).
        exe, cgroup: resolve the executable (new, or its comm changed: an exec) and memory cgroup (new).
    """
    try:
        stat = parse_stat(data.decode("utf-8", "surrogateescape"))
    except (ValueError, IndexError) as exc:
        warnings.append(f"proc/{pid}/stat: {exc}")
        return Skipped(pid, "unreadable", f"proc/{pid}/stat")
    if stat.kernel_thread or stat.state == "Z":
        return Skipped(pid, "kernel" if stat.kernel_thread else "zombie")
    key: ProcessKey = (pid, stat.starttime)
    sig = (stat.rss, stat.minflt, stat.majflt, stat.comm, stat.ppid, stat.state)
    t = old.get(key)
    if t is not None and t.stat_sig[:5] == sig[:5]:
        if t.stat_sig != sig:  # only the state letter moved (CPU times need no status either)
            t.sample, t.stat_sig = t.sample.replace(state=stat.state), sig
        return key, t, False
    try:
        text = root.read_text(f"proc/{pid}/status", pid)
        status = parse_status(text)
    except ProcessGone:
        return None
    except MemtypeError as exc:
        skip, warning = skip_for(pid, exc)
        if warning:
            warnings.append(warning)
        return skip
    except ValueError as exc:
        warnings.append(f"proc/{pid}/status: {exc}")
        return Skipped(pid, "unreadable", f"proc/{pid}/status")
    mem = parse_status_memory(text)
    counters = Counters(mem.rss_anon, mem.rss_file, mem.rss_shmem, mem.vm_swap, stat.minflt, stat.majflt)
    user_of(root, status.uid, users)
    is_new = t is None
    if t is None:
        ps = ProcessSample(pid, stat.starttime, stat.comm, status.uid, stat.ppid, stat.state, counters,
                           exe=read_exe(root, pid) if exe else None, cgroup=read_cgroup(root, pid) if cgroup else None)
        t = Tracked(ps, sig, Baseline(first, counters))
    else:
        path = read_exe(root, pid) if exe and stat.comm != t.stat_sig[3] else t.sample.exe  # an exec
        t.sample = t.sample.replace(comm=stat.comm, uid=status.uid, ppid=stat.ppid, state=stat.state,
                                    counters=counters, exe=path)
        t.stat_sig = sig
    t.big = big_rss is not None and stat.rss is not None and stat.rss * page >= big_rss
    return key, t, is_new
