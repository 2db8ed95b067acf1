"""``memtype files PATH...``: walk files and directories and measure each file's page cache.

Speed matters (``bench/bench_files.py``: /usr, ~143,000 files, against vmtouch): one thread (threads
lost to GIL hand-offs: 1.05 s alone, 1.74 s with two, on 2 CPUs), directories read with
``os.scandir`` on a directory fd and files opened relative to it (no path walk per file), one fstat
and one cachestat per file, nothing stat'ed twice.

Rules: symlinks are never followed inside a walk (reported as skipped; a symlink named on the command
line is followed, like ``find -H``); special files (FIFOs, sockets, devices) are skipped; pseudo
filesystems (/proc, /sys, /dev) are refused when named and skipped when a walk meets them. A
hard-linked file counts once in the totals.
"""

from __future__ import annotations

import errno
import os
import stat as st_
from collections.abc import Sequence

from memtype.collect.filesystems import Filesystems
from memtype.collect.pagecache import CAP_FOWNER, has_capability
from memtype.collect.probe import NOATIME, OPEN_FLAGS, Prober, open_file
from memtype.errors import MemtypeError
from memtype.model.files import CacheTotal, FileCache, FilesReport, Skip

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class Walker:
    """Measures paths into one FilesReport."""

    def __init__(self, prober: Prober, fs: Filesystems) -> None:
        self.prober, self.fs = prober, fs
        self.report = FilesReport(prober.method)
        self._links: set[tuple[int, int]] = set()  # hard-linked inodes seen
        self.again: set[int] = set()  # id() of files whose hard-linked inode was listed before
        self._kinds: dict[int, str] = {}
        # open(2) itself never updates atime; O_NOATIME only matters for reads (--warm, open_file), so
        # the walk asks for it only where it cannot fail (CAP_FOWNER), saving a retried open per file.
        self._flags = OPEN_FLAGS | (NOATIME if has_capability(CAP_FOWNER) else 0)

    def add_file(self, path: str, follow: bool) -> None:
        try:
            fd = open_file(path, follow=follow)
        except OSError as exc:
            self._open_failed(path, exc)
            return
        try:
            self._measure(fd, path)
        finally:
            os.close(fd)

    def totals(self, start: int, end: int, into: CacheTotal) -> None:
        """Add the files listed at ``[start, end)`` to ``into``, a hard-linked inode once."""
        files = self.report.files[start:end]
        if self.again:
            links, seen, mine = self._links, set(), []
            for f in files:
                key = (f.dev, f.ino)
                if key in links:
                    if key in seen:
                        continue
                    seen.add(key)
                mine.append(f)
            files = mine
        into.add_all(files)

    def grand_total(self) -> None:
        """The total over every argument: each inode once, even where arguments overlap."""
        seen: set[tuple[int, int]] = set()
        unique = []
        for f in self.report.files:
            key = (f.dev, f.ino)
            if key in seen and f.ino:
                continue
            seen.add(key)
            unique.append(f)
        self.report.total.add_all(unique)

    def walk(self, top: str, recursive: bool) -> None:
        """Every regular file under ``top``: one level, or all the way down with ``recursive``."""
        fs, skipped, flags, measure = self.fs, self.report.skipped, self._flags, self._measure
        stack: list[tuple[str, int | None]] = [(top, None)]
        subdirs = 0
        while stack:
            d, parent_dev = stack.pop()
            try:
                dfd = os.open(d, _DIR_FLAGS | (os.O_NOFOLLOW if parent_dev is not None else 0))
            except OSError as exc:
                skipped.append(Skip(d, _reason(exc)))
                continue
            try:
                dev = os.fstat(dfd).st_dev
                if dev != parent_dev and parent_dev is not None and fs.pseudo(dev):
                    skipped.append(Skip(d, f"pseudo filesystem ({fs.pseudo(dev)})"))
                    continue
                prefix = d if d.endswith("/") else d + "/"
                with os.scandir(dfd) as entries:
                    for e in entries:
                        if e.is_file(follow_symlinks=False):
                            path = prefix + e.name
                            try:
                                fd = os.open(e.name, flags, dir_fd=dfd)
                            except OSError as exc:
                                self._open_failed(path, exc)
                                continue
                            try:
                                measure(fd, path)
                            finally:
                                os.close(fd)
                        elif e.is_dir(follow_symlinks=False):
                            if recursive:
                                stack.append((prefix + e.name, dev))
                            else:
                                subdirs += 1
                        elif e.is_symlink():
                            skipped.append(Skip(prefix + e.name, "symlink"))
                        else:
                            skipped.append(Skip(prefix + e.name, "special"))
            except OSError as exc:  # the directory went away or became unreadable mid-read
                skipped.append(Skip(d, _reason(exc)))
            finally:
                os.close(dfd)
        if subdirs:
            self.report.notes.append(f"{top}: {subdirs} subdirector{'y' if subdirs == 1 else 'ies'} not entered "
                                     "(use -R)")

    def _measure(self, fd: int, path: str) -> None:
        st = os.fstat(fd)
        if not st_.S_ISREG(st.st_mode):
            self.report.skipped.append(Skip(path, "special"))
            return
        kind = self._kinds.get(st.st_dev)
        if kind is None:
            kind = self._kinds[st.st_dev] = self.fs.kind(st.st_dev, fd)
        f = self.prober.measure(fd, st, path, kind)
        self.report.files.append(f)
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in self._links:
                self.again.add(id(f))
            else:
                self._links.add(key)

    def _open_failed(self, path: str, exc: OSError) -> None:
        if exc.errno == errno.ELOOP:
            self.report.skipped.append(Skip(path, "symlink"))  # it became one after the directory was read
        elif exc.errno == errno.EACCES:  # cannot even open it: its size (and inode) from lstat
            try:
                st = os.lstat(path)
                f = FileCache(path, st.st_size, why="denied", dev=st.st_dev, ino=st.st_ino)
            except OSError:
                f = FileCache(path, None, why="denied")
            self.report.files.append(f)
        else:
            self.report.skipped.append(Skip(path, _reason(exc)))


