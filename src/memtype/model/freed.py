"""What the kernel would free if a process (or every process of a cgroup) exited now (Contract F).

USS (psutil: ``Private_Clean + Private_Dirty``, plus ``Swap`` in its ``memory_full_info``) counts
pages by mapcount, not by who keeps the object alive, so it is wrong for shared memory: a memfd or
``MAP_SHARED`` region mapped once but held by another process's fd, a ``/dev/shm`` file or SysV
segment (a name outlives every holder), a buffer passed over a socket (landscape-next.md §5.2).
Here a kill frees, and only these (the kernel's exit path: ``exit_mmap`` unmaps every VMA and
frees the page tables; the last ``fput``/``shm_destroy`` frees a shmem object):

* ``anon_exclusive``: anonymous pages only it maps (mapcount 1, smaps ``Private_*`` of anon memory,
  COW copies already made included): the ``anonymous`` kind. Exact with ``--exact`` (kpagecount 1).
* ``cow_exclusive``: copy-on-write pages mapped more than once, but only by processes that go with it.
  For one process smaps cannot tell who the other mapper is: they count as shared (stay), an
  estimate (a KSM page merged only inside this process would be freed too). For a cgroup, pages
  shared inside the group count once, as the group's: ``Σ Pss`` of its cow anon pages (exact when
  no member shares them with a process outside the group).
* ``swap_private``: swap entries only it holds. smaps ``SwapPss`` divides each anon entry by its
  holders (spec E.1): ``Swap == SwapPss`` means every entry is its own (exact); otherwise the entries
  are taken as held by two processes (as after one fork), ``2 SwapPss - Swap`` (an estimate).
* ``page_tables``: ``VmPTE`` of /proc/PID/status plus the PGD it omits (``memtype.collect.freed``).
* ``kernel_stack``: its threads' kernel stacks (threads x the stack size meminfo ``KernelStack``
  shows per task; ``memtype.collect.freed``).
* ``shm_last_holder`` / ``shm_swap``: the resident and swapped bytes of shmem objects it is the last
  holder of (no other process maps it, holds an fd or is attached) and that have no name (memfd,
  ``MAP_SHARED|MAP_ANONYMOUS``, a SysV segment marked for removal, a deleted tmpfs file).

What stays, with why: shared cow (with the PIDs likely to share it: its fork relatives), shared
swap entries, named shm (a /dev/shm file, a SysV segment not removed), objects someone else still
holds (who), page cache (file pages and unwritten private file pages: they stay cached), hugetlb
(back to the pool, not to MemFree) and driver pages (the driver decides).

``None`` is unknown: a part whose figure the kernel does not give (no ``SwapPss`` before 4.3, no
status read) or shmem ownership that was not read (no ``ShmAccount``); then the total is ``None``.
"""

from __future__ import annotations

from memtype.kinds import Kind
from memtype.model.frozen import Frozen, FrozenValue, fill

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Protocol

    from memtype.model.records import Mapping, ProcessMemory

    class HolderLike(Protocol):
        """What is read of ``memtype.model.shm.ShmHolder`` (Contract S)."""

        @property
        def pid(self) -> int: ...
        @property
        def how(self) -> str: ...

    class ObjectLike(Protocol):
        """What is read of ``memtype.model.shm.ShmObject`` (Contract S)."""

        @property
        def key(self) -> str: ...
        @property
        def kind(self) -> str: ...
        @property
        def name(self) -> str | None: ...
        @property
        def named(self) -> bool: ...
        @property
        def resident(self) -> int | None: ...
        @property
        def swapped(self) -> int | None: ...
        @property
        def holders(self) -> Sequence[HolderLike]: ...
        @property
        def attached_unseen(self) -> int | None: ...
        @property
        def dev(self) -> str: ...
        @property
        def inode(self) -> int: ...

    class AccountLike(Protocol):
        """What is read of ``memtype.model.shm.ShmAccount`` (Contract S)."""

        @property
        def objects(self) -> Sequence[ObjectLike]: ...
        @property
        def skipped(self) -> dict[str, int]: ...


