"""Who maps or holds open which file: every /proc/PID/maps and /proc/PID/fd of a live machine.

Files are keyed by what stat(2) says (st_dev, st_ino), so ``memtype files PATH`` can look a walked
file up. A mapping's identity comes from stat'ing its /proc/PID/map_files/START-END link (root: it
needs CAP_SYS_ADMIN, proc(5)), since /proc/PID/maps shows the inode's superblock device, which differs
from stat's on overlayfs and btrfs; without it, from the maps line. Each file keeps an "opener": a
/proc link that reopens that very file even when deleted or in another mount namespace.

On a capture there are no links to stat: ``fd_identity`` (``memtype.collect.shm_probe``) gives each
fd's identity from what ``snapshot`` recorded, and mappings are identified by their maps line (exact
for shmem: its superblock device is the one stat reports). Shared memory whose maps path sits under
/dev (``/dev/zero (deleted)``: a MAP_SHARED|MAP_ANONYMOUS region; ``/dev/shm/NAME``) is kept, not
taken for a device node (``memtype shm`` reads its objects from here, mm/shmem.c shmem_zero_setup).

The race policy is the scan's (style.md rule 4; ``memtype.collect.scan.skip_for``): every read goes
through the Root's errno map, a process that exits is counted as gone, one whose files we may not read
as denied, any other failure by its reason with a warning; an fd closed or a mapping unmapped between
the listing and the stat is simply no longer held.
"""

from __future__ import annotations

import os
import re
import stat as st_
from collections.abc import Callable

from memtype.collect.scan import skip_for
from memtype.errors import FileMissing, MemtypeError, ProcessGone
from memtype.model.files import FileCache
from memtype.parse.maps import file_mappings, parse_maps
from memtype.source.root import Root


class Held:
    """A regular file that processes map or hold open."""

    __slots__ = ("path", "dev", "ino", "mapped_by", "open_by", "opener", "maps", "fds")

    def __init__(self, path: str, dev: int, ino: int, opener: str | None) -> None:
        self.path, self.dev, self.ino, self.opener = path, dev, ino, opener
        self.mapped_by: set[int] = set()
        self.open_by: set[int] = set()
        self.maps: list[tuple[int, int, int]] = []  # (pid, start, end) of its mappings (for the cgroup)
        self.fds: list[tuple[int, str]] = []  # (pid, fd name) of the fds holding it


class Holders:
    """Every file some process maps or holds open, by (st_dev, st_ino)."""

    def __init__(self) -> None:
        self.files: dict[tuple[int, int], Held] = {}
        self.processes = 0
        self.skipped: dict[str, int] = {}  # processes not (fully) read, by the scan's reasons
        self.warnings: list[str] = []

    @property
    def denied(self) -> int:
        """Processes whose maps or fds we may not read."""
        return self.skipped.get("denied", 0)

    @property
    def gone(self) -> int:
        return self.skipped.get("gone", 0)

    def skip(self, pid: int, error: MemtypeError) -> None:
        """Count a process the race policy skips (``skip_for``), and warn where that is news."""
        skipped, warning = skip_for(pid, error)
        self.skipped[skipped.reason] = self.skipped.get(skipped.reason, 0) + 1
        if warning:
            self.warnings.append(warning)

    def attach(self, files: list[FileCache]) -> None:
        """Set ``mapped_by`` and ``open_by`` of walked files."""
        nobody: tuple[int, ...] = ()
        get = self.files.get
        for f in files:
            h = get((f.dev, f.ino))
            if h is None:
                f.mapped_by = f.open_by = nobody
            else:
                f.mapped_by, f.open_by = tuple(sorted(h.mapped_by)), tuple(sorted(h.open_by))


FdIdentity = Callable[[int, str], "tuple[int, int] | None"]  # (pid, fd name) -> (st_dev, st_ino) of a regular file


def scan_holders(root: Root, *, skip_self: bool = True, fd_identity: FdIdentity | None = None,
                 devices: frozenset[str] | None = None) -> Holders:
    """Read every process's maps and fds.

    Args:
        fd_identity: identity of a regular file a (pid, fd) holds; default: stat the live fd link
            (a capture has none, so its reader passes the recorded identities).
        devices: only mappings of these devices (maps format, ``00:1b``), picked out of the text by one
            regex before any parsing (``memtype shm``: the shmem devices; a third of its time).
    """
    out = Holders()
    pick = _line_picker(devices) if devices is not None else None
    by_maps_line: dict[tuple[str, str], tuple[int, int] | None] = {}  # ("fd:01", "1234") -> stat identity
    me = os.getpid()
    for pid in root.pids():
        if skip_self and pid == me:
            continue
        try:
            text = _read_maps(root, pid)
        except MemtypeError as exc:
            out.skip(pid, exc)
            continue
        if not text:
            continue  # kernel thread or zombie: no address space
        out.processes += 1
        if pick is not None:
            text = "\n".join(pick(text))
        _add_maps(root, out, pid, text, by_maps_line)
        try:
            fds = root.listdir(f"proc/{pid}/fd", pid)
        except MemtypeError as exc:
            if isinstance(exc, FileMissing) and not root.live:
                continue  # a capture keeps fd links of shared memory only (collect/shm_capture.py)
            if not isinstance(exc, ProcessGone):  # gone after its maps were read: what it mapped is counted
                out.skip(pid, exc)
            continue
        _add_fds(root, out, pid, fds, fd_identity)
    return out


