"""What a lab child runs: ``python -m memtype.lab.child SPEC`` (SPEC: JSON ``{"kind", "size", "keep", "dir"}``).

It makes one kind of memory (two processes where the kind needs two: it forks a grandchild, which dies
with it through PR_SET_PDEATHSIG), prints one JSON line (``{"items": [...]}``, or ``{"error": "..."}``)
and waits: for its stdin to close (the lab is done, or was killed), or with ``keep`` for SIGTERM. Named
objects are unnamed at once (the /dev/shm file unlinked, the SysV segment IPC_RMID, the files deleted),
so nothing outlives the processes whatever ends them.

Each item says where the memory is (``pid``, ``addr``, ``length``) and what was made (``expect``: figure
-> bytes, in the names ``lab.runner`` measures).
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import sys
import tempfile

from memtype.lab import memory as mem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MiB = 1 << 20
_NAME = ["lab"]  # this process's comm; a second process adds "-2"
Item = dict[str, "Any"]


def _item(id: str, form: str, addr: int | None, length: int, expect: dict[str, int], **extra: Any) -> Item:
    return {"id": id, "form": form, "pid": os.getpid(), "addr": addr, "length": length, "expect": expect, **extra}


def _grandchild(work: Any) -> Item:
    """Fork; the grandchild runs ``work()`` (-> item), sends it over a pipe and waits to be killed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        mem.die_with_parent()
        mem.set_name(_NAME[0] + "-2")
        try:
            found = work()
        except OSError as exc:
            found = {"error": f"{exc.strerror or exc}"}
        os.write(w, (json.dumps(found) + "\n").encode())
        os.close(w)
        while True:
            signal.pause()
    os.close(w)
    with os.fdopen(r) as f:
        line = f.readline()
    found = json.loads(line) if line else {"error": "the second process died"}
    if "error" in found:
        raise OSError(0, found["error"])
    return dict(found)


def anonymous(size: int) -> list[Item]:
    addr = mem.map_isolated(size)
    mem.write_pages(addr, size)
    return [_item("anon", "private anonymous mmap, every page written", addr, size, {"anonymous": size})]