# The parts, RAM first; ``Freed.bytes`` is their sum, ``ram`` and ``swap`` split it.
RAM_PARTS = ("anon_exclusive", "cow_exclusive", "page_tables", "kernel_stack", "shm_last_holder")
SWAP_PARTS = ("swap_private", "shm_swap")
PARTS = RAM_PARTS + SWAP_PARTS
PART_HELP = {
    "anon_exclusive": "anonymous pages only it maps (mapcount 1; COW copies it made included)",
    "cow_exclusive": "copy-on-write pages mapped more than once, by no process that stays",
    "page_tables": "its page tables (status VmPTE, plus the PGD it omits)",
    "kernel_stack": "its threads' kernel stacks",
    "shm_last_holder": "resident shmem of unnamed objects it is the last holder of",
    "swap_private": "anon swap entries only it holds",
    "shm_swap": "swapped shmem of unnamed objects it is the last holder of",
}
# Why a thing stays (``Stay.what`` -> the reason, where it does not depend on the object).
STAY_WHY = {
    "cow_shared": "copy-on-write pages another process still maps (fork)",
    "swap_shared": "swap entries another process still holds (fork)",
    "page_cache": "page cache stays cached after exit (the file is its source; reclaim may drop it)",
    "hugetlb": "hugetlb pages go back to the hugetlb pool (HugePages_Free), not to free memory",
    "device": "driver pages: the driver frees them when its last reference goes, which smaps does not show",
}


class Stay(FrozenValue):
    """Memory a kill would not free: ``what`` (a ``STAY_WHY`` key, or ``shm``), bytes (``None``: unknown),
    ``why`` in words and the PIDs that keep it (``()``: none, or not known)."""

    __slots__ = ("what", "bytes", "why", "pids")

    what: str
    bytes: int | None
    why: str
    pids: tuple[int, ...]

    def __init__(self, what: str, bytes: int | None, why: str, pids: tuple[int, ...] = ()) -> None:
        fill(self, what, bytes, why, pids)

    def as_dict(self) -> dict[str, object]:
        return {"what": self.what, "bytes": self.bytes, "why": self.why, "pids": list(self.pids)}


class ObjectFate(FrozenValue):
    """One shmem object the process (or cgroup) holds: freed by the kill or not, and why.

    ``others``: the PIDs outside the killed set that hold it too (``-1`` stands for a SysV attachment
    whose process is not known)."""

    __slots__ = ("key", "kind", "name", "freed", "resident", "swapped", "why", "others", "dev", "inode")

    key: str
    kind: str
    name: str | None
    freed: bool
    resident: int | None
    swapped: int | None
    why: str
    others: tuple[int, ...]
    dev: str  # as maps prints it ("00:01"); SysV: inode is the shmid
    inode: int

    def __init__(self, key: str, kind: str, name: str | None, freed: bool, resident: int | None,
                 swapped: int | None, why: str, others: tuple[int, ...] = (), dev: str = "", inode: int = 0) -> None:
        fill(self, key, kind, name, freed, resident, swapped, why, others, dev, inode)

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "kind": self.kind, "name": self.name, "freed": self.freed,
                "resident": self.resident, "swapped": self.swapped, "why": self.why, "others": list(self.others)}


class Freed(Frozen):
    """What a kill would free, by part (bytes; ``None``: unknown), and what stays with why.

    ``estimates``: the parts whose figure is an estimate, with the reason (``{}``: every part exact).
    """

    __slots__ = ("parts", "stays", "objects", "estimates")

    parts: dict[str, int | None]
    stays: tuple[Stay, ...]
    objects: tuple[ObjectFate, ...]
    estimates: dict[str, str]

    def __init__(self, parts: dict[str, int | None], stays: tuple[Stay, ...] = (),
                 objects: tuple[ObjectFate, ...] = (), estimates: dict[str, str] | None = None) -> None:
        fill(self, parts, stays, objects, estimates if estimates is not None else {})

    @property
    def bytes(self) -> int | None:
        """RAM and swap a kill frees; ``None`` when a part is unknown."""
        return _sum(self.parts, PARTS)

    @property
    def ram(self) -> int | None:
        return _sum(self.parts, RAM_PARTS)

    @property
    def swap(self) -> int | None:
        return _sum(self.parts, SWAP_PARTS)

    @property
    def exact(self) -> bool:
        return not self.estimates

    def as_dict(self) -> dict[str, object]:
        """The JSON detail (``freed`` of a ``ps``/``cgroups`` record)."""
        return {"bytes": self.bytes, "ram": self.ram, "swap": self.swap, "parts": dict(self.parts),
                "estimates": dict(self.estimates), "stays": [s.as_dict() for s in self.stays],
                "objects": [o.as_dict() for o in self.objects]}

    def __repr__(self) -> str:
        return f"Freed(bytes={self.bytes}, parts={self.parts})"


