"""``memtype lab``'s driver: start a child per kind (``lab.child``), measure what it made at once with memtype's
own scan, and clean up (``close``: every child's process group killed, the temporary swapfile off and gone).

Measured right after each kind is made, within seconds: DAMON's proactive reclaim on this VM pages out
memory idle for about a minute (kernel-spec.md surprise 16), and with a swapfile on it would move idle
anonymous memory to swap. The kinds are made one at a time and, without ``keep``, each is freed before
the next, so the lab needs RAM for one kind at a time.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import subprocess
import sys
import time

from memtype.collect.pagecache import PAGE, Cachestat, mincore_pages, mincore_trusted
from memtype.collect.scan import scan
from memtype.errors import MemtypeError
from memtype.kinds import Kind
from memtype.lab.swapfile import SwapSetupError, TempSwapfile, disk_tmpdir
from memtype.model.lab import LabRow, within
from memtype.source.root import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import Mapping, ProcessMemory

LAB_KINDS = ("anonymous", "shared", "cow", "file", "device", "swap")
SETTLE_SECONDS = 0.05  # before reading smaps (kernel-spec.md F)
READY_SECONDS = 60.0  # writing 64 MiB and forking takes well under a second; a loaded CI machine more
# One line per form: why memtype shows it as it does (kernel-spec.md sections in brackets).
WHY = {
    "anon": "private pages only this process maps: smaps Anonymous with no Shared_* (A.5 step 5)",
    "memfd": "a memfd is shmem: both processes map the same pages, so each RSS shows them and PSS halves them",
    "memfd-second": "the same shmem pages, mapped again in another process: shared, not a copy",
    "shared-anon": "MAP_SHARED|MAP_ANONYMOUS is shmem (path /dev/zero (deleted)), not anonymous (A.4)",
    "sysv": "a SysV segment is shmem (path /SYSV...); marked for removal at once, it goes with its last detach",
    "posix": "a /dev/shm file is a tmpfs file: shmem; unlinked at once, it goes with its last mapping",
    "cow-parent": "after fork() both map the pages: cow; the quarter the child rewrote is now private in each (A.6)",
    "cow-child": "the child's rewritten quarter is its own anonymous copy; the rest is still shared cow (A.6)",
    "read": "read() fills the page cache without mapping it: no RSS shows it, cachestat(2) does "
            "(POSIX_FADV_RANDOM: no read-ahead past what was read, surprise 17)",
    "mmap": "a mapped file's resident pages are its page cache: file, droppable at any time",
    "perf": "VM_PFNMAP|VM_IO (VmFlags pf io): Rss is 0 and the size is device address space (device_mapped)",
    "kvm": "driver pages mapped in (anon_inode:kvm-vcpu): device; the kernel counts them in RssFile (A.2)",
    "pageout": "MADV_PAGEOUT wrote the pages to swap: Rss 0, smaps Swap = size; swap is counted per kind (E.2)",
}


class Lab:
    """Children making memory, measured; ``close`` (or ``with``) cleans up everything the lab made."""

    def __init__(self, size: int, keep: bool = False, root: str = "/") -> None:
        self.size, self.keep, self.root = size, keep, root
        self.children: list[subprocess.Popen[str]] = []
        self.swapfile: TempSwapfile | None = None
        self.kept: list[int] = []

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, kind: str) -> list[LabRow]:
        """Make ``kind`` in a child, measure it; without ``keep`` the child is gone when this returns."""
        problem = self._precondition(kind)
        if problem is not None:
            return [LabRow(kind, f"{kind}: not made", None, None, None, None, None, None, "", problem)]
        try:
            child, answer = self._start(kind)
        except MemtypeError as exc:
            return [LabRow(kind, f"{kind}: not made", None, None, None, None, None, None, "", str(exc))]
        try:
            return self._measure(kind, answer)
        finally:
            if self.keep:
                self.kept += sorted({int(i["pid"]) for i in answer})
            else:
                self._stop(child)
            if kind == "swap" and self.swapfile is not None and not self.keep:
                self.swapfile.close()
                self.swapfile = None

    def _precondition(self, kind: str) -> str | None:
        """What this machine lacks to make ``kind`` (``None``: nothing); for swap, turns a swapfile on."""
        if kind == "file" and disk_tmpdir() is None:
            return "no writable directory on a disk filesystem (set MEMTYPE_DISK_DIR): on tmpfs a file is shmem"
        if kind != "swap":
            return None
        if _swap_free() > self.size:
            return None  # an active swap device with room: use it
        if os.geteuid() != 0:
            return "no swap device with room is active, and a temporary swapfile needs root (swapon)"
        if self.keep:
            return "--keep needs an active swap device for swap: the lab's temporary swapfile goes when it exits"
        directory = disk_tmpdir()
        if directory is None:
            return "no disk filesystem for a temporary swapfile (tmpfs cannot hold one)"
        swapfile = TempSwapfile(directory, mb=(self.size >> 20) + 64, prefix="memtype-lab-")
        self.swapfile = swapfile
        try:
            swapfile.on()
        except (SwapSetupError, OSError) as exc:
            swapfile.close()
            self.swapfile = None
            return f"cannot make a temporary swapfile here: {exc}"
        return None

    def _start(self, kind: str) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
        spec = {"kind": kind, "size": self.size, "keep": self.keep, "dir": disk_tmpdir()}
        # own session: a terminal's Ctrl-C reaches the lab only (it cleans up), and killpg reaches the grandchild
        try:
            child = subprocess.Popen([sys.executable, "-m", "memtype.lab.child", json.dumps(spec)],
                                     stdin=subprocess.DEVNULL if self.keep else subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        except OSError as exc:
            raise MemtypeError(f"cannot start a child process ({sys.executable}: {exc.strerror})") from None
        self.children.append(child)
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], READY_SECONDS)
        line = child.stdout.readline() if ready else ""
        if not line:
            self._stop(child)
            raise MemtypeError(f"the {kind} child did not start (exit status {child.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            self._stop(child)
            raise MemtypeError(f"the child could not make it: {answer['error']}")
        items: list[dict[str, Any]] = answer["items"]
        return child, items

    def _measure(self, kind: str, items: list[dict[str, Any]]) -> list[LabRow]:
        time.sleep(SETTLE_SECONDS)
        pids = sorted({int(i["pid"]) for i in items if i.get("addr") is not None})
        procs: dict[int, ProcessMemory] = {}
        denied: dict[int, str] = {}
        if pids:
            try:
                result = scan(Root(self.root), pids, mappings=True)
            except MemtypeError as exc:
                return [_row(kind, i, None, None, None, f"memtype could not read it: {exc}") for i in items]
            procs = {p.pid: p for p in result.processes}
            denied = {s.pid: s.reason for s in result.skipped}
        rows = []
        for item in items:
            if item.get("missing"):
                rows.append(_row(kind, item, None, None, None, str(item["missing"])))
                continue
            for figure, created in item["expect"].items():
                rows.append(self._one(kind, item, figure, created, procs, denied))
        return rows

    def _one(self, kind: str, item: dict[str, Any], figure: str, created: int, procs: dict[int, ProcessMemory],
             denied: dict[int, str]) -> LabRow:
        if figure == "page_cache":
            return _row(kind, item, figure, created, _page_cache(int(item["pid"]), int(item["fd"]),
                                                                 int(item["length"])))
        p = procs.get(int(item["pid"]))
        if p is None:
            reason = denied.get(int(item["pid"]), "gone")
            return _row(kind, item, figure, created, None, f"cannot read /proc/{item['pid']}/smaps ({reason}: "
                        "hidepid or a locked-down /proc?)")
        m = next((m for m in p.mappings or () if m.start == int(item["addr"])), None)
        return _row(kind, item, figure, created, None if m is None else _figure(m, figure))

    def _stop(self, child: subprocess.Popen[str]) -> None:
        """Kill the child's process group (the grandchild too) and reap it."""
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
        child.wait()
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        """Everything the lab made goes (kept children stay): safe to call twice, and from a signal's unwinding."""
        for child in list(self.children):
            if self.keep and child.poll() is None:
                if child.stdout is not None:
                    child.stdout.close()
                self.children.remove(child)
                continue
            self._stop(child)
        if self.swapfile is not None:
            self.swapfile.close()
            self.swapfile = None


def _figure(m: Mapping, figure: str) -> int:
    if figure == "device_mapped":
        return m.totals.device_mapped
    if figure == "anonymous.swap":
        return m.categories[Kind.ANONYMOUS].swap
    return m.categories[Kind(figure)].rss


def _page_cache(pid: int, fd: int, length: int) -> int | None:
    """The page cache of the child's open file, by cachestat(2), else mincore(2) where it tells the truth."""
    try:
        own = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            return Cachestat()(own)[0] * PAGE
        except OSError as exc:
            if exc.errno != errno.ENOSYS or not mincore_trusted(os.fstat(own), own):
                return None
            return mincore_pages(own, length) * PAGE
    finally:
        os.close(own)


def _row(kind: str, item: dict[str, Any], figure: str | None, created: int | None, measured: int | None,
         missing: str | None = None) -> LabRow:
    ok = None if missing or created is None else within(created, measured, PAGE)
    addr = item.get("addr")
    return LabRow(kind, str(item["form"]), item.get("pid"), None if addr is None else int(addr), figure, created,
                  measured, ok, WHY.get(str(item["id"]), ""), missing)


def _swap_free(path: str = "/proc/meminfo") -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("SwapFree:"):
                return int(line.split()[1]) * 1024
    return 0
