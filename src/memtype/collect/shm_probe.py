"""What ``memtype shm`` asks of a file: its identity, size and residency, from the live machine
(``LiveProbe``) or from what ``snapshot`` recorded of it (``CaptureProbe``, ``memtype/shm.json``).

Residency of a shmem file (kernel facts, checked on 6.18):

* cachestat(2) (6.5+) on an fd of it: ``nr_cache`` = pages in RAM; for shmem, pages in swap are
  counted in ``nr_evicted`` (kernel-spec.md G: observed 4096 of 4096). Used first.
* ``st_blocks`` of a tmpfs file = its allocated pages, **including swapped ones** (mm/shmem.c keeps
  i_blocks for every page it holds; observed: 5 pages written to a MAP_SHARED|MAP_ANONYMOUS region
  gave st_blocks 40). So ``st_blocks * 512`` is resident only where nothing is in swap; without
  cachestat it is used when the machine's swap is empty, and resident is unknown otherwise.
* mincore(2) is not used: it misses shmem pages in swap cache and needs a mapping.

An fd is reached by its /proc link (``/proc/PID/fd/N`` or ``map_files``: open(2) follows the magic link
to the very inode, even deleted); tmpfs files by walking each tmpfs mount without following symlinks
or crossing into other filesystems, opened ``O_NOFOLLOW|O_NONBLOCK`` and checked to be the file
lstat saw. Nothing is read from any of them.

The capture's ``memtype/shm.json`` (written by ``record_capture``; untrusted on reading: bounded,
every value type-checked, a bad one is dropped):
``{"schema": 1, "shm_dev": "00:01", "fds": {PID: {FD: [dev, ino]}}, "objects": {"DEV:INO": [size,
blocks, nlink, cached, swapped, uid]}, "mounts": [[mountpoint, dev, fstype, visible, ns_pid, used]],
"files": [[path, dev, ino]], "truncated": bool}`` (dev in maps format, bytes, null = unknown).
"""

from __future__ import annotations

import json
import os
import stat as st_
from collections.abc import Callable

from memtype.collect.holders import stat_fd
from memtype.collect.pagecache import Cachestat, cachestat_works
from memtype.errors import MemtypeError
from memtype.parse.mountinfo import MountEntry, parse_mountinfo
from memtype.source.root import Root

SIDECAR = "memtype/shm.json"
SCHEMA = 1
MAX_FILES = 200_000  # tmpfs files walked at most (a note says when more were left out)
WALK_TYPES = ("tmpfs", "devtmpfs")  # shmem-backed filesystems whose files count in Shmem (ramfs does not)
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOATIME", 0)


def dev_str(dev: int) -> str:
    """A device number as maps and smaps print it (``00:1b``)."""
    return f"{os.major(dev):02x}:{os.minor(dev):02x}"


class Measure:
    """A shmem file's figures in bytes (None: unknown): size, allocated (st_blocks * 512, swapped
    included), links, cached/swapped (cachestat), owner."""

    __slots__ = ("size", "blocks", "nlink", "cached", "swapped", "uid")

    def __init__(self, size: int | None, blocks: int | None, nlink: int | None, cached: int | None,
                 swapped: int | None, uid: int | None) -> None:
        self.size, self.blocks, self.nlink, self.cached, self.swapped, self.uid = (
            size, blocks, nlink, cached, swapped, uid)

    def as_list(self) -> list[int | None]:
        return [self.size, self.blocks, self.nlink, self.cached, self.swapped, self.uid]


class TmpfsMount:
    """A tmpfs mount: where (in its mount namespace), its device (maps format), whether its mount point
    shows it (False: another mount hides it), and ``ns_pid``: a process of the other mount namespace it
    was found in (a container's /dev/shm), None: ours. It is walked through /proc/NS_PID/root."""

    __slots__ = ("mountpoint", "dev", "fstype", "visible", "ns_pid", "used")

    def __init__(self, mountpoint: str, dev: str, fstype: str, visible: bool, ns_pid: int | None = None,
                 used: int | None = None) -> None:
        self.mountpoint, self.dev, self.fstype, self.visible = mountpoint, dev, fstype, visible
        self.ns_pid = ns_pid
        self.used = used  # statfs: (f_blocks - f_bfree) * f_frsize = pages allocated, swapped ones too

    @property
    def walk_at(self) -> str:
        return self.mountpoint if self.ns_pid is None else f"/proc/{self.ns_pid}/root{self.mountpoint}"

    @property
    def where(self) -> str:
        """The mount point as a person reads it."""
        return self.mountpoint if self.ns_pid is None else f"{self.mountpoint} (mount namespace of PID {self.ns_pid})"


