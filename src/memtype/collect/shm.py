"""Every shared-memory object of a machine and its holders (``memtype shm``, Contract S).

Sources, one code path for the live machine and a capture (``shm_probe``):

* SysV: /proc/sysvipc/shm (``parse_sysvipc_shm``): size, resident (``rss``) and swapped (``swap``),
  nattch, cpid/lpid, owner, SHM_DEST. Its mappings are ``/SYSV<key hex> (deleted)`` whose inode is
  the shmid (after IPC_RMID the table shows key 0; the maps name keeps the old key).
* Files on tmpfs mounts (mountinfo; other mount namespaces' too, through /proc/PID/root), walked;
  statfs of each names what it holds in files not seen. Memfds, MAP_SHARED|MAP_ANONYMOUS regions and unlinked
  files only through their holders: ``collect.holders.scan_holders`` (every process's maps and fds,
  keyed by (st_dev, st_ino)); an object is shmem when its device is a tmpfs mount's or the kernel's
  internal shm mount's (that of a memfd, SysV segment and shared anon region alike).
* A holder's Rss of an object: from the processes' smaps (``processes``: a scan with mappings), else
  unknown. Its cgroup: the scan's, else /proc/PID/cgroup.

The objects' resident bytes add up to meminfo ``Shmem:`` with a named remainder (``model.shm.reconcile``).
"""

from __future__ import annotations

from memtype.collect.holders import Held, Holders, scan_holders
from memtype.collect.process import read_cgroup
from memtype.collect.scan import scan
from memtype.collect.shm_probe import CaptureProbe, Measure, Probe, TmpfsFile, TmpfsMount, dev_str, open_probe
from memtype.errors import MemtypeError
from memtype.kinds import Kind
from memtype.model.records import ProcessMemory
from memtype.model.shm import ShmAccount, ShmHolder, ShmObject, ShmRow, reconcile, sort_objects
from memtype.parse.procfiles import parse_meminfo
from memtype.parse.swapfiles import ShmSegment, parse_sysvipc_shm
from memtype.source.root import Root

POSIX_MOUNT = "/dev/shm"  # shm_open(3) opens files here (glibc: the tmpfs at /dev/shm)


def read_shm(root: Root, processes: list[ProcessMemory] | None = None, *, probe: Probe | None = None,
             holders: Holders | None = None, rss: bool = False, jobs: int | None = None) -> ShmAccount:
    """Every shared-memory object, its holders, and the rows adding up to meminfo Shmem.

    Args:
        processes: a scan's processes with mappings (``scan(root, mappings=True)``): holders' Rss and
            cgroups come from them; None: Rss unknown, cgroups read per holder.
        probe: how files are measured (default: live or capture, from ``root``).
        holders: a walk already made (``scan_holders``); default: walk now.
        rss: without ``processes``, read the smaps of the processes that map shmem (only those: a
            fraction of a full scan) for the holders' Rss and cgroups. jobs: the scan's threads.
    """
    probe = probe if probe is not None else open_probe(root)
    notes: list[str] = []
    meminfo = _meminfo(root)
    shmem = meminfo.get("Shmem")
    swap_empty = meminfo.get("SwapTotal") is not None and meminfo.get("SwapTotal", 0) - meminfo.get("SwapFree", 0) == 0
    segments = _segments(root, notes)
    if processes is None and isinstance(probe, CaptureProbe) and not probe.present:
        # An older capture: no sizes recorded, so the smaps it keeps are the only source (mappers' Rss
        # and Swap as lower bounds), and its classifier names the tmpfs devices mountinfo may lack.
        processes = _mapper_scan(root, root.pids(), jobs, notes)
    mounts = list(probe.mounts())
    known = {m.dev for m in mounts} | ({probe.shm_dev} if probe.shm_dev else set())
    for dev in sorted(_classified_shmem_devs(processes) - known):  # a capture without mountinfo: the classifier's
        mounts.append(TmpfsMount("", dev, "tmpfs", True))
    if holders is None:
        devices = frozenset({m.dev for m in mounts} | ({probe.shm_dev} if probe.shm_dev else set()))
        holders = scan_holders(root, fd_identity=probe.fd_identity,
                               devices=devices if probe.shm_dev else None)  # unknown internal dev: all
    notes.extend(holders.warnings)
    files = probe.files()
    ctx = _Context(root, processes, probe, swap_empty)
    objects: dict[str, ShmObject] = {}
    sysv_maps: dict[int, list[Held]] = {}
    internal = probe.shm_dev
    tmpfs_devs: dict[str, TmpfsMount] = {}
    for m in sorted(mounts, key=lambda m: (m.visible, m.ns_pid is None)):  # visible, ours: last, so kept
        tmpfs_devs[m.dev] = m
    by_ident: dict[tuple[str, int], Held] = {}
    for held in holders.files.values():
        dev = dev_str(held.dev)
        if held.path.startswith("/SYSV") and (internal is None or dev == internal):
            sysv_maps.setdefault(held.ino, []).append(held)
        elif dev in tmpfs_devs or dev == internal or (internal is None and _internal_path(held.path)):
            by_ident[(dev, held.ino)] = held
    if processes is None and rss:
        mappers = {pid for h in by_ident.values() for pid in h.mapped_by}
        mappers.update(pid for hs in sysv_maps.values() for h in hs for pid in h.mapped_by)
        processes = _mapper_scan(root, sorted(mappers), jobs, notes)
        ctx = _Context(root, processes, probe, swap_empty)
    for seg in segments or ():
        obj = _sysv_object(ctx, seg, sysv_maps.pop(seg.shmid, []))
        objects[obj.key] = obj
    for shmid, helds in sysv_maps.items():  # mapped but gone from the table (exited between the reads)
        notes.append(f"SysV segment {shmid} is mapped but not in /proc/sysvipc/shm (removed meanwhile?)")
    walked: dict[tuple[str, int], TmpfsFile] = {}
    for f in files:
        walked.setdefault((f.dev, f.ino), f)
    for ident, held in by_ident.items():
        obj = _held_object(ctx, held, ident, tmpfs_devs, walked.pop(ident, None))
        objects[obj.key] = obj
    for ident, f in walked.items():  # files nobody holds
        obj = _file_object(ctx, f, ident, tmpfs_devs)
        objects[obj.key] = obj
    extra = _extra_rows(holders, mounts, segments) + _unseen_row(mounts, list(objects.values()), ctx)
    found = sort_objects(list(objects.values()))
    notes.extend(probe.notes)
    return ShmAccount(tuple(found), shmem, reconcile(found, shmem, extra), holders.processes,
                      holders.skipped, tuple(notes))


