"""Reading a capture as untrusted input, and bounded reads of any kernel file.

A capture is a tree that anyone may have written. A planted ``proc/1/cmdline -> /etc/shadow`` must
not be read as root, a FIFO must not hang memtype and ``/dev/zero`` must not fill its memory. So a
capture file is reached one component at a time from the root's directory descriptor with
``O_NOFOLLOW`` on every step (no symlink is ever followed: the guarantee of openat2(2)'s
``RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH``, which Python does not expose), ``..`` is refused, the file
is ``lstat``-ed before it is opened (a device node is never opened) and ``fstat``-ed after, and every
read stops at a limit.
"""

from __future__ import annotations

import errno
import os
import stat

FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
DIR_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_DIRECTORY
READ_CHUNK = 1 << 18  # one read() of 256 KiB: seq_file fills it with whole records

MiB = 1 << 20
# Read limits. smaps takes ~775 bytes per mapping (764 mappings measured on this host), so the default
# vm.max_map_count of 65530 gives ~50 MiB: a capture's smaps may hold 64 MiB. The other files are far
# smaller (mountinfo ~250 bytes per mount, cgroup.procs ~8 bytes per PID, cmdline at most ARG_MAX-sized
# argument pages): 16 MiB. A live file is bounded by the kernel already; its limits only keep a
# pathological one from costing gigabytes (a raised max_map_count of 1M mappings fits in 1 GiB).
CAPTURE_LIMITS = (64 * MiB, 16 * MiB)  # (smaps-like, other)
LIVE_LIMITS = (1024 * MiB, 64 * MiB)
SMAPS_LIKE = frozenset(("smaps", "maps", "numa_maps"))


class Refused(Exception):
    """A path in a capture that memtype will not read: ``what`` says why (one line, no content)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class TooLarge(Refused):
    """A file longer than its read limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit // MiB} MiB, the limit for this file")
        self.limit = limit


def limit_for(rel: str, live: bool) -> int:
    """The read limit of ``rel`` (see CAPTURE_LIMITS)."""
    smaps, other = LIVE_LIMITS if live else CAPTURE_LIMITS
    return smaps if rel.endswith("maps") and rel.rpartition("/")[2] in SMAPS_LIKE else other


def components(rel: str) -> list[str]:
    """``rel`` split into names; Refused where it would leave the root (``..``, a NUL)."""
    names = [n for n in rel.split("/") if n and n != "."]
    if ".." in names or "\0" in rel:
        raise Refused("outside the capture")
    return names


def describe(mode: int) -> str:
    """What a non-regular file is, for a one-line warning."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_dir(root_fd: int, names: list[str]) -> int:
    """A new descriptor of the directory ``names`` below ``root_fd``; no symlink followed.

    Raises:
        Refused: a component is a symlink or not a directory.
        OSError: as openat(2) (ENOENT: not there).
    """
    fd = os.dup(root_fd)
    try:
        for name in names:
            try:
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # say what is there instead
                    raise Refused(describe(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)) from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(root_fd: int, rel: str) -> tuple[int, os.stat_result]:
    """Open the regular file ``rel`` below ``root_fd`` for reading; its descriptor and fstat.

    Raises:
        Refused: ``rel`` leaves the root, or a component is a symlink, FIFO, device or directory.
        OSError: as openat(2).
    """
    names = components(rel)
    if not names:
        raise Refused("a directory")
    parent = open_dir(root_fd, names[:-1])
    try:
        before = os.stat(names[-1], dir_fd=parent, follow_symlinks=False)
        if not stat.S_ISREG(before.st_mode):  # never open() a device or FIFO: opening can have effects
            raise Refused(describe(before.st_mode))
        fd = os.open(names[-1], FILE_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise Refused("replaced while being opened")
    return fd, st


def read_fd(fd: int, limit: int, size: int = 0) -> bytes:
    """The rest of ``fd``, at most ``limit`` bytes (TooLarge beyond). ``size``: what fstat said."""
    if size > limit:
        raise TooLarge(limit)  # a capture's file: refused before a byte is read
    chunks = []
    total = 0
    while True:
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def list_dir(root_fd: int, rel: str) -> list[tuple[str, bool, int]]:
    """Entries of the directory ``rel`` below ``root_fd``: (name, is a real directory, inode)."""
    fd = open_dir(root_fd, components(rel))
    try:
        with os.scandir(fd) as it:
            return [(e.name, e.is_dir(follow_symlinks=False), e.inode()) for e in it]
    finally:
        os.close(fd)


def stat_beneath(root_fd: int, rel: str) -> os.stat_result:
    """lstat of ``rel`` below ``root_fd`` (no symlink followed on the way)."""
    names = components(rel)
    if not names:
        return os.fstat(root_fd)
    parent = open_dir(root_fd, names[:-1])
    try:
        return os.stat(names[-1], dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)


class TreeWriter:
    """Creates directories (0700) and files (0600, ``O_EXCL``) below a directory descriptor, never
    following a link: what it writes lands in that directory whatever is renamed around it."""

    FILE_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self._last: tuple[tuple[str, ...], int] | None = None  # writers go directory by directory

    def directory(self, names: list[str]) -> int:
        """The descriptor of directory ``names`` (made where missing); owned by the writer."""
        key = tuple(names)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        fd = os.dup(self.root_fd)
        try:
            for name in names:
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except FileExistsError:
                    pass  # made by an earlier member; a link or file there fails the open below
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        self.close()
        self._last = (key, fd)
        return fd

    def create(self, rel: str) -> int:
        """A new file ``rel`` open for writing (FileExistsError if anything has that name)."""
        names = components(rel)
        if not names:
            raise Refused("an empty name")
        return os.open(names[-1], self.FILE_CREATE, 0o600, dir_fd=self.directory(names[:-1]))

    def write(self, rel: str, data: bytes) -> None:
        fd = self.create(rel)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._last is not None:
            os.close(self._last[1])
            self._last = None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
