"""Extracting a ``.tar.gz`` capture: memtype's own member filter and limits, the same on every Python.

tarfile's ``filter="data"`` exists only from Python 3.10.12 and 3.11.4 (Debian 12 ships 3.11.2), and
no filter bounds sizes, so memtype writes the members itself: regular files and directories only
(links, devices and FIFOs are skipped), names that stay inside (an absolute name or ``..`` refuses the
archive), files created ``O_EXCL|O_NOFOLLOW`` through directory descriptors with modes 0600/0700.

Limits (a kernel file is small; see safeio.CAPTURE_LIMITS) are checked on a first pass over the
headers, so nothing is written for an archive that breaks them, and again while writing. The whole
compressed stream is read to its end: gzip then checks its CRC and length, and anything but zeros
after tar's end-of-archive blocks means a header was damaged (tarfile alone stops at the first bad
header and would read a damaged capture as a shorter one).
"""

from __future__ import annotations

import errno
import gzip
import os
import signal
import tarfile
import threading
import zlib

from memtype.source.safeio import CAPTURE_LIMITS, DIR_FLAGS, MiB, TreeWriter, components, write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import IO, Any

MAX_MEMBERS = 65536  # a capture stores ~12 files per process: about 5,000 processes
MAX_MEMBER = CAPTURE_LIMITS[0]  # the largest file the reader accepts from a capture
MAX_TOTAL = 1024 * MiB
# Captures are text: gzip makes them 5-15 times smaller (8.7 for the shared GPU capture); zeros shrink
# ~1000-fold. Past the first 64 MiB, more than 250 bytes per compressed byte is refused as a bomb.
MAX_RATIO = 250
MAX_HEADER = 1 * MiB  # a pax or GNU long-name header is read into memory by tarfile
MAX_DEPTH = 64
_COPY_CHUNK = 1 * MiB
_LONG_HEADERS = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                 tarfile.GNUTYPE_LONGLINK)
_HINT = "extract it yourself (tar -xzf) and give the directory to --root"


class ArchiveError(Exception):
    """The archive is damaged, hostile or over a limit: the message says which, in one line."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while extracting (raised by the handler terminating_cleanly installs)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header's data whole into memory: bound it first."""

    def _proc_member(self, tarfile_: Any) -> Any:  # a private hook, the same from 3.10 to 3.13
        if self.type in _LONG_HEADERS and self.size > MAX_HEADER:
            raise tarfile.ReadError(f"an extended header of {self.size} bytes")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def extract(archive: str, dest: str) -> None:
    """Check ``archive`` whole, then write its files and directories into the empty directory ``dest``.

    Raises:
        ArchiveError: damaged, not a tar archive, a member outside, or over a limit.
    """
    _walk(archive, None)
    dest_fd = os.open(dest, DIR_FLAGS)
    try:
        _walk(archive, dest_fd)
    finally:
        os.close(dest_fd)


def _walk(archive: str, dest_fd: int | None) -> None:
    """One pass over the archive: checks every member; writes it where ``dest_fd`` is given."""
    writer = _Writer(dest_fd) if dest_fd is not None else None
    count = total = 0
    try:
        with open(archive, "rb") as raw:
            stream = _decompressed(raw)
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                for member in _members(tar):
                    count += 1
                    if count > MAX_MEMBERS:
                        raise ArchiveError(f"holds more than {MAX_MEMBERS} members; {_HINT}")
                    names = _checked_name(member.name)
                    if member.isfile() and member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                        if member.size > MAX_MEMBER:
                            raise ArchiveError(f"member {member.name!r} is larger than {MAX_MEMBER // MiB} MiB")
                        total += member.size
                        if total > MAX_TOTAL:
                            raise ArchiveError(f"holds more than {MAX_TOTAL // MiB} MiB; {_HINT}")
                        if total > MAX_MEMBER + MAX_RATIO * raw.tell():  # known from the header, before inflating
                            raise ArchiveError(f"expands more than {MAX_RATIO}-fold (a decompression bomb?)")
                        if writer is not None:
                            source = tar.extractfile(member)
                            assert source is not None  # a regular member always has data
                            _write(member.name, lambda: writer.file(names, source, member.size))
                    elif member.isdir() and writer is not None:
                        _write(member.name, lambda: writer.directory(names))
                    # links, devices, FIFOs and sparse files: skipped (a capture holds none)
                _check_end(tar)
    except ArchiveError:
        raise
    except EOFError:
        raise ArchiveError("it ends early (truncated)") from None
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"its compressed data is damaged ({exc})") from None
    except tarfile.TarError as exc:
        if count == 0:
            raise ArchiveError(f"neither a directory nor a .tar.gz capture ({exc})") from None
        raise ArchiveError(f"damaged after {count} members ({exc})") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ArchiveError("no space left to extract it; set TMPDIR to a larger file system") from None
        raise ArchiveError(exc.strerror or str(exc)) from None
    finally:
        if writer is not None:
            writer.close()


