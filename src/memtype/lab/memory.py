"""The system calls the lab's children make memory with, through ctypes (Linux, x86_64 and arm64 numbers).

Mappings are made between two PROT_NONE guard pages (kernel-spec.md A.7, surprise 15: adjacent anonymous
mappings with equal flags merge, and the lab measures each mapping by its address).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform

PAGE = os.sysconf("SC_PAGE_SIZE")
MADV_PAGEOUT = 21  # since 5.4; Python 3.11 has no constant (spec E.3)
POSIX_FADV_RANDOM, POSIX_FADV_DONTNEED = 1, 4
MAP_FIXED, MAP_NORESERVE = 0x10, 0x4000
PROT_NONE = 0  # mmap.PROT_NONE only from Python 3.13
IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
# perf_event_open(2): 298 on x86_64, 241 in the generic table (arm64, riscv)
SYS_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "riscv64": 241}.get(platform.machine())
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_DUMMY = 1, 9
KVM_CREATE_VM, KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VCPU = 0xAE01, 0xAE04, 0xAE41  # include/uapi/linux/kvm.h

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _error(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def map_isolated(length: int, flags: int = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, fd: int = -1,
                 prot: int = mmap.PROT_READ | mmap.PROT_WRITE) -> int:
    """mmap ``length`` bytes between two PROT_NONE guard pages; returns the address."""
    base = _libc.mmap(None, length + 2 * PAGE, PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0)
    if base in (None, _MAP_FAILED):
        raise _error("mmap")
    addr = _libc.mmap(base + PAGE, length, prot, flags | MAP_FIXED, fd, 0)
    if addr in (None, _MAP_FAILED):
        raise _error("mmap")
    return int(addr)


def write_pages(addr: int, length: int, byte: int = 0x5A) -> None:
    """Write every page of [addr, addr+length) (non-zero bytes: the zero page would count 0, spec A)."""
    _libc.memset(addr, byte, length)


def read_pages(addr: int, length: int) -> int:
    """Read one byte of every page (faults them in: the zero page for unwritten anon, page cache for files)."""
    return sum(ctypes.c_ubyte.from_address(addr + off).value for off in range(0, length, PAGE))


def madvise(addr: int, length: int, advice: int) -> None:
    if _libc.madvise(addr, length, advice) != 0:
        raise _error(f"madvise({advice})")


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG(SIGKILL): a grandchild goes when the child that forked it goes."""
    import signal

    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_name(name: str) -> None:
    """PR_SET_NAME: the process's comm (15 bytes), so ``memtype ps`` and ``top`` show what the lab made."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, ctypes.addressof(buf), 0, 0, 0)


def sysv_segment(length: int) -> tuple[int, int]:
    """A private SysV segment, attached and at once marked for removal (IPC_RMID: it goes with the last
    detach, so nothing is left behind whatever happens); (shmid, address)."""
    shmid = _libc.shmget(IPC_PRIVATE, length, IPC_CREAT | 0o600)
    if shmid < 0:
        raise _error("shmget")
    addr = _libc.shmat(shmid, None, 0)
    if addr in (None, _MAP_FAILED):
        err = _error("shmat")
        _libc.shmctl(shmid, IPC_RMID, None)
        raise err
    _libc.shmctl(shmid, IPC_RMID, None)
    return int(shmid), int(addr)


class _PerfAttr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64), ("rest", ctypes.c_uint8 * 64)]


def perf_ring(pages: int = 8) -> tuple[int, int]:
    """A perf ring buffer (1 + ``pages`` pages) of a software dummy event on this process: a VM_PFNMAP|VM_IO
    mapping (``anon_inode:[perf_event]``, spec A.4); (address, length)."""
    if SYS_PERF_EVENT_OPEN is None:
        raise OSError(0, f"perf_event_open: no syscall number known for {platform.machine()}")
    attr = _PerfAttr(type=PERF_TYPE_SOFTWARE, size=ctypes.sizeof(_PerfAttr), config=PERF_COUNT_SW_DUMMY,
                     flags=1 | 1 << 5 | 1 << 6)  # disabled, exclude_kernel, exclude_hv
    fd = _libc.syscall(SYS_PERF_EVENT_OPEN, ctypes.byref(attr), 0, -1, -1, 0)
    if fd < 0:
        raise _error("perf_event_open")
    length = (1 + pages) * PAGE
    addr = _libc.mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
    if addr in (None, _MAP_FAILED):
        raise _error("mmap perf ring")
    return int(addr), length


def kvm_vcpu() -> tuple[int, int]:
    """A KVM vCPU's kvm_run area mapped and touched: driver pages (``anon_inode:kvm-vcpu:0``, spec A.4);
    (address, length)."""
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = _libc.ioctl(kvm, KVM_CREATE_VM, 0)
    if vm < 0:
        raise _error("KVM_CREATE_VM")
    size = _libc.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
    vcpu = _libc.ioctl(vm, KVM_CREATE_VCPU, 0)
    if size <= 0 or vcpu < 0:
        raise _error("KVM_CREATE_VCPU")
    addr = _libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, vcpu, 0)
    if addr in (None, _MAP_FAILED):
        raise _error("mmap kvm_run")
    read_pages(int(addr), size)
    return int(addr), int(size)
