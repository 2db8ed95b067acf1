"""Root: the one place memtype touches the filesystem to read kernel files.

A Root stands for "/": the live machine (``Root("/")``) or a captured one (a directory laid out
like shared/fixtures, or a ``.tar.gz`` made by ``memtype snapshot``). Errors from per-PID files are
mapped to the race policy in errors.py (style.md rule 4): ENOENT/ESRCH -> ProcessGone,
EACCES/EPERM -> AccessDenied.
"""

from __future__ import annotations

import errno
import json
import os

from memtype.errors import AccessDenied, FileMissing, MemtypeError, ProcessGone, RootError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any, BinaryIO

_READ_CHUNK = 1 << 18  # one read() of 256 KiB: seq_file fills it with whole records
MANIFEST = "manifest.json"


class Root:
    """A machine to read: the live one or a capture.

    Args:
        path: "/" for this machine, a capture directory, or a ``.tar.gz`` capture.
    """

    def __init__(self, path: str = "/") -> None:
        self._tmp: str | None = None
        self.source = path
        if not os.path.exists(path):
            raise RootError(f"root {path!r} does not exist")
        if os.path.isfile(path):
            import tarfile

            if not tarfile.is_tarfile(path):
                raise RootError(f"root {path!r} is neither a directory nor a .tar.gz capture")
            path = self._extract(path)
        elif not os.path.isdir(path):
            raise RootError(f"root {path!r} is not a directory")
        self.path = _find_proc_parent(path)
        self.live = os.path.realpath(self.path) == "/"
        self.manifest: dict[str, Any] = self._read_manifest()

    # -- lifecycle -------------------------------------------------------------------------
    def _extract(self, archive: str) -> str:
        import tarfile
        import tempfile

        self._tmp = tempfile.mkdtemp(prefix="memtype-root-")
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
                tar.extractall(self._tmp, members=members, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.close()
            raise RootError(f"cannot read capture {archive!r}: {exc}") from None
        return self._tmp

    def close(self) -> None:
        """Remove what opening a .tar.gz extracted. Safe to call twice."""
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave extracted captures behind
        self.close()

    def _read_manifest(self) -> dict[str, Any]:
        for candidate in (os.path.join(self.path, MANIFEST), os.path.join(os.path.dirname(self.path), MANIFEST)):
            if not self.live and os.path.isfile(candidate):
                try:
                    with open(candidate, encoding="utf-8") as f:
                        data = json.load(f)
                    return data if isinstance(data, dict) else {}
                except (OSError, ValueError):
                    return {}
        return {}

    # -- reading ---------------------------------------------------------------------------
    def join(self, rel: str) -> str:
        return os.path.join(self.path, rel.lstrip("/"))

    def read_bytes(self, rel: str, pid: int | None = None) -> bytes:
        """Read a whole kernel file. ``pid`` names the process a per-PID file belongs to."""
        path = self.join(rel)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise _map_error(exc, rel, pid, self.live) from None
        try:
            chunks = []
            while True:
                chunk = os.read(fd, _READ_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise _map_error(exc, rel, pid, self.live) from None
        finally:
            os.close(fd)
        return b"".join(chunks)

    def open_binary(self, rel: str, pid: int | None = None) -> BinaryIO:
        """Open a binary kernel file (pagemap, kpageflags, kpagecount) for streamed or positioned reads.

        In a capture, ``FILE.gz`` stands in for ``FILE`` (``snapshot --exact`` stores them compressed);
        such a stream supports read() but has no fileno() for pread.
        """
        path = self.join(rel)
        if not self.live and not os.path.exists(path) and os.path.exists(path + ".gz"):
            import gzip

            return gzip.open(path + ".gz", "rb")  # type: ignore[return-value]  # a binary stream
        try:
            return open(path, "rb", buffering=0)
        except OSError as exc:
            raise _map_error(exc, rel, pid, self.live) from None

    def read_text(self, rel: str, pid: int | None = None) -> str:
        return self.read_bytes(rel, pid).decode("utf-8", "surrogateescape")

    def readlink(self, rel: str, pid: int | None = None) -> str:
        """A symlink's target; in a capture the link is stored as a text file holding the target."""
        if not self.live and os.path.isfile(self.join(rel)):
            return self.read_text(rel, pid).strip()
        try:
            return os.readlink(self.join(rel))
        except OSError as exc:
            raise _map_error(exc, rel, pid, self.live) from None

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.join(rel))

    def pids(self) -> list[int]:
        """The numeric entries of proc/, sorted."""
        try:
            names = os.listdir(self.join("proc"))
        except OSError as exc:
            raise RootError(f"cannot list {self.join('proc')}: {exc.strerror}") from None
        return sorted(int(n) for n in names if n.isdigit())


def _find_proc_parent(path: str) -> str:
    """The directory holding proc/: ``path`` itself or its single sub-directory (``snap/``)."""
    if os.path.isdir(os.path.join(path, "proc")):
        return path
    try:
        subdirs = [e.path for e in os.scandir(path) if e.is_dir()]
    except OSError as exc:
        raise RootError(f"cannot read root {path!r}: {exc.strerror}") from None
    found = [d for d in subdirs if os.path.isdir(os.path.join(d, "proc"))]
    if len(found) == 1:
        return found[0]
    raise RootError(f"root {path!r} holds no proc/ directory (is it a memtype snapshot?)")


def _map_error(exc: OSError, rel: str, pid: int | None, live: bool) -> MemtypeError:
    # In a capture a missing per-PID file means "not captured", not "exited".
    if pid is not None and live and exc.errno in (errno.ENOENT, errno.ESRCH):
        return ProcessGone(pid, rel)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(pid, rel)
    if exc.errno == errno.ENOENT:
        return FileMissing(rel)
    return MemtypeError(f"cannot read {rel}: {exc.strerror}")

