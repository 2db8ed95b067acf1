"""What a kill would free, for every process of a scan: the kernel's own memory per process (page tables,
kernel stacks), read here, and ``memtype.model.freed`` applied with the shmem account.

* Page tables: ``VmPTE`` of /proc/PID/status (``mm_pgtables_bytes``: PTE, PMD and PUD pages) plus
  the PGD, which is allocated apart and not in it: one page, two with PTI (x86 ``PGD_ALLOCATION_ORDER``;
  PTI is on where /sys/devices/system/cpu/vulnerabilities/meltdown says so). Observed here (AMD, no
  PTI): meminfo ``PageTables`` fell by VmPTE + 4096 when a process with VmPTE 8288 kB was killed.
* Kernel stacks: ``Threads`` x the stack size of one task. The kernel does not print THREAD_SIZE; meminfo
  ``KernelStack`` over the number of tasks (/proc/loadavg's ``running/total``) gives it (16 KiB on x86_64,
  32 KiB with KASAN), rounded to a whole number of pages; ``None`` where either is missing.

The race policy is the scan's: a process gone or denied since its smaps was read keeps ``kernel``
``None``, so what it would free is unknown.
"""

from __future__ import annotations

from memtype.collect.shm import read_shm
from memtype.errors import MemtypeError
from memtype.model.freed import freed_if_group_killed, freed_if_killed
from memtype.parse.procfiles import parse_meminfo
from memtype.source.root import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.freed import AccountLike
    from memtype.model.cgroups import CgroupTree
    from memtype.model.records import ProcessMemory, Scan
    from memtype.model.shm import ShmAccount


def stack_size(root: Root) -> int | None:
    """The kernel stack of one task (bytes): meminfo ``KernelStack`` / the tasks of /proc/loadavg."""
    try:
        stack = parse_meminfo(root.read_text("proc/meminfo")).get("KernelStack")
        fields = root.read_text("proc/loadavg").split()
        tasks = int(fields[3].split("/")[1])
    except (MemtypeError, ValueError, IndexError):
        return None
    if stack is None or tasks <= 0:
        return None
    page = 4096
    return max(page, round(stack / tasks / page) * page)


def pgd_size(root: Root, page: int = 4096) -> int:
    """The PGD of one process: two pages with x86 PTI (the user half's copy), else one."""
    try:
        pti = "PTI" in root.read_text("sys/devices/system/cpu/vulnerabilities/meltdown")
    except MemtypeError:
        pti = False
    return 2 * page if pti else page


def kernel_memory(status_text: str, stack: int | None, pgd: int = 4096) -> dict[str, int | None]:
    """``page_tables`` (VmPTE + the PGD), ``threads`` and ``kernel_stack`` of one process from its status."""
    pte = threads = None
    for line in status_text.splitlines():
        if line.startswith("VmPTE:"):
            parts = line.split()
            pte = int(parts[1]) * 1024 + pgd if len(parts) > 1 and parts[1].isdigit() else None
        elif line.startswith("Threads:"):
            parts = line.split()
            threads = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return {"page_tables": pte, "threads": threads,
            "kernel_stack": threads * stack if threads is not None and stack is not None else None}


def read_kernel(root: Root, processes: list[ProcessMemory]) -> list[ProcessMemory]:
    """The processes with ``kernel`` read from their status (``None`` where it is no longer readable)."""
    stack, pgd = stack_size(root), pgd_size(root)
    out = []
    for p in processes:
        try:
            kernel: dict[str, int | None] | None = kernel_memory(root.read_text(f"proc/{p.pid}/status", p.pid), stack,
                                                                      pgd)
        except MemtypeError:
            kernel = None
        out.append(p.replace(kernel=kernel))
    return out


def read_freed(root: Root, scan: Scan, account: ShmAccount | None = None) -> Scan:
    """The scan with ``kernel`` and ``freed`` for every process: its status read again for page tables
    and threads, and who holds which shmem object (``read_shm``: every process's maps and fds, and the
    tmpfs mounts) unless ``account`` is given."""
    if account is None:
        account = read_shm(root)
    return annotate_freed(scan.replace(processes=read_kernel(root, scan.processes)), account)


def annotate_freed(scan: Scan, account: AccountLike | None) -> Scan:
    """The scan with each process's ``freed`` (``kernel`` must be read first: ``read_kernel``)."""
    procs = scan.processes
    absent = scan.host.smaps_absent
    return scan.replace(processes=[p.replace(freed=freed_if_killed(p, account, processes=procs, absent=absent))
                                   for p in procs])


def read_cgroups_freed(root: Root, tree: CgroupTree, scan: Scan) -> Scan:
    """Set each cgroup's ``freed``: what killing every process of its subtree frees (pages and objects
    shared only inside it count once, as its own). A cgroup with a member memtype could not read
    (``unread``: denied, gone...) gets ``None``: its share is unknown. Returns the scan with ``freed``."""
    account = read_shm(root)
    scan = read_freed(root, scan, account)
    by_pid = {p.pid: p for p in scan.processes}
    absent = scan.host.smaps_absent
    for cg in tree.cgroups:
        members = [by_pid[pid] for pid in cg.members.pids if pid in by_pid]
        unread = {why: n for why, n in cg.unread.items() if why != "no user memory"}
        cg.freed = None if unread else freed_if_group_killed(members, account, absent=absent)
    return scan
