"""Kernel truth for `memtype system`: known amounts of anon, shmem, tmpfs and page cache move the rows.

A child interpreter (``memhelpers.Child``) writes 64 MiB of private anonymous memory and 64 MiB of a
mapped memfd; this process writes a 32 MiB tmpfs file that nobody maps and reads a cold 64 MiB file
on a disk filesystem (page cache nobody maps). ``memtype system --format json`` runs before and
after, in both modes, as a separate process (so its own buffers are the same size in both runs and
cancel out), and the row deltas must match what was made.

Measured right after the memory is made: DAMON proactive reclaim drops page cache idle for about
60 s (spec surprise 16).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

import memhelpers
from memhelpers import PAGE, Child

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)
pytest.importorskip("numpy")

MiB = 1 << 20
ANON = SHMEM = FILE = 64 * MiB
TMPFS = 32 * MiB
# Tolerance per row delta. In quiet runs here every delta was within 1.1 MiB of what was made (the
# child's page tables and its answers; journald; slab churn), unaccounted within 0.2 MiB once free
# counts the per-CPU lists. 6 MiB is under a tenth of each 64 MiB step, so a row that missed the
# memory (or counted it twice) cannot pass. Other work on the machine can move a row by far more for
# a moment (another test suite running beside this one moved anon by 50 MiB): each check is tried
# up to ATTEMPTS times with fresh memory, and fails only if no attempt matched.
TOL = 6 * MiB
ATTEMPTS = 4


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (kpageflags)")


@pytest.fixture
def cold_file() -> Iterator[str]:
    """A 64 MiB file on a disk filesystem, written, synced and dropped from the page cache."""
    d = memhelpers.disk_tmpdir()
    if d is None:
        pytest.skip("no writable directory on a disk filesystem (set MEMTYPE_DISK_DIR)")
    with memhelpers.temp_file(d, FILE // PAGE, prefix="memtype-live-system-") as path:
        _drop_cache(path)
        yield path
        _drop_cache(path)


@pytest.fixture
def tmpfs_dir() -> str:
    d = "/dev/shm"
    if not os.path.isdir(d) or memhelpers.fs_type(d) != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm")
    return d


def _drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _read_all(path: str, buf: bytearray) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def measure(exact: bool, processes: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "memtype", "system", "--format", "json"] + (["--exact"] if exact else [])
    if not processes:
        cmd.append("--no-processes")
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    assert sum(v for v in doc["rows"].values() if v is not None) == doc["total"]
    assert exact or (doc["rows"]["cow"] is None and doc["rows"]["device"] is None)  # meminfo has no such figure
    return doc


def delta(after: dict[str, Any], before: dict[str, Any], key: str) -> int:
    section, _, name = key.partition(":")
    a, b = after[section][name], before[section][name]
    assert a is not None and b is not None, key
    return int(a) - int(b)


def check(before: dict[str, Any], after: dict[str, Any], expected: dict[str, int]) -> list[str]:
    """The deltas that miss their expectation by more than TOL, as readable lines."""
    misses = []
    for key, want in expected.items():
        got = delta(after, before, key)
        if abs(got - want) > TOL:
            misses.append(f"{key}: {got / MiB:+.1f} MiB, expected {want / MiB:+.1f} MiB")
    return misses


EXPECT_MEMINFO = {"rows:anonymous": ANON, "rows:shared": SHMEM + TMPFS, "rows:file": FILE,
                  "rows:unaccounted": 0}  # cow and device are unknown (null) from meminfo
EXPECT_EXACT = {"rows:anonymous": ANON, "rows:cow": 0, "rows:shared": SHMEM + TMPFS, "rows:file": FILE,
                "detail:shared.mapped": SHMEM, "detail:shared.unmapped": TMPFS, "detail:file.unmapped": FILE,
                "detail:file.mapped": 0, "rows:device": 0, "rows:unaccounted": 0}


def test_known_memory_moves_each_row_in_both_modes(as_root: None, cold_file: str, tmpfs_dir: str) -> None:
    buf = bytearray(MiB)
    memtype_warm = measure(exact=True)  # page cache of memtype's own files and numpy: warm before "before"
    assert memtype_warm["exact"] is True
    misses: list[str] = []
    for _ in range(ATTEMPTS):
        child = Child()  # before "before": the interpreter's own few MiB are not part of the step
        fd, tmpfs_file = tempfile.mkstemp(prefix="memtype-live-system-", dir=tmpfs_dir)
        try:
            before = {"meminfo": measure(exact=False), "exact": measure(exact=True, processes=True)}
            anon = child.call("map_anon", ANON // PAGE)
            child.call("write", anon, ANON // PAGE)
            memfd = child.call("memfd", "memtype-system", SHMEM // PAGE)
            shared = child.call("map_fd", memfd, SHMEM // PAGE, True)
            child.call("write", shared, SHMEM // PAGE)
            chunk = b"\x5a" * MiB
            for _ in range(TMPFS // MiB):
                os.write(fd, chunk)
            os.close(fd)
            fd = -1
            _read_all(cold_file, buf)
            after = {"meminfo": measure(exact=False), "exact": measure(exact=True, processes=True)}
        finally:
            child.close()
            if fd >= 0:
                os.close(fd)
            os.unlink(tmpfs_file)
            _drop_cache(cold_file)
        misses = ([f"meminfo {m}" for m in check(before["meminfo"], after["meminfo"], EXPECT_MEMINFO)]
                  + [f"exact {m}" for m in check(before["exact"], after["exact"], EXPECT_EXACT)])
        rec_before = {r["kind"]: r for r in before["exact"]["reconcile"]}
        rec_after = {r["kind"]: r for r in after["exact"]["reconcile"]}
        # the child's anon and memfd are mapped (in its PSS); the tmpfs file and the page cache are not
        for kind, want in (("anonymous", 0), ("shared", TMPFS), ("file", FILE)):
            got = rec_after[kind]["difference"] - rec_before[kind]["difference"]
            if abs(got - want) > TOL:
                misses.append(f"reconcile {kind} difference: {got / MiB:+.1f} MiB, expected {want / MiB:+.1f} MiB")
        if not misses:
            return
    pytest.fail("; ".join(misses))
