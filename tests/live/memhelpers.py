"""Helpers for the live (kernel-truth) tests: memory of a known kind in a real child process.

Stand-alone on purpose (standard library + ctypes only): CI copies shared/ but the tests must not
import from it. Adapted from shared/recipes/memlib.py; the kernel facts they rely on are in
shared/docs/kernel-spec.md (A.4-A.7, E.2-E.4).

Two halves:

* **Child side** (``serve`` and the ``OPS`` table): a small line-based JSON RPC loop. A test starts
  ``python -I -c CHILD_CODE`` and asks it to map, write, read, fork, page out... The child keeps
  every mapping alive until its stdin closes.
* **Test side** (``Child``, ``Kid``, ``smaps_entry``, ``TempSwapfile``, ``disk_tmpdir``...): start,
  drive, inspect and always kill/reap the children.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The swapfile and disk-directory helpers live in the package (``memtype lab`` makes swap with them too).
# A child may run on a bare copy of the interpreter (tests/live/test_exporter_live.py names a program
# that way), outside the venv: it needs only the memory operations below, not these.
try:
    from memtype.lab.swapfile import NON_DISK_FS, SwapSetupError, TempSwapfile, disk_tmpdir, fs_type, swaps_active  # noqa: E402,F401
except ModuleNotFoundError:
    if "pytest" in sys.modules:  # the test process itself must have them
        raise

PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1 << 20

MADV_PAGEOUT = 21          # since 5.4; Python 3.11 has no constant
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
PROT_NONE = 0
PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
MAP_FIXED = 0x10
MAP_NORESERVE = 0x4000
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_RMID = 0
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_libc.shmdt.argtypes = [ctypes.c_void_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _oserror(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


# ------------------------------------------------------------------ raw memory primitives
def mmap_isolated(length: int, prot: int = PROT_RW, flags: int = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                  fd: int = -1, offset: int = 0, align: int = PAGE) -> int:
    """mmap ``length`` bytes between two PROT_NONE guard pages, so the kernel cannot merge the new
    VMA with a neighbour (spec A.7): smaps then shows exactly this mapping. Returns its address,
    a multiple of ``align`` (a power of two: 2 MiB for THP)."""
    span = length + 2 * PAGE + (align - PAGE)
    base = _libc.mmap(None, span, PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if base in (None, _MAP_FAILED):
        raise _oserror("mmap reserve")
    start = (base + PAGE + align - 1) & ~(align - 1)
    addr = _libc.mmap(start, length, prot, flags | MAP_FIXED, fd, offset)
    if addr in (None, _MAP_FAILED):
        raise _oserror("mmap")
    assert isinstance(addr, int)
    return addr


def madvise(addr: int, length: int, advice: int) -> None:
    if _libc.madvise(addr, length, advice) != 0:
        raise _oserror(f"madvise({advice})")


def touch_write(addr: int, npages: int, first: int = 0, byte: int = 1) -> None:
    """Write one byte into each of pages [first, first+npages)."""
    value = bytes([byte])
    for i in range(first, first + npages):
        ctypes.c_char.from_address(addr + i * PAGE).value = value


def touch_read(addr: int, npages: int, first: int = 0) -> int:
    """Read one byte of each of pages [first, first+npages)."""
    total = 0
    for i in range(first, first + npages):
        total += ctypes.c_ubyte.from_address(addr + i * PAGE).value
    return total


def shm_create(size: int) -> int:
    """A new private SysV shared-memory segment; the caller must ``shm_remove`` it."""
    shmid = _libc.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)
    if shmid < 0:
        raise _oserror("shmget")
    return int(shmid)


def shm_remove(shmid: int) -> None:
    """IPC_RMID; the segment goes when the last process detaches. Already removed is fine."""
    _libc.shmctl(shmid, IPC_RMID, None)


# ------------------------------------------------------------------ child side: the RPC server
class _Lines:
    """Newline-delimited reads on a raw fd, with an optional timeout."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def readline(self, timeout: float | None = None) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise TimeoutError(f"no answer within {timeout} s")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line


def _send(fd: int, obj: object) -> None:
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


class _KidLink:
    def __init__(self, pid: int, wfd: int, rfd: int) -> None:
        self.pid, self.wfd, self.lines = pid, wfd, _Lines(rfd)


_KIDS: dict[int, _KidLink] = {}


def op_pid() -> int:
    return os.getpid()


def op_map_anon(npages: int, shared: bool = False) -> int:
    """Private (or MAP_SHARED) anonymous memory; THP off so the numbers do not depend on the host."""
    flags = (mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE) | mmap.MAP_ANONYMOUS
    addr = mmap_isolated(npages * PAGE, flags=flags)
    if not shared:
        madvise(addr, npages * PAGE, MADV_NOHUGEPAGE)
    return addr