class _Context:
    """What building objects needs: holders' Rss and cgroups, and the probe."""

    def __init__(self, root: Root, processes: list[ProcessMemory] | None, probe: Probe, swap_empty: bool) -> None:
        self.root, self.probe, self.swap_empty = root, probe, swap_empty
        self.procs = {p.pid: p for p in processes} if processes is not None else None
        self._rss: dict[int, dict[tuple[str, int], tuple[int, int]]] = {}  # pid -> object -> (Rss, Swap)
        self._cgroups: dict[int, str | None] = {}
        self._comms: dict[int, str | None] = {}

    def mapped(self, pid: int, dev: str, ino: int) -> tuple[int | None, int | None]:
        """(Σ smaps Rss, Σ smaps Swap) of ``pid``'s mappings of (dev, ino); None: its mappings were not read."""
        if self.procs is None:
            return None, None
        p = self.procs.get(pid)
        if p is None or p.mappings is None:
            return None, None
        if pid not in self._rss:
            per: dict[tuple[str, int], tuple[int, int]] = {}
            for m in p.mappings:
                if m.inode:
                    rss, swap = per.get((m.dev, m.inode), (0, 0))
                    shared = m.categories[Kind.SHARED]
                    per[(m.dev, m.inode)] = (rss + shared.rss, swap + shared.swap)
            self._rss[pid] = per
        return self._rss[pid].get((dev, ino), (0, 0))

    def holder(self, pid: int, how: str, dev: str, ino: int) -> ShmHolder:
        rss, swap = self.mapped(pid, dev, ino) if how == "map" else (0, None)
        return ShmHolder(pid, how, rss, self.cgroup(pid), self.comm(pid), swap)

    def cgroup(self, pid: int) -> str | None:
        p = self.procs.get(pid) if self.procs is not None else None
        if p is not None and p.cgroup is not None:
            return p.cgroup
        if pid not in self._cgroups:
            self._cgroups[pid] = read_cgroup(self.root, pid)
        return self._cgroups[pid]

    def comm(self, pid: int) -> str | None:
        p = self.procs.get(pid) if self.procs is not None else None
        if p is not None:
            return p.comm
        if pid not in self._comms:
            try:
                self._comms[pid] = self.root.read_text(f"proc/{pid}/comm", pid).strip()
            except MemtypeError:
                self._comms[pid] = None
        return self._comms[pid]

    def residency(self, m: Measure | None, holders: tuple[ShmHolder, ...]) -> tuple[int | None, int | None, str | None]:
        """(resident, swapped, how measured) of a file from its measure, else from its mappers."""
        if m is not None and m.cached is not None:
            return m.cached, m.swapped, "cachestat"
        if m is not None and m.blocks is not None and self.swap_empty:
            return m.blocks, 0, "st_blocks"
        read = [h for h in holders if h.how == "map" and h.rss is not None]
        best = max((h.rss or 0 for h in read), default=0)
        swap = max((h.swap or 0 for h in read), default=0)
        if best or swap:  # lower bounds: pages no mapper faulted in, or outside every mapped range, are missed
            return best or None, swap, "mappings"
        return None, None, None