def _write(name: str, step: Callable[[], object]) -> None:
    try:
        step()
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise
        raise ArchiveError(f"cannot extract member {name!r}: {exc.strerror}") from None


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]  # checks CRC32 and length at the end
    if magic[:3] == b"BZh" or magic == b"\xfd7zXZ\x00":
        raise ArchiveError("compressed with bzip2 or xz; memtype reads .tar.gz captures (or a plain tar)")
    return raw


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members one at a time; stream mode would otherwise keep every header in ``tar.members``."""
    while True:
        member = tar.next()
        if member is None:
            return
        tar.members.clear()  # type: ignore[attr-defined]  # the list next() appends to (3.10-3.13)
        yield member


def _checked_name(name: str) -> list[str]:
    if name.startswith("/") or "\0" in name:
        raise ArchiveError(f"member {name!r} has an absolute name")
    names = [n for n in name.split("/") if n and n != "."]
    if ".." in names:
        raise ArchiveError(f"member {name!r} points outside the archive")
    if not names or len(names) > MAX_DEPTH:
        raise ArchiveError(f"member {name!r} has an unusable name")
    return components(name)


def _check_end(tar: tarfile.TarFile) -> None:
    """Read to the end of the stream: only zeros may follow the end-of-archive blocks."""
    while True:
        rest = tar.fileobj.read(_COPY_CHUNK)  # the stream under the TarFile
        if not rest:
            return
        if rest.count(0) != len(rest):
            raise ArchiveError("damaged: data follows a header tar could not read")


class _Writer(TreeWriter):
    """Writes members; a name seen twice refuses the archive."""

    def file(self, names: list[str], source: IO[bytes], size: int) -> None:
        rel = "/".join(names)
        try:
            fd = self.create(rel)
        except FileExistsError:
            raise ArchiveError(f"holds {rel!r} twice") from None
        try:
            written = 0
            while True:
                chunk = source.read(_COPY_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > size or written > MAX_MEMBER:
                    raise ArchiveError(f"member {rel!r} is longer than its header says")
                write_all(fd, chunk)
        finally:
            os.close(fd)


def terminating_cleanly(work: Callable[[], None], cleanup: Callable[[], None]) -> None:
    """Run ``work``; if SIGTERM or SIGHUP arrives meanwhile, run ``cleanup`` and then let the signal
    do what it did before (by default: end the process). Handlers are installed only for this window,
    only in the main thread, and not over a signal that was ignored (``nohup``)."""
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        raise Terminated(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            old = signal.getsignal(sig)
            if old is not signal.SIG_IGN:
                previous[sig] = old
                signal.signal(sig, handler)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)

    try:
        work()
    except Terminated as stop:
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        cleanup()
        restore()
        signal.raise_signal(stop.signum)  # the caller's disposition: SIG_DFL ends the process here
        raise ArchiveError(f"interrupted by {signal.Signals(stop.signum).name}") from None
    except BaseException:
        cleanup()
        raise
    finally:
        restore()
