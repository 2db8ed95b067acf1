"""Where ``memtype snapshot`` writes: a new directory (DirSink) or a ``.tar.gz`` (TarSink).

Nothing is written by path: DirSink creates OUT itself (0700; an existing OUT is refused) and every
file below it through its descriptor (safeio.TreeWriter: 0600, ``O_EXCL|O_NOFOLLOW``). TarSink
writes the archive from memory into a ``mkstemp`` file (0600, a random name) in OUT's directory,
with members of mode 0600/0700 under ``snap/``; publish_archive links it to OUT without replacing
anything that appeared there meanwhile.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time

from memtype.errors import MemtypeError
from memtype.source.safeio import DIR_FLAGS, TreeWriter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

ARCHIVE_TOP = "snap"


class Sink:
    """What a capture is written into."""

    def add(self, rel: str, data: bytes) -> None:
        raise NotImplementedError

    def stream(self, rel: str) -> IO[bytes]:
        """A binary file to fill (from another thread); then ``end_stream``."""
        raise NotImplementedError

    def end_stream(self, rel: str, f: IO[bytes]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        """Remove what was written (after an error); never raises."""
        raise NotImplementedError


class DirSink(Sink):
    def __init__(self, out: str) -> None:
        try:
            os.mkdir(out, 0o700)
        except FileExistsError:
            raise MemtypeError(f"{out!r} already exists; give a new directory or .tar.gz path") from None
        self.out = out
        self.fd = os.open(out, DIR_FLAGS)  # ELOOP if it was swapped for a link since mkdir
        st = os.fstat(self.fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            os.close(self.fd)
            raise MemtypeError(f"{out!r} was replaced while being created; not writing into it")
        self.writer = TreeWriter(self.fd)

    def add(self, rel: str, data: bytes) -> None:
        self.writer.write(rel, data)

    def stream(self, rel: str) -> IO[bytes]:
        return os.fdopen(self.writer.create(rel), "wb")

    def end_stream(self, rel: str, f: IO[bytes]) -> None:
        f.close()

    def finish(self) -> None:
        self.writer.close()
        os.close(self.fd)

    def discard(self) -> None:
        try:
            self.writer.close()
            _remove_below(self.fd)
            st, now = os.fstat(self.fd), os.lstat(self.out)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                os.rmdir(self.out)
        except OSError:
            pass
        finally:
            os.close(self.fd)


class TarSink(Sink):
    def __init__(self, parent: str, name: str) -> None:
        fd, self.tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=parent)  # 0600, O_EXCL
        self.file = os.fdopen(fd, "wb")
        self.tar = tarfile.open(fileobj=self.file, mode="w:gz", compresslevel=6)
        self.mtime = int(time.time())
        self.dirs: set[str] = set()
        self._member(ARCHIVE_TOP, tarfile.DIRTYPE)

    def _member(self, rel: str, kind: bytes, size: int = 0, data: IO[bytes] | None = None) -> None:
        info = tarfile.TarInfo(rel)
        info.type, info.size, info.mtime = kind, size, self.mtime
        info.mode = 0o700 if kind == tarfile.DIRTYPE else 0o600
        self.tar.addfile(info, data)

    def _parents(self, rel: str) -> str:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self._member(f"{ARCHIVE_TOP}/{d}", tarfile.DIRTYPE)
        return f"{ARCHIVE_TOP}/{rel}"

    def add(self, rel: str, data: bytes) -> None:
        self._member(self._parents(rel), tarfile.REGTYPE, len(data), io.BytesIO(data))

    def stream(self, rel: str) -> IO[bytes]:
        return tempfile.TemporaryFile()  # unnamed (O_TMPFILE where it can): nothing to clean up

    def end_stream(self, rel: str, f: IO[bytes]) -> None:
        size = f.tell()
        f.seek(0)
        self._member(self._parents(rel), tarfile.REGTYPE, size, f)
        f.close()

    def finish(self) -> None:
        self.tar.close()
        self.file.close()

    def discard(self) -> None:
        for close in (self.tar.close, self.file.close):
            try:
                close()
            except Exception:  # a full disk fails the last write again: the file goes anyway
                pass
        try:
            os.unlink(self.tmp_path)
        except OSError:
            pass


def publish_archive(tmp: str, out: str) -> None:
    """Give the finished archive its name; refuse if something took that name meanwhile."""
    try:
        os.link(tmp, out, follow_symlinks=False)
    except FileExistsError:
        os.unlink(tmp)
        raise MemtypeError(f"{out!r} already exists; give a new directory or .tar.gz path") from None
    except OSError:  # a file system without hard links: rename (which never writes through a link)
        os.replace(tmp, out)
        return
    os.unlink(tmp)


def _remove_below(fd: int) -> None:
    """Delete everything in the directory ``fd``, without following a link."""
    with os.scandir(fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    for name, is_dir in entries:
        if is_dir:
            sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            try:
                _remove_below(sub)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=fd)
        else:
            os.unlink(name, dir_fd=fd)