def _sysv_object(ctx: _Context, seg: ShmSegment, maps: list[Held]) -> ShmObject:
    dev = ctx.probe.shm_dev or (dev_str(maps[0].dev) if maps else "")
    holders = _holders(ctx, maps, dev, seg.shmid)
    resident, swapped, measured = seg.rss, seg.swap, "sysvipc"  # type: tuple[int | None, int | None, str | None]
    if resident is None:  # kernels before 4.x print no rss/swap columns
        m = next((ctx.probe.measure(dev, seg.shmid, h.opener) for h in maps if h.opener), None)
        resident, swapped, measured = ctx.residency(m, holders)
    key = seg.key & 0xFFFFFFFF
    seen = len({h.pid for h in holders if h.how == "map"})
    return ShmObject(f"sysv:{seg.shmid}", "sysv", f"0x{key:08x}" if key else None, not seg.dest, seg.size,
                     resident, swapped, holders, seg.dest, measured=measured, nattch=seg.nattch, cpid=seg.cpid,
                     lpid=seg.lpid, uid=seg.uid, attached_unseen=max(0, seg.nattch - seen), dev=dev,
                     inode=seg.shmid)


def _holders(ctx: _Context, helds: list[Held], dev: str, ino: int) -> tuple[ShmHolder, ...]:
    mapped = sorted({pid for h in helds for pid in h.mapped_by})
    opened = sorted({pid for h in helds for pid in h.open_by})
    return (tuple(ctx.holder(pid, "map", dev, ino) for pid in mapped)
            + tuple(ctx.holder(pid, "fd", dev, ino) for pid in opened))


def _held_object(ctx: _Context, held: Held, ident: tuple[str, int], tmpfs: dict[str, TmpfsMount],
                 walked: TmpfsFile | None) -> ShmObject:
    dev, ino = ident
    holders = _holders(ctx, [held], dev, ino)
    m = walked.measure if walked is not None else ctx.probe.measure(dev, ino, held.opener)
    resident, swapped, measured = ctx.residency(m, holders)
    path = held.path
    deleted = path.endswith(" (deleted)")
    base = path[: -len(" (deleted)")] if deleted else path
    mount = tmpfs.get(dev)
    size = m.size if m is not None else None
    if mount is None:  # the kernel's internal shm mount
        if base.startswith("/memfd:"):
            return ShmObject(f"inode:{dev}:{ino}", "memfd", base[1:], False, size, resident, swapped, holders,
                             measured=measured, dev=dev, inode=ino)
        first = min(held.maps) if held.maps else None
        key = f"anon:{first[0]}:{first[1]:x}" if first else f"inode:{dev}:{ino}"
        name = None if base == "/dev/zero" else base
        return ShmObject(key, "shared_anon", name, False, size, resident, swapped, holders,
                         measured=measured, dev=dev, inode=ino)
    linked = (m.nlink > 0) if m is not None and m.nlink is not None else not deleted
    if walked is not None:
        base, linked = walked.path, True
    posix = mount.mountpoint == POSIX_MOUNT or (not mount.mountpoint and base.startswith(POSIX_MOUNT + "/"))
    kind = "deleted" if not linked else ("posix" if posix else "tmpfs")
    return ShmObject(f"inode:{dev}:{ino}", kind, base, linked, size, resident, swapped, holders,
                     measured=measured, mount=mount.where or None, dev=dev, inode=ino)


