"""A temporary swapfile (kernel-spec.md E.4), made safely as root: in a new 0700 directory on a disk
filesystem, created O_EXCL|O_NOFOLLOW with mode 0600, ``swapoff`` and removed by ``close`` (safe twice).
The live tests use it too (tests/live/memhelpers.py imports it from here).

With swap on, DAMON (surprise 16) may start swapping idle memory out machine-wide: keep the time between
``on`` and the measurement short.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

NON_DISK_FS = frozenset({"tmpfs", "ramfs", "devtmpfs", "proc", "sysfs", "hugetlbfs", "overlay", "squashfs"})


def swaps_active(proc: str = "/proc/swaps") -> list[str]:
    """The active swap areas (their names, as /proc/swaps lists them)."""
    with open(proc) as f:
        return [line.split()[0] for line in f.read().splitlines()[1:] if line.strip()]


def fs_type(path: str) -> str | None:
    """Filesystem type of ``path`` from /proc/self/mountinfo (longest mount-point prefix)."""
    path = os.path.realpath(path)
    best, typ = "", None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mnt = left.split()[4].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, typ = mnt, right.split()[0]
    return typ


def disk_tmpdir() -> str | None:
    """A writable directory on a disk filesystem (so files are page cache, not shmem, and a swapfile
    works): $MEMTYPE_DISK_DIR, the temp dir, /var/tmp, home, cwd - the first one that qualifies."""
    for cand in (os.environ.get("MEMTYPE_DISK_DIR"), tempfile.gettempdir(), "/var/tmp", os.path.expanduser("~"),
                 os.getcwd()):
        if cand and os.path.isdir(cand) and os.access(cand, os.W_OK) and fs_type(cand) not in NON_DISK_FS:
            return cand
    return None


class SwapSetupError(RuntimeError):
    """fallocate/mkswap/swapon failed (the filesystem or kernel does not allow a swapfile)."""


class TempSwapfile:
    """A temporary swapfile: ``prepare`` (a private directory, the file, mkswap), ``on`` (swapon), and
    ``close`` (swapoff + unlink + rmdir), which ``with`` guarantees and which is safe to call twice."""

    def __init__(self, directory: str, mb: int = 256, prefix: str = "memtype-live-") -> None:
        self.directory = directory
        self.prefix = prefix
        self.mb = mb
        self.active = False
        self.created = False
        self._dir: str | None = None
        self.path = ""  # set by prepare: unique per instance (several may run at once)

    @staticmethod
    def _run(*cmd: str) -> None:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:  # mkswap or swapon not installed
            raise SwapSetupError(f"{cmd[0]}: {exc.strerror}") from None
        if r.returncode:
            raise SwapSetupError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")

    def prepare(self) -> None:
        self._dir = tempfile.mkdtemp(prefix=self.prefix, dir=self.directory)  # mode 0700
        self.path = os.path.join(self._dir, "swapfile")
        self.created = True
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.mb << 20)  # swapon refuses files with holes
        except OSError as exc:
            raise SwapSetupError(f"fallocate {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)
        self._run("mkswap", self.path)

    def on(self) -> None:
        if not self.created:
            self.prepare()
        self._run("swapon", self.path)
        self.active = True

    def close(self) -> None:
        if self.active:
            self.active = not self._swapoff()
        if self.active:  # still in /proc/swaps: removing it would leave swap on a file nobody can name
            print(f"memtype: warning: swapoff {self.path} failed; it is left active (run swapoff on it, then "
                  f"remove {self._dir})", file=sys.stderr)
            return
        if self.created and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self.created = False

    def _swapoff(self, tries: int = 5) -> bool:
        """swapoff, retried: it fails while a signal interrupts it (EINTR) or while pages cannot be read
        back into RAM yet (ENOMEM); one failed try had left a test's swapfile active for 40 minutes here."""
        for attempt in range(tries):
            subprocess.run(["swapoff", self.path], capture_output=True)
            try:
                if self.path not in swaps_active():
                    return True
            except OSError:
                return False
            time.sleep(0.2 * (attempt + 1))
        return False

    def __enter__(self) -> TempSwapfile:
        try:
            self.on()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
