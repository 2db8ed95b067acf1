"""Root: the one place memtype touches the filesystem to read kernel files, and its one errno map.

A Root stands for "/": the live machine (``Root("/")``) or a captured one (a directory laid out
like shared/fixtures, or a ``.tar.gz`` made by ``memtype snapshot``). A capture is untrusted input:
its files are read through safeio (no symlink followed, regular files only, nothing outside the root,
bounded reads); what it refuses reads as missing, with a warning naming the path (``Root.warnings``).

Errors map to the race policy in errors.py (style.md rule 4): on the live machine ENOENT on a per-PID
file is ProcessGone only when ``/proc/PID`` itself is gone (else the kernel lacks the file:
FileMissing), ESRCH is ProcessGone, EACCES/EPERM is AccessDenied.
"""

from __future__ import annotations

import errno
import json
import os
from stat import S_ISDIR, S_ISREG

from memtype.errors import AccessDenied, FileMissing, MemtypeError, NotProvided, ParseError, ProcessGone, RootError
from memtype.source import safeio

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any, BinaryIO

MANIFEST = "manifest.json"
SCHEMA_NAME, SCHEMA_VERSION = "memtype-snapshot", 1  # what capture.py writes: "memtype-snapshot/1"
_MAX_WARNINGS = 100


class Root:
    """A machine to read: the live one or a capture.

    Args:
        path: "/" for this machine, a capture directory, or a ``.tar.gz`` capture.
    """

    def __init__(self, path: str = "/") -> None:
        self._tmp: str | None = None
        self._fd: int | None = None
        self.source = path
        self.warnings: list[str] = []
        if not os.path.exists(path):
            raise RootError(f"root {path!r} does not exist")
        if os.path.isfile(path):
            path = self._extract(path)
        elif not os.path.isdir(path):
            raise RootError(f"root {path!r} is neither a directory nor a .tar.gz capture")
        try:
            self.path = _find_proc_parent(path, self.source)
            self.live = os.path.realpath(self.path) == "/"
            if not self.live:
                try:
                    self._fd = os.open(self.path, safeio.DIR_FLAGS & ~os.O_NOFOLLOW)  # the user named it
                except OSError as exc:
                    raise RootError(f"cannot open root {self.source!r}: {exc.strerror}") from None
            self.manifest: dict[str, Any] = {} if self.live else self._read_manifest()
        except BaseException:
            self.close()  # an extracted archive goes now, not when the garbage collector gets to it
            raise

    # -- lifecycle -------------------------------------------------------------------------
    def _extract(self, archive: str) -> str:
        import tempfile

        from memtype.source.archive import ArchiveError, extract, terminating_cleanly

        tmp = self._tmp = tempfile.mkdtemp(prefix="memtype-root-")  # mode 0700
        try:
            terminating_cleanly(lambda: extract(archive, tmp), self.close)
        except ArchiveError as exc:
            raise RootError(f"cannot read capture {archive!r}: {exc}") from None
        return tmp

    def close(self) -> None:
        """Remove what opening a .tar.gz extracted. Safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave extracted captures behind
        if hasattr(self, "_tmp"):
            self.close()

    def _read_manifest(self) -> dict[str, Any]:
        """manifest.json beside proc/ (the root given, or the one ``snap/`` subdirectory holding proc/),
        never from a parent directory; a missing one is a capture from before manifests ({})."""
        try:
            data = json.loads(self.read_bytes(MANIFEST, limit=1 << 20))
        except FileMissing:
            return {}
        except (ValueError, RecursionError, MemtypeError) as exc:
            raise RootError(f"capture {self.source!r}: unreadable {MANIFEST} ({_short(exc)})") from None
        if not isinstance(data, dict):
            raise RootError(f"capture {self.source!r}: {MANIFEST} is not a JSON object")
        _check_schema(data.get("schema"), self.source)
        return data

    # -- reading ---------------------------------------------------------------------------
    def join(self, rel: str) -> str:
        """The path of ``rel`` on this machine: for live-only reads that need a path (``os.stat`` of a
        ``map_files`` link). A capture's files are read with the methods below, never by path."""
        return os.path.join(self.path, rel.lstrip("/"))

    def read_bytes(self, rel: str, pid: int | None = None, limit: int | None = None) -> bytes:
        """Read a whole kernel file. ``pid`` names the process a per-PID file belongs to.

        Args:
            limit: the most bytes to accept (default: safeio.limit_for); longer is a ParseError.
        """
        if self._fd is None and limit is None and ".." not in rel:  # live, the hot path: one call less
            try:
                fd = os.open(self.join(rel), os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise self._map_error(exc, rel, pid) from None
            size, limit = 0, safeio.limit_for(rel, True)
        else:
            fd, size = self._open(rel, pid)
            if limit is None:
                limit = safeio.limit_for(rel, self.live)
        try:
            return safeio.read_fd(fd, limit, size)
        except OSError as exc:
            raise self._map_error(exc, rel, pid) from None
        except safeio.TooLarge as exc:
            raise ParseError(rel, exc.what) from None
        finally:
            os.close(fd)

    def read_text(self, rel: str, pid: int | None = None) -> str:
        return self.read_bytes(rel, pid).decode("utf-8", "surrogateescape")

    def open_fd(self, rel: str, pid: int | None = None) -> int:
        """A read-only descriptor of ``rel`` for positioned reads (pagemap, kpageflags); the caller closes
        it and maps its read errors with ``read_error``."""
        return self._open(rel, pid)[0]

    def read_error(self, exc: OSError, rel: str, pid: int | None = None) -> MemtypeError:
        """The race policy for an error reading ``rel`` through a descriptor from ``open_fd``."""
        return self._map_error(exc, rel, pid)

    def open_binary(self, rel: str, pid: int | None = None) -> BinaryIO:
        """Open a binary kernel file (pagemap, kpageflags, kpagecount) for streamed or positioned reads.

        In a capture, ``FILE.gz`` stands in for ``FILE`` (``snapshot --exact`` stores them compressed);
        such a stream supports read() but has no fileno() for pread.
        """
        if not self.live and not self.exists(rel) and self.exists(rel + ".gz"):
            import gzip

            raw = os.fdopen(self.open_fd(rel + ".gz"), "rb", buffering=0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
            stream.myfileobj = raw  # so that close() closes it too (as gzip.open(path) does)
            return stream  # type: ignore[return-value]  # a binary stream
        return os.fdopen(self.open_fd(rel, pid), "rb", buffering=0)

    def readlink(self, rel: str, pid: int | None = None) -> str:
        """A symlink's target; in a capture the link is stored as a text file holding the target."""
        if not self.live:
            return self.read_text(rel, pid).strip()
        try:
            return os.readlink(self.join(rel))
        except OSError as exc:
            raise self._map_error(exc, rel, pid) from None

    def stat(self, rel: str, pid: int | None = None) -> os.stat_result:
        """stat(2) of what ``rel`` leads to, following links: live /proc links (``fd/N``, ``map_files/``)
        name the very file a process holds. A capture stores no such links (FileMissing)."""
        if not self.live:
            raise FileMissing(rel, "a capture keeps no /proc links to follow")
        try:
            return os.stat(self.join(rel))
        except OSError as exc:
            raise self._map_error(exc, rel, pid) from None

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` is there (in a capture: as a regular file or a real directory)."""
        if self._fd is None:
            return os.path.exists(self.join(rel))
        try:
            mode = safeio.stat_beneath(self._fd, rel).st_mode
        except (safeio.Refused, OSError):
            return False
        return S_ISREG(mode) or S_ISDIR(mode)

    def scandir(self, rel: str, pid: int | None = None) -> list[tuple[str, bool, int]]:
        """(name, is a directory (a symlink to one is not), inode) of each entry of directory ``rel``."""
        return self._entries(rel, pid)

    def listdir(self, rel: str, pid: int | None = None) -> list[str]:
        """The names in directory ``rel`` (unsorted)."""
        return [name for name, _, _ in self._entries(rel, pid)]

    def subdirs(self, rel: str, pid: int | None = None) -> list[str]:
        """The names of the directories in ``rel`` (symlinks to directories excluded), sorted."""
        return sorted(name for name, is_dir, _ in self._entries(rel, pid) if is_dir)

    def pids(self) -> list[int]:
        """The numeric entries of proc/, sorted (ASCII digits only: '²' is isdigit() but no PID)."""
        try:
            names = self.listdir("proc")
        except MemtypeError as exc:
            raise RootError(f"cannot list {self.source!r} proc/: {exc}") from None
        return sorted(int(n) for n in names if n.isascii() and n.isdigit() and len(n) < 11)

    # -- the errno map -----------------------------------------------------------------------
    def _open(self, rel: str, pid: int | None) -> tuple[int, int]:
        """A descriptor of ``rel`` and the size fstat gave (0 for live kernel files)."""
        if self._fd is None:
            if ".." in rel and ".." in rel.split("/"):
                raise FileMissing(rel, "outside the root")
            try:
                return os.open(self.join(rel), os.O_RDONLY | os.O_CLOEXEC), 0
            except OSError as exc:
                raise self._map_error(exc, rel, pid) from None
        try:
            fd, st = safeio.open_file(self._fd, rel)
        except safeio.Refused as exc:
            raise self._refused(rel, exc.what) from None
        except OSError as exc:
            raise self._map_error(exc, rel, pid) from None
        return fd, st.st_size

    def _entries(self, rel: str, pid: int | None) -> list[tuple[str, bool, int]]:
        if self._fd is None:
            try:
                with os.scandir(self.join(rel)) as it:
                    return [(e.name, e.is_dir(follow_symlinks=False), e.inode()) for e in it]
            except OSError as exc:
                raise self._map_error(exc, rel, pid) from None
        try:
            return safeio.list_dir(self._fd, rel)
        except safeio.Refused as exc:
            raise self._refused(rel, exc.what) from None
        except OSError as exc:
            raise self._map_error(exc, rel, pid) from None

    def _refused(self, rel: str, what: str) -> FileMissing:
        """A capture entry memtype will not read: missing, with one warning naming the path only."""
        why = f"{what} in the capture; not read"
        if len(self.warnings) < _MAX_WARNINGS:
            line = f"{rel}: {why}"
            if line not in self.warnings:
                self.warnings.append(line)
        return FileMissing(rel, why)

    def _map_error(self, exc: OSError, rel: str, pid: int | None) -> MemtypeError:
        code = exc.errno
        if pid is not None and self.live:
            if code == errno.ESRCH:
                return ProcessGone(pid, rel)
            if code == errno.ENOENT:
                if not os.path.exists(self.join(f"proc/{pid}")):
                    return ProcessGone(pid, rel)
                return NotProvided(rel, "the kernel does not provide it (the process is still running)")
        if code in (errno.EACCES, errno.EPERM):
            return AccessDenied(pid, rel)
        if code in (errno.ENOENT, errno.ENOTDIR):
            return FileMissing(rel)  # in a capture a missing per-PID file means "not captured"
        if code == errno.ELOOP and not self.live:
            return self._refused(rel, "a symbolic link")
        return MemtypeError(f"cannot read {rel}: {exc.strerror}")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _check_schema(schema: object, source: str) -> None:
    """A missing schema is a capture from before it was written (accepted); a newer one is refused."""
    if schema is None:
        return
    name, _, version = str(schema).partition("/")
    if name != SCHEMA_NAME or not (version.isascii() and version.isdigit()):
        raise RootError(f"capture {source!r} has an unknown schema {str(schema)[:60]!r} "
                        f"(this memtype reads {SCHEMA_NAME}/{SCHEMA_VERSION})")
    if int(version) > SCHEMA_VERSION:
        raise RootError(f"capture {source!r} was written by a newer memtype (schema {schema}); this memtype "
                        f"reads {SCHEMA_NAME}/{SCHEMA_VERSION}: upgrade memtype to read it")


def _find_proc_parent(path: str, source: str) -> str:
    """The directory holding proc/: ``path`` itself or its single sub-directory (``snap/``)."""
    if os.path.isdir(os.path.join(path, "proc")) and not os.path.islink(os.path.join(path, "proc")):
        return path
    try:
        with os.scandir(path) as it:
            subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError as exc:
        raise RootError(f"cannot read root {source!r}: {exc.strerror}") from None
    found = [d for d in subdirs if os.path.isdir(os.path.join(d, "proc"))
             and not os.path.islink(os.path.join(d, "proc"))]
    if len(found) == 1:
        return found[0]
    raise RootError(f"root {source!r} holds no proc/ directory (is it a memtype snapshot?)")