def _sum(parts: dict[str, int | None], names: Sequence[str]) -> int | None:
    total = 0
    for n in names:
        v = parts.get(n)
        if v is None:
            return None
        total += v
    return total


def freed_if_killed(process: ProcessMemory, account: AccountLike | None, *,
                    processes: Iterable[ProcessMemory] = (), absent: frozenset[str] = frozenset()) -> Freed:
    """What the kernel would free if ``process`` exited now.

    Args:
        process: its record; ``process.kernel`` (page tables, stack) as ``memtype.collect.freed`` reads it.
        account: who holds which shmem object (``memtype.collect.shm.read_shm``); ``None``: not read,
            so its shmem part is unknown.
        processes: the scan it comes from, to name the relatives that likely share its cow pages.
        absent: smaps fields this kernel does not print (``HostInfo.smaps_absent``).
    """
    return _freed([process], account, absent, [o for o in processes if o is not process])


def freed_if_group_killed(members: Sequence[ProcessMemory], account: AccountLike | None, *,
                          absent: frozenset[str] = frozenset()) -> Freed:
    """What killing every process of ``members`` (a cgroup) would free: pages and objects shared only
    inside the group count once, as the group's."""
    return _freed(list(members), account, absent, ())


def _freed(members: list[ProcessMemory], account: AccountLike | None, absent: frozenset[str],
           others: Iterable[ProcessMemory]) -> Freed:
    single = len(members) == 1
    parts: dict[str, int | None] = {}
    estimates: dict[str, str] = {}
    stays: list[Stay] = []
    anon = cow_anon = cow_anon_pss = swap = swap_pss = cache = hugetlb = device = 0
    for p in members:
        k = p.categories
        anon += k[Kind.ANONYMOUS].rss
        cow_anon += k[Kind.COW].rss - p.totals.cow_file
        cow_anon_pss += k[Kind.COW].pss - p.totals.cow_file_pss
        swap += k[Kind.ANONYMOUS].swap + k[Kind.COW].swap
        swap_pss += k[Kind.ANONYMOUS].swap_pss + k[Kind.COW].swap_pss
        cache += k[Kind.FILE].rss + p.totals.cow_file
        hugetlb += p.totals.hugetlb
        device += k[Kind.DEVICE].rss
    parts["anon_exclusive"] = anon
    # -- copy-on-write anon pages (mapcount > 1)
    if single:
        parts["cow_exclusive"] = 0
        if cow_anon:
            estimates["cow_exclusive"] = ("smaps does not say who else maps a page: pages mapped twice are taken as "
                                          "shared with another process (KSM pages merged only inside it would be "
                                          "freed too)")
            stays.append(Stay("cow_shared", cow_anon, STAY_WHY["cow_shared"], _relatives(members[0], others)))
    else:
        freed_cow = max(0, min(cow_anon, cow_anon_pss))
        parts["cow_exclusive"] = freed_cow
        if cow_anon:
            estimates["cow_exclusive"] = ("the Pss of the members' cow pages: exact when no process outside the group "
                                          "maps them")
        if cow_anon - freed_cow:
            stays.append(Stay("cow_shared", cow_anon - freed_cow, "copy-on-write pages counted once for the group "
                              "(or shared with a process outside it)"))
    # -- anon swap entries
    if "SwapPss" in absent and swap:
        parts["swap_private"] = None
        stays.append(Stay("swap_shared", None, "this kernel has no SwapPss (before 4.3): which swap entries are "
                          "shared is unknown"))
    elif swap == swap_pss:
        parts["swap_private"] = swap
    else:
        private = swap_pss if not single else max(0, 2 * swap_pss - swap)
        parts["swap_private"] = private
        estimates["swap_private"] = ("SwapPss divides shared entries by their holders: taken as two holders, as after "
                                     "one fork" if single else
                                     "Σ SwapPss of the members: exact when no process outside the group holds their "
                                     "shared entries")
        stays.append(Stay("swap_shared", swap - private, STAY_WHY["swap_shared"],
                          _relatives(members[0], others) if single else ()))
    # -- the kernel's own memory for the process
    parts["page_tables"] = _kernel_sum(members, "page_tables")
    parts["kernel_stack"] = _kernel_sum(members, "kernel_stack")
    # -- shmem objects
    objects = _object_fates({p.pid for p in members}, account)
    if account is None:
        parts["shm_last_holder"] = parts["shm_swap"] = None
    else:
        parts["shm_last_holder"] = _sum_fates(objects, "resident")
        parts["shm_swap"] = _sum_fates(objects, "swapped")
        unread = sum(n for why, n in account.skipped.items() if why != "gone")
        if unread and any(o.freed for o in objects):
            estimates["shm_last_holder"] = (f"{unread} processes' maps and fds could not be read: one of them may "
                                            "hold an object counted as freed")
        for o in objects:
            if not o.freed:
                stays.append(Stay("shm", o.resident, o.why, o.others))
    if cache:
        stays.append(Stay("page_cache", cache, STAY_WHY["page_cache"]))
    if hugetlb:
        stays.append(Stay("hugetlb", hugetlb, STAY_WHY["hugetlb"]))
    if device:
        stays.append(Stay("device", device, STAY_WHY["device"]))
    return Freed(parts, tuple(stays), tuple(objects), estimates)


