"""Files a command writes by name (``memtype report OUT.html``, ``--svg DIR``), created safely as root.

``write_file`` writes into a new ``mkstemp`` file (0600, ``O_EXCL``, a random name) in OUT's directory,
then renames it onto OUT: a symlink planted at OUT is replaced, never followed, and a reader never sees
half a file. OUT may be an existing regular file (a report made again); anything else (a link to a
directory, a FIFO, a device) is refused. ``write_files`` creates DIR 0700 (or opens an existing one
without following a link) and each file below it through the directory's descriptor with
``O_EXCL|O_NOFOLLOW``. As root the files stay 0600 (a report names processes, users and cgroups); as
another user they get the umask's usual mode, as any file that user writes.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile

from memtype.errors import MemtypeError
from memtype.source.safeio import DIR_FLAGS, describe, write_all

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _mode() -> int:
    """0600 as root; else 0666 less the umask."""
    if os.geteuid() == 0:
        return 0o600
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_file(path: str, data: bytes) -> None:
    """Write ``path`` whole (module docstring).

    Raises:
        MemtypeError: ``path`` is not a regular file, or its directory cannot be written (one line).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise MemtypeError(f"cannot write {path}: {exc.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        raise MemtypeError(f"{path} exists and is {describe(st.st_mode)}; not writing over it")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".memtype-", suffix=".tmp")
    except OSError as exc:
        raise MemtypeError(f"cannot write into {folder}: {exc.strerror}") from None
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, _mode())
        finally:
            os.close(fd)
        os.replace(tmp, path)  # rename(2) replaces a link at path; it never follows one
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise MemtypeError(f"cannot write {path}: {exc.strerror}") from None
        raise


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name made of the name's letters, digits, ``._-`` (others become ``_``), never hidden."""
    return SAFE_NAME.sub("_", name).lstrip(".") or "_"


def write_files(folder: str, files: dict[str, bytes]) -> list[str]:
    """Write each ``files`` item (a name made safe with ``safe_name``) into ``folder``; the names written.

    Raises:
        MemtypeError: ``folder`` is not a directory of ours, or a name in it is not a regular file.
    """
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise MemtypeError(f"cannot create {folder}: {exc.strerror}") from None
    try:
        dfd = os.open(folder, DIR_FLAGS)
    except OSError as exc:
        raise MemtypeError(f"cannot open {folder} as a directory (a link is not followed): {exc.strerror}") from None
    written = []
    try:
        if os.fstat(dfd).st_uid != os.geteuid():
            raise MemtypeError(f"{folder} belongs to another user; not writing into it")
        for name, data in files.items():
            safe = safe_name(name)
            try:
                st = os.stat(safe, dir_fd=dfd, follow_symlinks=False)
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    raise MemtypeError(f"{folder}/{safe} exists and is {describe(st.st_mode)}; not writing over it")
                os.unlink(safe, dir_fd=dfd)  # a link is removed, not followed
            except FileNotFoundError:
                pass
            try:
                fd = os.open(safe, _CREATE, _mode(), dir_fd=dfd)
            except OSError as exc:
                raise MemtypeError(f"cannot write {folder}/{safe}: {exc.strerror}") from None
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            written.append(safe)
    finally:
        os.close(dfd)
    return written
