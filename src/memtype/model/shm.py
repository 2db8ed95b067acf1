"""Shared-memory objects and their holders (``memtype shm``; Contract S in PLAN.md).

Every shmem object the kernel has (kernel-spec.md: the **shared** kind) is one of: a SysV segment, a
file on a tmpfs mount (POSIX shm in /dev/shm, other tmpfs), a memfd, a ``MAP_SHARED|MAP_ANONYMOUS``
region (the kernel backs it with a shmem file ``/dev/zero (deleted)``, mm/shmem.c shmem_zero_setup),
or a tmpfs file unlinked but still held. Its pages count once in meminfo ``Shmem:`` however many
processes map it, so an object's resident bytes are the object's, never a sum over mappers.

Holders keep an object alive: a mapping, an open fd, a SysV attachment. A *name* keeps it alive after
every holder is gone: a tmpfs path still linked, a SysV segment not marked for removal (SHM_DEST).
An object with resident pages and no holder is **orphaned**: only removing the file or segment frees it.

``ShmAccount.rows`` add up to ``Shmem:`` exactly: the objects' resident bytes by kind, then the
remainder as its own named row (style: numbers add up). Unknown is ``None``, never 0.
"""

from __future__ import annotations

KINDS = ("sysv", "posix", "tmpfs", "memfd", "shared_anon", "deleted")
KIND_HELP = {
    "sysv": "SysV segments (/proc/sysvipc/shm)",
    "posix": "POSIX shm: files in /dev/shm",
    "tmpfs": "files on other tmpfs mounts",
    "memfd": "memfd_create(2) objects",
    "shared_anon": "MAP_SHARED|MAP_ANONYMOUS regions (shared across fork)",
    "deleted": "tmpfs files unlinked but still held",
}
HOWS = ("map", "fd", "attach")
UNACCOUNTED_WHY = ("Shmem no object explains: objects of processes not read, tmpfs mounts not visible here "
                   "(another mount namespace, or hidden under another mount), memfds in flight in a socket, "
                   "the kernel's own shmem (DRM/GEM buffers of i915 and others, which are shmem files)")


class ShmHolder:
    """A process that keeps an object alive: it maps it (``map``), holds it open (``fd``), or is a SysV
    attachment we see no mapping of (``attach``). ``rss``: bytes of the object this process maps
    (smaps Rss of its mappings of it; 0 for ``fd``; None: not read). ``swap``: smaps Swap of those
    mappings: the *object's* swapped pages in the mapped range (shmem_swap_usage), the same in every
    mapper, so never summed over holders (None: not read or not a mapper)."""

    __slots__ = ("pid", "how", "rss", "cgroup", "comm", "swap")

    def __init__(self, pid: int, how: str, rss: int | None, cgroup: str | None, comm: str | None = None,
                 swap: int | None = None) -> None:
        self.pid, self.how, self.rss, self.cgroup, self.comm = pid, how, rss, cgroup, comm
        self.swap = swap

    def __repr__(self) -> str:
        return f"ShmHolder({self.pid}, {self.how!r}, rss={self.rss})"


class ShmObject:
    """One shared-memory object.

    Attributes:
        key: stable id: ``sysv:<shmid>``, ``inode:<dev>:<ino>`` (dev as maps prints it, ``00:1b``), or
            ``anon:<pid>:<start hex>`` for a MAP_SHARED|MAP_ANONYMOUS region (lowest mapper, its start).
        kind: one of ``KINDS``. name: path, ``memfd:NAME``, SysV key (``0x1234abcd``); None: none.
        named: a name keeps it alive after every holder is gone.
        size: its size (st_size, SysV size); resident, swapped: bytes in RAM / in swap; None: unknown.
        holders: one per (pid, how). orphaned: resident > 0 and no holder at all.
        marked_removed: SysV: IPC_RMID was called (SHM_DEST) while attached; None: not SysV.
        measured: where resident/swapped come from (``sysvipc``, ``cachestat``, ``st_blocks``,
            ``mappings``: the largest mapper's Rss, a lower bound).
        nattch, cpid, lpid, uid: SysV only (None otherwise). attached_unseen: SysV attachments no
            process we read maps (nattch minus the mappers seen; in another PID namespace or unread).
        mount: the tmpfs mount point it lives on (None: the kernel's internal shm mount).
        dev, inode: its identity (maps format dev ``00:01``; SysV: inode = shmid).
    """

    __slots__ = ("key", "kind", "name", "named", "size", "resident", "swapped", "holders", "marked_removed",
                 "measured", "nattch", "cpid", "lpid", "uid", "attached_unseen", "mount", "dev", "inode")

    def __init__(self, key: str, kind: str, name: str | None, named: bool, size: int | None, resident: int | None,
                 swapped: int | None, holders: tuple[ShmHolder, ...] = (), marked_removed: bool | None = None,
                 *, measured: str | None = None, nattch: int | None = None, cpid: int | None = None,
                 lpid: int | None = None, uid: int | None = None, attached_unseen: int | None = None,
                 mount: str | None = None, dev: str = "", inode: int = 0) -> None:
        self.key, self.kind, self.name, self.named = key, kind, name, named
        self.size, self.resident, self.swapped = size, resident, swapped
        self.holders, self.marked_removed, self.measured = holders, marked_removed, measured
        self.nattch, self.cpid, self.lpid, self.uid = nattch, cpid, lpid, uid
        self.attached_unseen, self.mount, self.dev, self.inode = attached_unseen, mount, dev, inode

    @property
    def orphaned(self) -> bool:
        """Resident pages and no holder: no process maps it, holds it or is attached."""
        return bool(self.resident) and not self.holders and not self.attached_unseen

    @property
    def pids(self) -> tuple[int, ...]:
        """The distinct holding processes, sorted."""
        return tuple(sorted({h.pid for h in self.holders}))

    @property
    def mapped_rss(self) -> int | None:
        """The largest Rss one holder maps of it (None: no mapper read)."""
        known = [h.rss for h in self.holders if h.how == "map" and h.rss is not None]
        return max(known) if known else None

    def __repr__(self) -> str:
        return f"ShmObject({self.key!r}, {self.kind}, {self.name!r}, resident={self.resident})"