def op_map_thp(npages: int) -> int:
    """Private anonymous memory, 2 MiB-aligned, with MADV_HUGEPAGE (spec B.4: THP on write faults
    where THP ``enabled`` is ``madvise`` or ``always``)."""
    addr = mmap_isolated(npages * PAGE, align=2 * MiB)
    madvise(addr, npages * PAGE, MADV_HUGEPAGE)
    return addr


def op_open(path: str, rdwr: bool = False) -> int:
    return os.open(path, os.O_RDWR if rdwr else os.O_RDONLY)


def op_memfd(name: str, npages: int) -> int:
    fd = os.memfd_create(name)
    os.ftruncate(fd, npages * PAGE)
    return fd


def op_map_fd(fd: int, npages: int, shared: bool, writable: bool = True) -> int:
    prot = PROT_RW if writable else mmap.PROT_READ
    return mmap_isolated(npages * PAGE, prot=prot, flags=mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE, fd=fd)


def op_map_path(path: str, npages: int, shared: bool, writable: bool) -> int:
    """Map a file: O_RDWR only when a *shared* writable map needs it (MAP_PRIVATE works on O_RDONLY)."""
    fd = os.open(path, os.O_RDWR if shared and writable else os.O_RDONLY)
    try:
        return op_map_fd(fd, npages, shared, writable)
    finally:
        os.close(fd)  # the mapping keeps the file


def op_shm_attach(shmid: int) -> int:
    addr = _libc.shmat(shmid, None, 0)
    if addr in (None, _MAP_FAILED):
        raise _oserror("shmat")
    assert isinstance(addr, int)
    return addr


def op_write(addr: int, npages: int, first: int = 0, byte: int = 1) -> None:
    touch_write(addr, npages, first, byte)


def op_read(addr: int, npages: int, first: int = 0) -> int:
    return touch_read(addr, npages, first)


def op_madvise(addr: int, npages: int, advice: int) -> None:
    madvise(addr, npages * PAGE, advice)


def op_mlock(addr: int, npages: int) -> None:
    if _libc.mlock(addr, npages * PAGE) != 0:
        raise _oserror("mlock")


def op_pageout(addr: int, npages: int) -> None:
    """MADV_PAGEOUT once on every CPU this process may run on. madvise drains only the *local* CPU's
    LRU-add batch; a page faulted in on another CPU can still sit in that CPU's batch, where reclaim
    cannot isolate it (seen: 9 of 4096 pages left resident after ten tries from one CPU)."""
    allowed = os.sched_getaffinity(0)
    try:
        for cpu in sorted(allowed):
            os.sched_setaffinity(0, {cpu})
            madvise(addr, npages * PAGE, MADV_PAGEOUT)
    finally:
        os.sched_setaffinity(0, allowed)


def op_write_file(path: str, npages: int, sync: bool, chunk_bytes: int = MiB) -> None:
    """Create ``path`` with ``npages`` non-zero pages written with write(), so this process is charged for
    its page cache (memory cgroups charge the first toucher, spec D.3); ``sync``: fsync, leaving it clean.
    The page cache's folio size follows the write size on filesystems with large folios (ext4 6.x: 1 MiB
    writes made 256-page folios here, 4 KiB writes single pages)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"\x5a" * chunk_bytes
        left = npages * PAGE
        while left:
            left -= os.write(fd, chunk[:min(left, len(chunk))])
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def op_read_file(path: str, times: int = 1) -> int:
    """read() the whole file ``times`` times: each read of a cached page marks it accessed, and the
    second mark moves it to the active list (mm/swap.c folio_mark_accessed). Returns the bytes read."""
    total = 0
    for _ in range(times):
        fd = os.open(path, os.O_RDONLY)
        try:
            while chunk := os.read(fd, MiB):
                total += len(chunk)
        finally:
            os.close(fd)
    return total


def op_touch_stride(addr: int, count: int, stride_pages: int) -> None:
    """Write one page every ``stride_pages`` pages, ``count`` times: few resident pages, many page tables
    (one 4 KiB PTE page per 2 MiB of address space touched, x86_64)."""
    for i in range(count):
        touch_write(addr, 1, i * stride_pages)


_THREADS: list[Any] = []


def op_threads(n: int) -> int:
    """Start ``n`` threads that sleep until the process exits (each has a kernel stack). Returns Threads."""
    import threading

    stop = threading.Event()
    for _ in range(n):
        t = threading.Thread(target=stop.wait, daemon=True)
        t.start()
        _THREADS.append(t)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


_SOCKETS: dict[str, Any] = {}


def op_listen(name: str) -> None:
    """Listen on the abstract unix socket ``name`` (``accept_fd`` takes one fd from it)."""
    import socket

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind("\0" + name)
    srv.listen(1)
    _SOCKETS[name] = srv


def op_send_fd(name: str, fd: int) -> None:
    """Pass ``fd`` to the process listening on ``name`` (SCM_RIGHTS)."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect("\0" + name)
        socket.send_fds(s, [b"fd"], [fd])  # queued with the connection until the peer's accept_fd