def _line_picker(devices: frozenset[str]) -> Callable[[str], list[str]]:
    """``findall`` of the maps (or smaps header) lines of ``devices``."""
    alternatives = "|".join(re.escape(d) for d in sorted(devices)) or "(?!)"
    return re.compile(rf"^[0-9a-f]+-[0-9a-f]+ \S{{4}} [0-9a-f]+ (?:{alternatives}) .*$", re.MULTILINE).findall


def _read_maps(root: Root, pid: int) -> str:
    """proc/PID/maps; a capture keeps smaps instead, whose header lines are the maps lines
    (``parse_maps`` skips the ``Key: value`` lines)."""
    try:
        return root.read_text(f"proc/{pid}/maps", pid)
    except FileMissing:
        if root.live:
            raise
        return root.read_text(f"proc/{pid}/smaps", pid)


def _add_maps(root: Root, out: Holders, pid: int, text: str,
              by_line: dict[tuple[str, str], tuple[int, int] | None]) -> None:
    for m in file_mappings(parse_maps(text)):
        line_key = (m.dev, str(m.inode))
        if line_key not in by_line:
            by_line[line_key] = _identify_mapping(root, pid, m.range, m.dev, line_key[1], m.path, out)
        ident = by_line[line_key]
        if ident is None:
            continue  # not a regular file (a device node) or unreadable
        held = out.files[ident]
        held.mapped_by.add(pid)
        held.maps.append((pid, m.start, m.end))


def _identify_mapping(root: Root, pid: int, rng: str, dev: str, ino: str, path: str,
                      out: Holders) -> tuple[int, int] | None:
    rel = f"proc/{pid}/map_files/{rng}"
    try:
        st = root.stat(rel, pid)
        if not st_.S_ISREG(st.st_mode):
            return None
        ident = (st.st_dev, st.st_ino)
        opener: str | None = root.join(rel)
    except MemtypeError:  # denied (map_files needs CAP_SYS_ADMIN), unmapped or gone: trust the maps line
        major, _, minor = dev.partition(":")
        ident = (os.makedev(int(major, 16), int(minor, 16)), int(ino))  # parse_maps checked the hex
        if path.startswith("/dev/") and not is_shmem_dev_path(path):
            return None  # a device node (private /dev/zero, GPU control files): no page cache
        opener = None if path.endswith(" (deleted)") else root.join(f"proc/{pid}/root") + path
    if ident not in out.files:
        out.files[ident] = Held(path, ident[0], ident[1], opener)
    elif out.files[ident].opener is None:
        out.files[ident].opener = opener
    return ident


def is_shmem_dev_path(path: str) -> bool:
    """A maps path under /dev that is shmem, not a device node."""
    return path == "/dev/zero (deleted)" or path.startswith("/dev/shm/")


def stat_fd(root: Root, pid: int, name: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the regular file behind a live fd link; None: not a regular file.

    Raises:
        MemtypeError: closed since the listing, the process went, or denied.
    """
    st = root.stat(f"proc/{pid}/fd/{name}", pid)
    return (st.st_dev, st.st_ino) if st_.S_ISREG(st.st_mode) else None


def _add_fds(root: Root, out: Holders, pid: int, names: list[str], fd_identity: FdIdentity | None) -> None:
    """The regular files ``pid`` holds open (the fd names listed in proc/PID/fd)."""
    for name in names:
        rel = f"proc/{pid}/fd/{name}"
        try:
            target = root.readlink(rel, pid)
            if not target.startswith("/"):
                continue  # socket:[..], pipe:[..], anon_inode:..
            ident = fd_identity(pid, name) if fd_identity is not None else stat_fd(root, pid, name)
        except MemtypeError:
            continue  # closed since the listing (or the process went): no longer held
        if ident is None:
            continue
        held = out.files.get(ident)
        link = root.join(rel)
        if held is None:
            held = out.files[ident] = Held(target, ident[0], ident[1], link)
        elif held.opener is None:
            held.opener = link
        held.open_by.add(pid)
        held.fds.append((pid, name))