class ShmRow:
    """One row of the reconciliation: ``what`` (a kind, or a named remainder), bytes (None: unknown),
    how many objects, and why."""

    __slots__ = ("what", "bytes", "objects", "why")

    def __init__(self, what: str, bytes: int | None, objects: int | None, why: str) -> None:
        self.what, self.bytes, self.objects, self.why = what, bytes, objects, why

    def __repr__(self) -> str:
        return f"ShmRow({self.what!r}, {self.bytes})"


class ShmAccount:
    """Every shared-memory object found, and rows that add up to meminfo ``Shmem:``.

    Attributes:
        objects: largest resident first. shmem: meminfo Shmem in bytes (None: not reported).
        rows: resident bytes per kind, then ``unknown size`` (objects whose resident we could not
            measure: bytes None), then ``unaccounted`` = Shmem - the kinds (its own row, ``why``
            names what it can hold). Σ rows (known bytes) == shmem when shmem is known.
        processes: processes whose maps were read; skipped: processes not read, by reason.
        notes: what the reader could not do (one line each).
    """

    __slots__ = ("objects", "shmem", "rows", "processes", "skipped", "notes")

    def __init__(self, objects: tuple[ShmObject, ...], shmem: int | None, rows: tuple[ShmRow, ...] = (),
                 processes: int = 0, skipped: dict[str, int] | None = None, notes: tuple[str, ...] = ()) -> None:
        self.objects, self.shmem, self.rows = objects, shmem, rows
        self.processes, self.skipped, self.notes = processes, dict(skipped or {}), notes

    @property
    def resident(self) -> int:
        """Σ resident bytes of the objects whose resident is known."""
        return sum(o.resident for o in self.objects if o.resident is not None)

    @property
    def unaccounted(self) -> int | None:
        for r in self.rows:
            if r.what == "unaccounted":
                return r.bytes
        return None

    def by_key(self) -> dict[str, ShmObject]:
        return {o.key: o for o in self.objects}

    def held_by(self, pid: int) -> list[ShmObject]:
        """The objects ``pid`` maps, holds open or is attached to."""
        return [o for o in self.objects if any(h.pid == pid for h in o.holders)]

    def orphaned(self) -> list[ShmObject]:
        return [o for o in self.objects if o.orphaned]


def reconcile(objects: list[ShmObject] | tuple[ShmObject, ...], shmem: int | None,
              extra: tuple[ShmRow, ...] = ()) -> tuple[ShmRow, ...]:
    """The rows adding up to ``shmem``: resident bytes per kind (objects of unknown resident in a row
    of their own, bytes None), ``extra`` named rows (bytes known or None), and ``unaccounted``."""
    rows = []
    for kind in KINDS:
        of_kind = [o for o in objects if o.kind == kind and o.resident is not None]
        if of_kind:
            rows.append(ShmRow(kind, sum(o.resident or 0 for o in of_kind), len(of_kind), KIND_HELP[kind]))
    unknown = [o for o in objects if o.resident is None]
    if unknown:
        rows.append(ShmRow("unknown size", None, len(unknown), "objects whose resident bytes could not be read "
                           "(counted in unaccounted)"))
    rows.extend(extra)
    known = sum(r.bytes for r in rows if r.bytes is not None)
    rows.append(ShmRow("unaccounted", None if shmem is None else shmem - known, None, UNACCOUNTED_WHY))
    return tuple(rows)


def describe(o: ShmObject) -> str:
    """How a person names the object: its path or name, else what it is."""
    if o.kind == "sysv":
        return f"SysV {o.name or 'IPC_PRIVATE'} shmid {o.inode}"
    if o.kind == "shared_anon":
        first = o.key.split(":")
        at = f" at {first[2]} of {first[1]}" if o.key.startswith("anon:") and len(first) == 3 else ""
        return f"{o.name or 'MAP_SHARED|MAP_ANONYMOUS'}{at}"
    return f"{o.name or o.key}{' (deleted)' if o.kind == 'deleted' else ''}"


def sort_objects(objects: list[ShmObject]) -> list[ShmObject]:
    """Largest resident first (unknown last), then by size and key."""
    return sorted(objects, key=lambda o: (o.resident is None, -(o.resident or 0), -(o.size or 0), o.key))