def op_accept_fd(name: str) -> int:
    """The fd a peer sent on ``name`` (now held by this process too)."""
    import socket

    srv = _SOCKETS.pop(name)
    conn, _ = srv.accept()
    with conn, srv:
        _, fds, _, _ = socket.recv_fds(conn, 16, 1)
    return int(fds[0])


def op_close(fd: int) -> None:
    os.close(fd)


def op_fork() -> int:
    """Fork this child; the kid serves the same ops on its own pipes (use ``op_kid`` to reach it)."""
    parent = os.getpid()
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(req_w)
            os.close(resp_r)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # never outlive the parent
            if os.getppid() != parent:
                os._exit(1)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)  # do not hold the test's pipes open
            os.dup2(null, 1)
            for link in _KIDS.values():
                os.close(link.wfd)
                os.close(link.lines.fd)
            _KIDS.clear()
            serve(req_r, resp_w)
        finally:
            os._exit(0)
    os.close(req_r)
    os.close(resp_w)
    _KIDS[pid] = _KidLink(pid, req_w, resp_r)
    return pid


def op_kid(pid: int, op: str, *args: Any) -> Any:
    link = _KIDS[pid]
    _send(link.wfd, [op, list(args)])
    line = link.lines.readline(timeout=60)
    if line is None:
        raise RuntimeError(f"kid {pid} exited")
    answer = json.loads(line)
    if "err" in answer:
        raise RuntimeError(f"in kid {pid}:\n{answer['err']}")
    return answer["ok"]


# -- shared-memory objects and their holders (memtype shm; also for "freed if killed") ---------------
def op_close(fd: int) -> None:
    os.close(fd)


def op_shm_detach(addr: int) -> None:
    if _libc.shmdt(ctypes.c_void_p(addr)) != 0:
        raise _oserror("shmdt")


def op_shm_rmid(shmid: int) -> None:
    if _libc.shmctl(shmid, IPC_RMID, None) != 0:
        raise _oserror("shmctl IPC_RMID")


