"""The database's files, created and opened safely (we may run as root in a directory others write).

A new database is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600, before SQLite opens
it (SQLite would follow a link and create 0644); its parent directories, where missing, 0700.
SQLite then creates ``-wal`` and ``-shm`` with the database file's mode. Before opening, the
database and its ``-wal``, ``-shm`` and ``-lock`` files must be regular files (not links) owned by
us if they exist: a link planted there would make SQLite write through it.

One writer: ``-lock`` (0600) is held with ``flock(LOCK_EX)`` for as long as a writable Store is
open and holds the writer's PID. The kernel drops the lock when the writer dies, ``kill -9``
too, so a stale file never blocks. A separate file, not the database: closing any descriptor of
the database would drop SQLite's own POSIX locks in this process (sqlite.org/howtocorrupt.html 2.2).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from memtype.store.base import StoreError

SIDECARS = ("-wal", "-shm", "-journal", "-lock")
CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def check_existing(path: str, writable: bool) -> bool:
    """Whether ``path`` exists; StoreError if it or a sidecar is a link or not a regular file, or
    (writable) not ours."""
    found = False
    for suffix in ("", *SIDECARS):
        try:
            st = os.lstat(path + suffix)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"{path + suffix}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise StoreError(f"{path + suffix} is {what}; not opening it")
        if writable and st.st_uid != os.geteuid():
            raise StoreError(f"{path + suffix} belongs to uid {st.st_uid}, not to us; not writing to it")
        found = found or suffix == ""
    return found


def create(path: str) -> None:
    """Create the empty database file (0600) and the missing parent directories (0700)."""
    try:
        _make_parents(os.path.dirname(os.path.abspath(path)))
        os.close(os.open(path, CREATE, 0o600))
    except FileExistsError:
        raise StoreError(f"{path} appeared while being created; not writing to it") from None
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None


def _make_parents(directory: str) -> None:
    """Each missing directory of ``directory``, 0700 (``os.makedirs`` gives its mode to the last only)."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass  # made meanwhile; the file's O_NOFOLLOW|O_EXCL still holds


class WriterLock:
    """The one-writer lock (module docstring)."""

    def __init__(self, path: str) -> None:
        lock = path + "-lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open {lock}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise StoreError(f"{lock} is not a regular file of ours; not using it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise StoreError(f"cannot lock {lock}: {exc.strerror}") from None
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                who = f"PID {holder}" if holder.isdigit() else "another process"
                raise StoreError(f"{path} is being recorded by {who}; one recorder per database "
                                 f"(stop it, or record into another file)") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # the flock goes with it
            self.fd = None
