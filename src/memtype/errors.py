"""The exceptions memtype raises. The library never exits; only ``memtype.cli`` maps these to exit codes.

Every error is a ``MemtypeError``; the ones about one process take ``(pid, path)`` in that order.
"""

from __future__ import annotations


class MemtypeError(Exception):
    """Base class of every error memtype raises on purpose."""


class UsageError(MemtypeError):
    """A bad combination of arguments (the CLI exits 2)."""


class ProcessGone(MemtypeError):
    """The process exited while it was being read (ENOENT/ESRCH on a per-PID file)."""

    def __init__(self, pid: int, path: str = "") -> None:
        super().__init__(f"process {pid} is gone" + (f" ({path})" if path else ""))
        self.pid = pid
        self.path = path


class AccessDenied(MemtypeError):
    """The kernel refused to show a file (EACCES/EPERM); ``pid`` is None for a file of no process."""

    def __init__(self, pid: int | None, path: str) -> None:
        super().__init__(f"permission denied: {path}")
        self.pid = pid
        self.path = path


class ParseError(MemtypeError):
    """A kernel file (live or captured) did not have the expected shape."""

    def __init__(self, path: str, message: str, lineno: int | None = None) -> None:
        where = f"{path}:{lineno}" if lineno is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.lineno = lineno
        self.message = message


class RootError(MemtypeError):
    """The root to analyse is missing, empty or not a machine capture."""


class NoSuchProcess(MemtypeError):
    """A PID that was asked for does not exist."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"no process with PID {pid}")
        self.pid = pid


class FileMissing(MemtypeError):
    """A file is absent: the kernel lacks the feature, or the capture did not hold it."""

    def __init__(self, path: str, why: str | None = None) -> None:
        super().__init__(f"{path}: {why}" if why else f"missing: {path}")
        self.path = path
        self.why = why  # set where a capture holds something unusable there (a symlink, a FIFO, ...)


class NotProvided(FileMissing):
    """The live kernel lacks a per-process file although the process still runs (a kernel option is off)."""


class Unsupported(MemtypeError):
    """The kernel (or the capture) lacks what ``feature`` needs; the message says what and what to do."""

    def __init__(self, feature: str, message: str) -> None:
        super().__init__(message)
        self.feature = feature


class PressureError(MemtypeError):
    """A bad ``--cgroup`` for the pressure model, or a machine without the files the model needs."""


class OutputError(MemtypeError):
    """The results could not be written (stdout full, closed or gone; not a closed pipe)."""


class StoreError(MemtypeError):
    """A history database (``memtype.store``) that cannot be opened, read or written; names the file."""