def op_create_file(path: str, npages: int) -> int:
    """Create ``path`` (O_EXCL), write ``npages`` pages, and keep it open: the fd."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"\1" * (npages * PAGE))
    return fd


def op_write_fd(fd: int, npages: int) -> None:
    """Write ``npages`` pages at offset 0 of ``fd`` (no mapping left behind)."""
    os.pwrite(fd, b"\1" * (npages * PAGE), 0)


def op_unlink(path: str) -> None:
    os.unlink(path)


OPS: dict[str, Callable[..., Any]] = {
    name[3:]: fn for name, fn in list(globals().items()) if name.startswith("op_") and callable(fn)
}


def serve(rfd: int = 0, wfd: int = 1) -> None:
    """Answer ``[op, args]`` JSON lines with ``{"ok": result}`` or ``{"err": traceback}`` until EOF;
    then kill and reap the kids this process forked."""
    lines = _Lines(rfd)
    try:
        while (line := lines.readline()) is not None:
            try:
                op, args = json.loads(line)
                answer: dict[str, Any] = {"ok": OPS[op](*args)}
            except Exception:
                answer = {"err": traceback.format_exc()}
            _send(wfd, answer)
    finally:
        for link in _KIDS.values():
            try:
                os.kill(link.pid, signal.SIGKILL)
                os.waitpid(link.pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass


# ------------------------------------------------------------------ test side: driving children
CHILD_CODE = "import sys; sys.path.insert(0, sys.argv[1]); import memhelpers; memhelpers.serve()"
_HERE = os.path.dirname(os.path.abspath(__file__))


def join_cgroup(cgroup: str) -> None:
    """Move the calling process into ``cgroup`` (a v1 or v2 cgroup directory)."""
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))


class ChildError(AssertionError):
    """An operation failed inside a child (the message holds its traceback)."""


class Child:
    """A fresh interpreter (``python -I``) running ``serve``; ``close`` always kills and reaps it."""

    def __init__(self, executable: str | None = None, cgroup: str | None = None) -> None:
        """``executable``: another interpreter binary (a copy under a unique name: a program of its own).
        ``cgroup``: a cgroup directory the child joins before it execs, so all of its memory is charged there."""
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([executable or sys.executable, "-I", "-c", CHILD_CODE, _HERE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     preexec_fn=None if cgroup is None else lambda: join_cgroup(cgroup))
        self.pid = self.proc.pid
        self.kids: list[int] = []
        assert self.proc.stdout is not None
        self._lines = _Lines(self.proc.stdout.fileno())
        if self.call("pid") != self.pid:
            raise ChildError("child answered with another pid")

    def call(self, op: str, *args: Any, timeout: float = 30) -> Any:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps([op, list(args)]) + "\n").encode())
            self.proc.stdin.flush()
            line = self._lines.readline(timeout)
        except (BrokenPipeError, TimeoutError) as exc:
            raise ChildError(f"child {self.pid} {op}: {exc}; stderr: {self.stderr()}") from None
        if line is None:
            raise ChildError(f"child {self.pid} exited during {op}; stderr: {self.stderr()}")
        answer = json.loads(line)
        if "err" in answer:
            raise ChildError(f"child {self.pid} {op}{tuple(args)} failed:\n{answer['err']}")
        return answer["ok"]

    def fork(self) -> Kid:
        kid = Kid(self, int(self.call("fork")))
        self.kids.append(kid.pid)
        return kid

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        """Ask politely (stdin EOF: the child kills and reaps its kids), then SIGKILL; always reap."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                for kid in self.kids:  # still the child's (maybe zombie) children: the pids are ours
                    try:
                        os.kill(kid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


class Kid:
    """A forked grandchild, reached through its parent ``Child``."""

    def __init__(self, parent: Child, pid: int) -> None:
        self.parent, self.pid = parent, pid

    def call(self, op: str, *args: Any) -> Any:
        return self.parent.call("kid", self.pid, op, *args)


# ------------------------------------------------------------------ test side: kernel truth
def smaps_entry(pid: int, start: int) -> dict[str, Any]:
    """The raw smaps entry that starts at ``start``: ``{"end", "path", "VmFlags", field: kB...}``."""
    found: dict[str, Any] | None = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and ":" not in head:
                if found is not None:
                    break
                lo, hi = (int(x, 16) for x in head.split("-"))
                if lo == start:
                    parts = line.split(None, 5)
                    found = {"end": hi, "path": parts[5].strip() if len(parts) > 5 else ""}
            elif found is not None:
                key, _, value = line.partition(":")
                if key == "VmFlags":
                    found["VmFlags"] = value.split()
                else:
                    found[key] = int(value.split()[0])
    if found is None:
        raise LookupError(f"pid {pid} has no mapping at {start:#x}")
    return found


@contextmanager
def temp_file(directory: str, npages: int, prefix: str = "memtype-live-") -> Iterator[str]:
    """A file of ``npages`` non-zero pages, written with write() (its page cache is resident)."""
    fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        try:
            chunk = b"\x5a" * MiB
            left = npages * PAGE
            while left:
                left -= os.write(fd, chunk[:min(left, len(chunk))])
        finally:
            os.close(fd)
        yield path
    finally:
        os.unlink(path)


@contextmanager
def prepared_swapfile(directory: str, skip: Callable[[str], object], mb: int = 256) -> Iterator[TempSwapfile]:
    """A swapfile made but still off (``on()`` right before it is needed: with swap on, DAMON swaps out
    idle memory machine-wide); always swapped off and deleted. ``skip(reason)`` is called (pytest.skip)
    when this filesystem or kernel cannot make one."""
    swap = TempSwapfile(directory, mb)
    try:
        try:
            swap.prepare()
        except SwapSetupError as exc:
            skip(f"cannot make a swapfile here: {exc}")
        yield swap
    finally:
        swap.close()


def rmdir_cgroup(path: str, tries: int) -> None:
    """Remove the cgroup ``path``, retrying every 0.1 s up to ``tries`` times (a killed or moved task leaves
    its cgroup a moment later); the last attempt's error propagates."""
    for _ in range(tries):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)
    os.rmdir(path)


def cut_v1_limit(cg: str, x: int) -> bool:
    """Set the v1 cgroup ``cg``'s memory.limit_in_bytes to its usage less ``x``: True when the kernel
    answered EBUSY (it could not reclaim that much), False when the limit was set."""
    import errno

    with open(os.path.join(cg, "memory.usage_in_bytes")) as f:
        usage = int(f.read())
    try:
        with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
            f.write(str(usage - x))
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        return True
    return False


def v2_memory_mount() -> tuple[str | None, str]:
    """A cgroup2 mount whose root delegates the memory controller to children, or why there is none."""
    why = "no cgroup2 mount"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] != ["cgroup2"]:
                continue
            point = left.split()[4]
            with open(os.path.join(point, "cgroup.controllers")) as c:
                controllers = c.read().split()
            if "memory" not in controllers:
                why = f"cgroup v2 at {point} has no memory controller (cgroup.controllers: {' '.join(controllers)})"
                continue
            with open(os.path.join(point, "cgroup.subtree_control")) as c:
                if "memory" not in c.read().split():
                    why = f"{point}/cgroup.subtree_control lacks memory (not changing it)"
                    continue
            return point, ""
    return None, why