def _file_object(ctx: _Context, f: TmpfsFile, ident: tuple[str, int], tmpfs: dict[str, TmpfsMount]) -> ShmObject:
    dev, ino = ident
    resident, swapped, measured = ctx.residency(f.measure, ())
    mount = tmpfs.get(dev)
    mp = mount.mountpoint if mount is not None else None
    where = mount.where if mount is not None else None
    size = f.measure.size if f.measure is not None else None
    return ShmObject(f"inode:{dev}:{ino}", "posix" if mp == POSIX_MOUNT else "tmpfs", f.path, True, size,
                     resident, swapped, (), measured=measured, mount=where, dev=dev, inode=ino)


def _classified_shmem_devs(processes: list[ProcessMemory] | None) -> set[str]:
    """Devices of mappings the classifier calls shmem by path (``/dev/shm/``; kernel-spec A.4): tmpfs
    mounts a capture without mountinfo does not name."""
    return {m.dev for p in processes or () for m in p.mappings or ()
            if m.mapclass in ("shmem", "shmem-private") and m.inode and not _internal_path(m.path)
            and not m.path.startswith(("/secretmem", "/i915", "/drm mm object"))}


def _internal_path(path: str) -> bool:
    return path.startswith(("/memfd:", "/SYSV")) or path == "/dev/zero (deleted)"


def _extra_rows(holders: Holders, mounts: list[TmpfsMount], segments: list[ShmSegment] | None) -> tuple[ShmRow, ...]:
    rows = []
    skipped = sum(holders.skipped.values())
    if skipped:
        rows.append(ShmRow("processes not read", None, None,
                           f"{skipped} process(es) whose maps or fds could not be read "
                           f"({', '.join(f'{n} {why}' for why, n in sorted(holders.skipped.items()))}): "
                           "memfds and shared anon regions only they hold are in unaccounted"))
    visible = {m.dev for m in mounts if m.visible}
    hidden = sorted({(m.mountpoint, m.dev) for m in mounts if not m.visible and m.dev not in visible})
    if hidden:
        rows.append(ShmRow("hidden tmpfs mounts", None, len(hidden),
                           "tmpfs mounted where another mount hides it, so its files cannot be walked: "
                           + ", ".join(f"{mp} ({dev})" for mp, dev in hidden[:5])))
    if segments is None:
        rows.append(ShmRow("SysV (not read)", None, None, "/proc/sysvipc/shm could not be read"))
    return tuple(rows)


def _mapper_scan(root: Root, pids: list[int], jobs: int | None, notes: list[str]) -> list[ProcessMemory] | None:
    """The smaps (with mappings and cgroups) of ``pids``; None where none could be read."""
    if not pids:
        return []
    present = set(root.pids())
    try:
        result = scan(root, [p for p in pids if p in present], mappings=True, cgroup=True, jobs=jobs)
    except MemtypeError as exc:
        notes.append(f"the mappers' smaps could not be read ({exc}): holders' Rss unknown")
        return None
    return result.processes


def _unseen_row(mounts: list[TmpfsMount], objects: list[ShmObject], ctx: _Context) -> tuple[ShmRow, ...]:
    """What statfs says the walked tmpfs mounts hold beyond the files seen on them: files under another
    mount, or held only by processes not read. Allocated bytes (swapped pages too), so resident only
    where no swap is in use; else named without a figure."""
    seen: dict[str, int] = {}
    for o in objects:
        if o.resident is not None:
            seen[o.dev] = seen.get(o.dev, 0) + o.resident + (o.swapped or 0)
    gaps = []
    done: set[str] = set()
    for m in mounts:
        if m.used is None or not m.visible or m.dev in done:
            continue
        done.add(m.dev)
        gap = m.used - seen.get(m.dev, 0)
        if gap > 0:
            gaps.append((m.where, gap))
    if not gaps:
        return ()
    total = sum(g for _, g in gaps)
    where = ", ".join(f"{w} {g >> 10} KiB" for w, g in sorted(gaps, key=lambda x: -x[1])[:4])
    return (ShmRow("unseen tmpfs files", total if ctx.swap_empty else None, None,
                   "pages statfs counts on a walked tmpfs mount in no file seen there (under another mount, "
                   f"or held only by unread processes): {where}"),)


def _meminfo(root: Root) -> dict[str, int]:
    try:
        return parse_meminfo(root.read_text("proc/meminfo"))
    except MemtypeError:
        return {}


def _segments(root: Root, notes: list[str]) -> list[ShmSegment] | None:
    try:
        return parse_sysvipc_shm(root.read_text("proc/sysvipc/shm"))
    except MemtypeError:
        notes.append("/proc/sysvipc/shm could not be read: SysV segments are unknown")
    except ValueError as exc:
        notes.append(f"/proc/sysvipc/shm: {exc}")
    return None