def shared(size: int) -> list[Item]:
    part = size // 4
    out = []
    fd = os.memfd_create("memtype-lab", os.MFD_CLOEXEC)
    os.ftruncate(fd, part)
    addr = mem.map_isolated(part, mmap.MAP_SHARED, fd)
    mem.write_pages(addr, part)
    out.append(_item("memfd", "memfd, written by this process", addr, part, {"shared": part}, pair=1))

    def second() -> Item:
        a = mem.map_isolated(part, mmap.MAP_SHARED, fd)
        mem.read_pages(a, part)
        return _item("memfd-second", "the same memfd, mapped by a second process", a, part, {"shared": part}, pair=1)

    out.append(_grandchild(second))
    addr = mem.map_isolated(part, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    mem.write_pages(addr, part)
    out.append(_item("shared-anon", "MAP_SHARED|MAP_ANONYMOUS mmap", addr, part, {"shared": part}))
    _, addr = mem.sysv_segment(part)
    mem.write_pages(addr, part)
    out.append(_item("sysv", "SysV segment (shmget, shmat)", addr, part, {"shared": part}))
    if os.path.isdir("/dev/shm"):
        path = f"/dev/shm/memtype-lab-{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, part)
            addr = mem.map_isolated(part, mmap.MAP_SHARED, fd)
        finally:
            os.unlink(path)
        mem.write_pages(addr, part)
        out.append(_item("posix", "/dev/shm file (POSIX shm), mapped", addr, part, {"shared": part}))
    else:
        out.append(_item("posix", "/dev/shm file (POSIX shm), mapped", None, part, {}, missing="no /dev/shm on this machine"))
    return out


def cow(size: int) -> list[Item]:
    addr = mem.map_isolated(size)
    mem.write_pages(addr, size)
    rewritten = size // 4

    def child() -> Item:
        mem.write_pages(addr, rewritten, 0x33)
        return _item("cow-child", "the child after fork(), which rewrote a quarter", addr, size,
                     {"cow": size - rewritten, "anonymous": rewritten})

    kid = _grandchild(child)
    return [_item("cow-parent", "the parent: private anonymous memory written, then fork()", addr, size,
                  {"cow": size - rewritten, "anonymous": rewritten}), kid]


def _disk_file(directory: str, size: int) -> int:
    """A file of ``size`` bytes on disk, deleted at once (its fd is returned), not in the page cache."""
    fd, path = tempfile.mkstemp(prefix="memtype-lab-", dir=directory)  # O_EXCL, mode 0600
    os.unlink(path)
    chunk = b"\x5a" * MiB
    left = size
    while left:
        left -= os.write(fd, chunk[: min(left, MiB)])
    os.fsync(fd)  # clean pages: DONTNEED drops them
    os.posix_fadvise(fd, 0, 0, mem.POSIX_FADV_DONTNEED)
    return fd


def file(size: int, directory: str) -> list[Item]:
    half = size // 2
    fd = _disk_file(directory, size)
    os.posix_fadvise(fd, 0, 0, mem.POSIX_FADV_RANDOM)  # no readahead past what is read (surprise 17)
    for off in range(0, half, MiB):
        os.pread(fd, min(MiB, half - off), off)
    out = [_item("read", "a file read() in part (the first half), not mapped", None, size, {"page_cache": half}, fd=fd)]
    fd2 = _disk_file(directory, half)
    addr = mem.map_isolated(half, mmap.MAP_PRIVATE, fd2, prot=mmap.PROT_READ)
    mem.read_pages(addr, half)
    out.append(_item("mmap", "a file mmap()ed read-only, every page read", addr, half, {"file": half}))
    return out


def device(size: int) -> list[Item]:
    out = []
    try:
        addr, length = mem.perf_ring(8)
        out.append(_item("perf", "a perf ring buffer (perf_event_open + mmap)", addr, length, {"device_mapped": length}))
    except OSError as exc:
        out.append(_item("perf", "a perf ring buffer (perf_event_open + mmap)", None, 0, {},
                         missing=f"perf_event_open: {exc.strerror or exc} (kernel.perf_event_paranoid?)"))
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        try:
            addr, length = mem.kvm_vcpu()
            out.append(_item("kvm", "a KVM vCPU's kvm_run area (/dev/kvm), mapped and read", addr, length,
                             {"device": length}))
        except OSError as exc:
            out.append(_item("kvm", "a KVM vCPU's kvm_run area (/dev/kvm)", None, 0, {}, missing=f"{exc.strerror or exc}"))
    else:
        out.append(_item("kvm", "a KVM vCPU's kvm_run area (/dev/kvm)", None, 0, {},
                         missing="no /dev/kvm this user may open: driver pages shown by the perf ring only"))
    return out


def swap(size: int) -> list[Item]:
    addr = mem.map_isolated(size)
    mem.write_pages(addr, size)
    mem.madvise(addr, size, mem.MADV_PAGEOUT)  # synchronous; needs swap room (spec E.3)
    return [_item("pageout", "private anonymous memory written, then MADV_PAGEOUT", addr, size, {"anonymous.swap": size})]


def make(spec: dict[str, Any]) -> list[Item]:
    kind, size = spec["kind"], int(spec["size"])
    if kind == "file":
        return file(size, spec["dir"])
    makers = {"anonymous": anonymous, "shared": shared, "cow": cow, "device": device, "swap": swap}
    return makers[kind](size)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the lab's to handle: it cleans up
    spec = json.loads(sys.argv[1])
    _NAME[0] = f"lab-{spec['kind']}"[:13]
    mem.set_name(_NAME[0])
    try:
        items = make(spec)
    except OSError as exc:
        print(json.dumps({"error": f"{exc.strerror or exc}"}), flush=True)
        sys.exit(1)
    except Exception as exc:  # a bug: one line for the lab to show, never a traceback
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        sys.exit(1)
    print(json.dumps({"items": items}), flush=True)
    if spec.get("keep"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            signal.pause()
    sys.stdin.read()  # EOF: the lab closed the pipe, or died


if __name__ == "__main__":
    main()