def _kernel_sum(members: list[ProcessMemory], name: str) -> int | None:
    total = 0
    for p in members:
        v = p.kernel.get(name) if p.kernel is not None else None
        if v is None:
            return None
        total += v
    return total


def _sum_fates(objects: list[ObjectFate], attr: str) -> int | None:
    total = 0
    for o in objects:
        if o.freed:
            v = getattr(o, attr)
            if v is None:
                return None
            total += v
    return total


def _object_fates(pids: set[int], account: AccountLike | None) -> list[ObjectFate]:
    """Every object a PID of ``pids`` holds, freed (no other holder and no name) or kept (and by whom)."""
    out: list[ObjectFate] = []
    for obj in account.objects if account is not None else ():
        holders = obj.holders
        if not any(h.pid in pids for h in holders):
            continue
        others = tuple(sorted({h.pid for h in holders if h.pid not in pids}))
        if obj.attached_unseen:  # SysV attachments of processes we could not see (another PID namespace)
            others = (-1, *others)
        if obj.named:
            freed, why = False, _named_why(obj)
        elif others:
            who = ", ".join("a SysV attachment of an unknown process" if pid < 0 else f"PID {pid}" for pid in others)
            freed, why = False, f"still held by {who}"
        else:
            freed, why = True, "its last holder goes and it has no name: the kernel frees it"
        out.append(ObjectFate(obj.key, obj.kind, obj.name, freed, obj.resident, obj.swapped, why, others, obj.dev,
                              obj.inode))
    return out


def _named_why(obj: ObjectLike) -> str:
    if obj.kind == "sysv":
        return "a SysV segment not marked for removal (IPC_RMID) outlives its attachments"
    return f"named ({obj.name}): the file keeps its pages after every holder is gone; only unlinking frees them"


def _relatives(p: ProcessMemory, others: Iterable[ProcessMemory]) -> tuple[int, ...]:
    """The processes most likely to share ``p``'s cow pages: its fork family with cow pages of its own
    (up through ancestors that have cow pages too, then every descendant of the topmost that has some).
    A hint: smaps does not name the sharers."""
    with_cow = {o.pid: o.ppid for o in others if o.categories[Kind.COW].rss - o.totals.cow_file > 0}
    if not with_cow:
        return ()
    with_cow[p.pid] = p.ppid
    top, seen = p.pid, {p.pid}
    while (parent := with_cow[top]) is not None and parent in with_cow and parent not in seen:  # damaged input may loop
        top = parent
        seen.add(top)
    family = {top}
    changed = True
    while changed:
        changed = False
        for pid, ppid in with_cow.items():
            if pid not in family and ppid in family:
                family.add(pid)
                changed = True
    return tuple(sorted(pid for pid in family if pid != p.pid))