def measure_paths(paths: Sequence[str], *, recursive: bool = False, method: str = "auto",
                  fs: Filesystems | None = None, action: str | None = None,
                  warm_limit: int | None = None) -> FilesReport:
    """Page cache of files and directories, optionally after evicting or warming them.

    Args:
        paths: files or directories; symlinks named here are followed.
        recursive: walk directories all the way down (never following symlinks).
        method: "auto", "cachestat" or "mincore" (see ``Prober``).
        action: None, "evict" or "warm" (``memtype.collect.fileactions``); the figures are then the
            ones after it, and each file's ``before`` holds its cached bytes before.
        warm_limit: refuse to warm more than this many bytes not yet cached (MemAvailable).

    Returns:
        Every file (``files``), one total per directory argument (``dirs``), a grand total, and what
        was skipped.

    Raises:
        MemtypeError: a path does not exist, cannot be read, or is on a pseudo filesystem; --warm
            would read more than ``warm_limit``.
    """
    fs = fs if fs is not None else Filesystems()
    checked = [(p, _check(p, fs)) for p in paths]  # every argument first: fail before any work
    w = Walker(Prober(method), fs)
    starts: list[tuple[str, bool, int]] = []
    for path, st in checked:
        starts.append((path, st_.S_ISDIR(st.st_mode), len(w.report.files)))
        if st_.S_ISDIR(st.st_mode):
            w.walk(path, recursive)
        elif st_.S_ISREG(st.st_mode):
            w.add_file(path, True)
        else:
            w.report.skipped.append(Skip(path, "special"))
    if action is not None:
        from memtype.collect.fileactions import act

        act(w.report, w.prober, action, warm_limit)
    w.report.arguments = len(checked)
    if w.again:
        n = len(w.again)
        w.report.notes.append(f"{n} hard-linked path{'' if n == 1 else 's'} of a file already listed: "
                              "counted once in the totals")
    ends = [start for _, _, start in starts[1:]] + [len(w.report.files)]
    for (path, is_dir, start), end in zip(starts, ends):
        if is_dir:
            w.report.dirs.append(CacheTotal(path))
            w.totals(start, end, w.report.dirs[-1])
    if len(starts) == 1:
        w.totals(0, len(w.report.files), w.report.total)
    else:
        w.grand_total()
    return w.report


def _check(path: str, fs: Filesystems) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MemtypeError(f"no such file or directory: {path}") from None
    except OSError as exc:
        raise MemtypeError(f"cannot read {path}: {exc.strerror}") from None
    pseudo = fs.pseudo(st.st_dev)
    if pseudo:
        raise MemtypeError(f"{path} is on {pseudo}, a pseudo filesystem: it has no page cache to show (refused)")
    return st


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "denied"
    if exc.errno == errno.ENOENT:
        return "gone"
    return f"error: {exc.strerror}"