class TmpfsFile:
    __slots__ = ("path", "dev", "ino", "measure")

    def __init__(self, path: str, dev: str, ino: int, measure: Measure | None) -> None:
        self.path, self.dev, self.ino, self.measure = path, dev, ino, measure


class Probe:
    """The interface both probes give ``read_shm``."""

    shm_dev: str | None = None  # the kernel's internal shm mount (memfd, SysV, shared anon)
    notes: list[str]

    def fd_identity(self, pid: int, name: str) -> tuple[int, int] | None:
        raise NotImplementedError

    def measure(self, dev: str, ino: int, opener: str | None) -> Measure | None:
        raise NotImplementedError

    def mounts(self) -> list[TmpfsMount]:
        raise NotImplementedError

    def files(self) -> list[TmpfsFile]:
        raise NotImplementedError


class LiveProbe(Probe):
    """This machine: stat, open and cachestat."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.notes = []
        self._cachestat = Cachestat() if cachestat_works() else None
        self._measured: dict[tuple[str, int], Measure | None] = {}
        self._mounts: list[TmpfsMount] | None = None
        self._files: list[TmpfsFile] | None = None
        self.truncated = False
        try:  # the internal mount's device: that of a memfd of our own (mm/memfd.c: shmem_file_setup)
            fd = os.memfd_create("memtype-probe", os.MFD_CLOEXEC)
            try:
                self.shm_dev = dev_str(os.fstat(fd).st_dev)
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            self.shm_dev = None

    def fd_identity(self, pid: int, name: str) -> tuple[int, int] | None:
        return stat_fd(self.root, pid, name)

    def measure(self, dev: str, ino: int, opener: str | None) -> Measure | None:
        key = (dev, ino)
        if key not in self._measured:
            self._measured[key] = self._open_measure(opener, ino) if opener else None
        return self._measured[key]

    def _open_measure(self, path: str, ino: int, nofollow: bool = False) -> Measure | None:
        try:
            fd = os.open(path, _OPEN if nofollow else _OPEN & ~os.O_NOFOLLOW)  # a /proc magic link: follow it
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not st_.S_ISREG(st.st_mode) or st.st_ino != ino:
                return None  # replaced since it was listed
            return self._figures(fd, st)
        finally:
            os.close(fd)

    def _figures(self, fd: int, st: os.stat_result) -> Measure:
        cached = swapped = None
        if self._cachestat is not None:
            try:
                c = self._cachestat(fd)
                cached, swapped = c[0] * PAGE, c[3] * PAGE
            except OSError:
                pass
        return Measure(st.st_size, st.st_blocks * 512, st.st_nlink, cached, swapped, st.st_uid)

    def mounts(self) -> list[TmpfsMount]:
        if self._mounts is None:
            try:
                entries = parse_mountinfo(self.root.read_text("proc/self/mountinfo"))
            except (MemtypeError, ValueError):
                entries = []
                self.notes.append("no /proc/self/mountinfo: tmpfs files were not walked")
            self._mounts = _tmpfs_mounts(entries, None)
            self._mounts.extend(self._foreign_mounts({m.dev for m in self._mounts}))
        return self._mounts

    def _foreign_mounts(self, seen: set[str]) -> list[TmpfsMount]:
        """tmpfs mounts of other mount namespaces (containers) that ours lacks: one process of each
        namespace is asked (/proc/PID/ns/mnt groups them; readlink costs a few microseconds per PID)."""
        try:
            ours = os.readlink("/proc/self/ns/mnt")
        except OSError:
            return []
        found: list[TmpfsMount] = []
        namespaces = {ours}
        for pid in self.root.pids():
            try:
                ns = os.readlink(f"/proc/{pid}/ns/mnt")
                if ns in namespaces:
                    continue
                namespaces.add(ns)
                entries = parse_mountinfo(self.root.read_text(f"proc/{pid}/mountinfo", pid))
            except (OSError, MemtypeError, ValueError):
                continue
            for m in _tmpfs_mounts(entries, pid):
                if m.dev not in seen:
                    seen.add(m.dev)
                    found.append(m)
        return found

    def files(self) -> list[TmpfsFile]:
        if self._files is None:
            self._files = []
            seen: set[str] = set()
            for m in self.mounts():
                if m.visible and m.dev not in seen:
                    seen.add(m.dev)
                    self._walk(m)
            if self.truncated:
                self.notes.append(f"more than {MAX_FILES} tmpfs files: the others were not walked")
        return self._files

    def _walk(self, m: TmpfsMount) -> None:
        assert self._files is not None
        stack = [m.walk_at]
        cut = len(m.walk_at.rstrip("/"))
        shown = m.mountpoint.rstrip("/")
        while stack:
            top = stack.pop()
            try:
                it = os.scandir(top)
            except OSError:
                continue
            with it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if dev_str(st.st_dev) != m.dev:
                        continue  # another filesystem mounted below
                    if st_.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif st_.S_ISREG(st.st_mode):
                        if len(self._files) >= MAX_FILES:
                            self.truncated = True
                            return
                        key = (m.dev, st.st_ino)
                        if key not in self._measured:
                            self._measured[key] = (self._open_measure(entry.path, st.st_ino, nofollow=True)
                                                   if st.st_blocks else
                                                   Measure(st.st_size, 0, st.st_nlink, 0, 0, st.st_uid))
                        self._files.append(TmpfsFile(shown + entry.path[cut:], m.dev, st.st_ino,
                                                     self._measured[key]))

    def record(self, fds: dict[int, dict[str, tuple[int, int]]],
               rename: Callable[[str], str] | None = None) -> dict[str, object]:
        """The sidecar a capture keeps (after ``files()`` and the holders' measures); ``rename``
        rewrites each file path (``snapshot --redact``)."""
        name = rename or (lambda p: p)
        files = self.files()  # first: the walk measures the files the objects list below
        return {
            "schema": SCHEMA, "shm_dev": self.shm_dev, "truncated": self.truncated,
            "fds": {str(pid): {n: [dev_str(d), ino] for n, (d, ino) in names.items()} for pid, names in fds.items()},
            "objects": {f"{d}:{ino}": m.as_list() for (d, ino), m in self._measured.items() if m is not None},
            "mounts": [[m.mountpoint, m.dev, m.fstype, m.visible, m.ns_pid, m.used] for m in self.mounts()],
            "files": [[name(f.path), f.dev, f.ino] for f in files],
        }


PAGE = os.sysconf("SC_PAGE_SIZE")


def _tmpfs_mounts(entries: list[MountEntry], ns_pid: int | None) -> list[TmpfsMount]:
    """The tmpfs mounts of a mountinfo, each checked to be what its mount point shows (live)."""
    out = []
    for e in entries:
        if e.fstype in WALK_TYPES:
            m = TmpfsMount(e.mountpoint, e.smaps_dev, e.fstype, False, ns_pid)
            try:
                m.visible = dev_str(os.stat(m.walk_at).st_dev) == m.dev
                if m.visible:
                    v = os.statvfs(m.walk_at)
                    m.used = (v.f_blocks - v.f_bfree) * v.f_frsize if v.f_blocks else None  # 0: no size limit
            except OSError:
                pass
            out.append(m)
    return out


class CaptureProbe(Probe):
    """A capture: what ``snapshot`` recorded in ``memtype/shm.json`` (none: fds unknown, nothing measured)."""

    def __init__(self, root: Root) -> None:
        self.notes = []
        self.present = False
        self._fds: dict[tuple[int, str], tuple[int, int]] = {}
        self._objects: dict[tuple[str, int], Measure] = {}
        self._mounts: list[TmpfsMount] = []
        self._files: list[TmpfsFile] = []
        try:
            doc = json.loads(root.read_bytes(SIDECAR))
        except (MemtypeError, ValueError):
            self.notes.append("the capture has no memtype/shm.json (a snapshot from before memtype shm): "
                              "fds, tmpfs files and object sizes are unknown")
            self._mounts = _captured_mounts(root)
            return
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            self.notes.append("memtype/shm.json of the capture is not schema 1: ignored")
            return
        self.present = True
        self.shm_dev = doc.get("shm_dev") if isinstance(doc.get("shm_dev"), str) else None
        if doc.get("truncated") is True:
            self.notes.append(f"the capture walked at most {MAX_FILES} tmpfs files: the others are unknown")
        self._load(doc)

    def _load(self, doc: dict[str, object]) -> None:
        fds = doc.get("fds")
        for pid, names in (fds.items() if isinstance(fds, dict) else ()):
            if not (isinstance(pid, str) and pid.isascii() and pid.isdigit() and isinstance(names, dict)):
                continue
            for n, ident in names.items():
                d = _dev_ino(ident)
                if d is not None and isinstance(n, str):
                    self._fds[(int(pid), n)] = (_dev_num(d[0]), d[1])
        objects = doc.get("objects")
        for key, vals in (objects.items() if isinstance(objects, dict) else ()):
            dev, _, ino = str(key).rpartition(":")
            if not (ino.isascii() and ino.isdigit() and isinstance(vals, list) and len(vals) == 6
                    and all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
                            for v in vals) and _dev_ok(dev)):
                continue
            self._objects[(dev, int(ino))] = Measure(*vals)
        mounts = doc.get("mounts")
        for m in (mounts if isinstance(mounts, list) else ()):
            if (isinstance(m, list) and len(m) in (4, 5, 6) and isinstance(m[0], str) and _dev_ok(m[1])
                    and isinstance(m[2], str) and isinstance(m[3], bool)):
                ns, used = (_count(m[i]) if len(m) > i else None for i in (4, 5))
                self._mounts.append(TmpfsMount(m[0], m[1], m[2], m[3], ns, used))
        files = doc.get("files")
        for f in (files if isinstance(files, list) else ()):
            if isinstance(f, list) and len(f) == 3 and isinstance(f[0], str):
                d = _dev_ino(f[1:])
                if d is not None:
                    self._files.append(TmpfsFile(f[0], d[0], d[1], self._objects.get(d)))

    def fd_identity(self, pid: int, name: str) -> tuple[int, int] | None:
        return self._fds.get((pid, name))

    def measure(self, dev: str, ino: int, opener: str | None) -> Measure | None:
        return self._objects.get((dev, ino))

    def mounts(self) -> list[TmpfsMount]:
        return self._mounts

    def files(self) -> list[TmpfsFile]:
        return self._files


def _captured_mounts(root: Root) -> list[TmpfsMount]:
    """The tmpfs mounts of a capture's mountinfo (a capture without memtype/shm.json): which devices
    are tmpfs, so the mappings of its files are known as shmem; nothing can be walked."""
    for rel in ("proc/self/mountinfo", "proc/1/mountinfo"):
        try:
            entries = parse_mountinfo(root.read_text(rel))
        except (MemtypeError, ValueError):
            continue
        return [TmpfsMount(e.mountpoint, e.smaps_dev, e.fstype, True) for e in entries if e.fstype in WALK_TYPES]
    return []


def _count(x: object) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) and x >= 0 else None


def _dev_ok(dev: object) -> bool:
    if not isinstance(dev, str):
        return False
    major, sep, minor = dev.partition(":")
    try:
        return bool(sep) and int(major, 16) >= 0 and int(minor, 16) >= 0 and len(dev) <= 16
    except ValueError:
        return False


def _dev_ino(x: object) -> tuple[str, int] | None:
    if (isinstance(x, list) and len(x) == 2 and _dev_ok(x[0]) and isinstance(x[1], int)
            and not isinstance(x[1], bool) and x[1] >= 0):
        return (str(x[0]), x[1])
    return None


def _dev_num(dev: str) -> int:
    major, _, minor = dev.partition(":")
    return os.makedev(int(major, 16), int(minor, 16))


def open_probe(root: Root) -> Probe:
    return LiveProbe(root) if root.live else CaptureProbe(root)