class MappingFate(FrozenValue):
    """One mapping's share of a kill (``maps --freed``): bytes freed and bytes that stay (resident plus
    swapped, ``None``: unknown), and why what stays stays ("" where nothing does)."""

    __slots__ = ("freed", "stays", "why")

    freed: int | None
    stays: int | None
    why: str

    def __init__(self, freed: int | None, stays: int | None, why: str) -> None:
        fill(self, freed, stays, why)


_SHMEM_CLASSES = ("shmem", "shmem-hugetlb", "shmem-private")


def mapping_fate(m: Mapping, freed: Freed) -> MappingFate:
    """What killing its process frees of mapping ``m``: its own anon pages and private swap (the same
    estimate as the process's: ``2 SwapPss - Swap`` where entries are shared), the shmem it maps where
    the object goes with the process (``freed.objects``), nothing of page cache, cow-shared pages,
    hugetlb or driver pages."""
    k = m.categories
    anon_swap = k[Kind.ANONYMOUS].swap + k[Kind.COW].swap
    anon_swap_pss = k[Kind.ANONYMOUS].swap_pss + k[Kind.COW].swap_pss
    private_swap = anon_swap if anon_swap == anon_swap_pss else max(0, 2 * anon_swap_pss - anon_swap)
    own = k[Kind.ANONYMOUS].rss + private_swap
    whys: list[str] = []
    stays = anon_swap - private_swap
    cow_anon = k[Kind.COW].rss - m.totals.cow_file
    if cow_anon:
        stays += cow_anon
        whys.append(STAY_WHY["cow_shared"])
    if anon_swap - private_swap:
        whys.append(STAY_WHY["swap_shared"])
    cache = k[Kind.FILE].rss + m.totals.cow_file
    if cache:
        stays += cache
        whys.append(STAY_WHY["page_cache"])
    if m.totals.hugetlb and m.mapclass == "anon-hugetlb":
        stays += m.totals.hugetlb
        whys.append(STAY_WHY["hugetlb"])
    if k[Kind.DEVICE].rss:
        stays += k[Kind.DEVICE].rss
        whys.append(STAY_WHY["device"])
    shmem = k[Kind.SHARED].rss + k[Kind.SHARED].swap + (m.totals.hugetlb if m.mapclass == "shmem-hugetlb" else 0)
    obj = _object_of(m, freed.objects) if m.mapclass in _SHMEM_CLASSES else None
    if m.mapclass in _SHMEM_CLASSES and (shmem or obj is not None):  # the object's fate, even where none is resident
        if obj is None:
            return MappingFate(None, None, "who else holds this shared memory was not read")
        if obj.freed:
            own += shmem
        else:
            stays += shmem
            whys.append(obj.why)
    return MappingFate(own, stays, "; ".join(whys))


def _object_of(m: Mapping, objects: Sequence[ObjectFate]) -> ObjectFate | None:
    if m.path.startswith("/SYSV"):
        return next((o for o in objects if o.kind == "sysv" and o.inode == m.inode), None)
    return next((o for o in objects if o.kind != "sysv" and o.inode == m.inode and o.dev == m.dev), None)


def kill_fate(obj: ObjectLike) -> tuple[int | None, str]:
    """What killing every holder of ``obj`` frees of it (resident plus swapped bytes; ``None``: unknown),
    and why: a name keeps it whatever is killed; else it goes with its last holder (``memtype shm``)."""
    pids = sorted({h.pid for h in obj.holders})
    if obj.named:
        return 0, _named_why(obj)
    if not pids and not obj.attached_unseen:
        return 0, "nobody holds it: it is being freed"
    who = ", ".join(str(p) for p in pids) or "none seen"
    unseen = " and the SysV attachments of processes not seen" if obj.attached_unseen else ""
    size = None if obj.resident is None or obj.swapped is None else obj.resident + obj.swapped
    return size, f"freed when its holders exit: PID {who}{unseen}"
