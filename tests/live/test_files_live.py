"""Kernel truth for ``memtype files``: real files on a disk filesystem, page-exact.

Every file is N pages, made with write() in a fresh directory on a disk filesystem (not tmpfs:
tmpfs files are shmem), and its cache is dropped first (fsync + POSIX_FADV_DONTNEED), so what memtype
reports is exactly what the test did: read all of it, read the first quarter (POSIX_FADV_RANDOM and
chunked reads: readahead would read more, spec surprise 17), write half without syncing (dirty), map
half in a child (with MADV_RANDOM, so a fault reads one page), page it out (evicted) and read it again.
Figures are read right after they are made: DAMON drops idle clean page cache after ~60 s here
(spec surprise 16).

The unprivileged test forks a child that drops to uid 65534 after importing everything (the
interpreter lives under /root, which that user cannot read): on a root-owned 0644 file the kernel
refuses cachestat and mincore would claim every page resident, so memtype must say unknown (null).
"""

from __future__ import annotations

import io
import json
import os
import time
import select
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import memhelpers
from memhelpers import PAGE, Child
from memtype.collect import pagecache
from memtype.collect.files import measure_paths
from memtype.collect.pagecache import Cachestat
from memtype.parse.procfiles import memory_cgroup
from memtype.model.files import FileCache

from conftest import Result

if not sys.platform.startswith("linux"):
    pytest.skip("live tests need Linux", allow_module_level=True)

N = 1024  # pages per file: 4 MiB
SIZE = N * PAGE
MADV_RANDOM = 1

try:
    Cachestat()(0)
    HAVE_CACHESTAT = True
except OSError as exc:
    HAVE_CACHESTAT = exc.errno != 38  # ENOSYS: kernel < 6.5


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture
def workdir() -> Iterator[str]:
    base = memhelpers.disk_tmpdir()
    if base is None:
        pytest.skip("no writable directory on a disk filesystem (set MEMTYPE_DISK_DIR)")
    d = tempfile.mkdtemp(prefix="memtype-files-", dir=base)
    os.chmod(d, 0o755)  # the unprivileged child must reach the files
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def spawn() -> Iterator[Callable[[], Child]]:
    children: list[Child] = []

    def make() -> Child:
        children.append(Child())
        return children[-1]

    yield make
    for child in reversed(children):
        child.close()


def make_file(d: str, name: str, npages: int = N) -> str:
    """A file of ``npages`` pages written with write(), its cache dropped."""
    path = os.path.join(d, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        chunk = b"\x5a" * (256 * PAGE)
        left = npages * PAGE
        while left:
            left -= os.write(fd, chunk[: min(left, len(chunk))])
    finally:
        os.close(fd)
    drop(path)
    return path


def drop(path: str) -> None:
    """fsync + DONTNEED until the page cache of the file is empty: a page still under writeback when
    fadvise runs stays cached (seen once on a loaded machine), so try again briefly."""
    for _ in range(50):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        if not HAVE_CACHESTAT or truth(path)[0] == 0:
            return
        time.sleep(0.02)


def read_pages(path: str, npages: int) -> None:
    """Read the first ``npages`` pages and no more: readahead off, 16-page reads."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        off = 0
        while off < npages * PAGE:
            got = os.pread(fd, min(16 * PAGE, npages * PAGE - off), off)
            assert got
            off += len(got)
    finally:
        os.close(fd)


def one(path: str, method: str = "auto") -> FileCache:
    report = measure_paths([path], method=method)
    assert len(report.files) == 1, report.skipped
    return report.files[0]


def truth(path: str) -> tuple[int, int, int, int, int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return Cachestat()(fd)
    finally:
        os.close(fd)


needs_cachestat = pytest.mark.skipif(not HAVE_CACHESTAT, reason="cachestat(2) needs Linux 6.5")


# ------------------------------------------------------------------ the cases
@needs_cachestat
def test_cold_full_and_partial(workdir: str) -> None:
    path = make_file(workdir, "a")
    f = one(path)
    assert (f.size, f.cached, f.dirty, f.writeback, f.method) == (SIZE, 0, 0, 0, "cachestat")
    read_pages(path, N)
    f = one(path)
    assert (f.cached, f.dirty) == (SIZE, 0)
    drop(path)
    read_pages(path, N // 4)
    f = one(path)
    assert f.cached == SIZE // 4
    m = one(path, "mincore")  # the fallback agrees, and has no dirty or evicted figure
    assert (m.cached, m.method, m.dirty, m.evicted) == (SIZE // 4, "mincore", None, None)


@needs_cachestat
def test_dirty_then_evict_keeps_dirty_pages(workdir: str, run_cli: Callable[..., Result]) -> None:
    path = make_file(workdir, "dirty")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\x33" * (SIZE // 2), 0)  # whole pages: nothing read, half the file dirty
        f = one(path)
        assert (f.cached, f.dirty + f.writeback) == (SIZE // 2, SIZE // 2)
        r = run_cli("files", path, "--evict", "--format", "json")
        assert r.code == 0, r.err
        item = json.loads(r.out)["files"][0]
        # fadvise(DONTNEED) starts writeback of dirty pages and drops only clean ones: all stayed
        assert (item["cached_before"], item["cached"]) == (SIZE // 2, SIZE // 2)
        assert item["cached"] == truth(path)[0] * PAGE
    finally:
        os.fsync(fd)
        os.close(fd)
    with open(path, "rb") as fh:
        assert fh.read(SIZE // 2) == b"\x33" * (SIZE // 2)  # nothing lost


@needs_cachestat
def test_mapped_and_held_by_a_child(workdir: str, spawn: Callable[[], Child], run_cli: Callable[..., Result]) -> None:
    path = make_file(workdir, "mapped")
    child = spawn()
    addr = child.call("map_path", path, N, True, False)
    child.call("madvise", addr, N, MADV_RANDOM)  # one page per fault: no fault readahead
    child.call("read", addr, N // 2)
    fd = child.call("open", path)
    assert fd >= 0
    r = run_cli("files", path, "--format", "json")
    assert r.code == 0, r.err
    item = json.loads(r.out)["files"][0]
    assert item["cached"] == SIZE // 2
    assert item["mapped_by"] == [child.pid] and item["open_by"] == [child.pid]
    # --evict drops the clean pages nobody maps; the mapped half stays and is reported
    r = run_cli("files", path, "--evict", "--format", "json")
    item = json.loads(r.out)["files"][0]
    assert (item["cached_before"], item["cached"]) == (SIZE // 2, SIZE // 2)
    read_pages(path, N)  # the other half is cached again, but nobody maps it
    r = run_cli("files", path, "--evict")
    assert r.code == 0, r.err
    assert "stayed" in r.out
    assert truth(path)[0] * PAGE == SIZE // 2


@needs_cachestat
def test_top_lists_the_mapped_file_with_pids_and_cgroup(workdir: str, spawn: Callable[[], Child],
                                                         run_cli: Callable[..., Result]) -> None:
    path = make_file(workdir, "top")
    child = spawn()
    addr = child.call("map_path", path, N, True, False)
    child.call("madvise", addr, N, MADV_RANDOM)
    child.call("read", addr, N)
    r = run_cli("files", "--top", "100000", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    mine = [f for f in doc["files"] if f["path"] == path]
    assert len(mine) == 1, [f["path"] for f in doc["files"]][:20]
    assert mine[0]["cached"] == SIZE and mine[0]["mapped_by"] == [child.pid] and mine[0]["open_by"] == []
    m = doc["machine"]
    assert m["held"] >= SIZE
    assert m["held"] + m["buffers"] + m["unheld"] == m["file_cache"]  # the parts add up, none dropped
    if os.geteuid() == 0:  # kpagecgroup: the child read the pages, so its memory cgroup is charged
        with open(f"/proc/{child.pid}/cgroup") as fh:
            expected = memory_cgroup(fh.read())
        assert mine[0]["cgroup"] == expected
    else:
        assert mine[0]["cgroup"] is None


@needs_cachestat
def test_paged_out_is_evicted_then_reread(workdir: str, spawn: Callable[[], Child]) -> None:
    path = make_file(workdir, "evicted")
    read_pages(path, N)
    child = spawn()
    addr = child.call("map_path", path, N, True, False)
    child.call("madvise", addr, N, MADV_RANDOM)
    child.call("read", addr, N)  # map every page, so that MADV_PAGEOUT reaches them all
    child.call("pageout", addr, N)  # reclaim: no swap needed for clean file pages (spec C.4)
    child.close()
    f = one(path)
    assert f.cached is not None and f.evicted is not None and f.recently_evicted is not None
    assert f.cached + f.evicted == SIZE  # reclaim leaves a shadow entry per page
    assert f.evicted >= SIZE * 9 // 10 and f.recently_evicted == f.evicted
    read_pages(path, N)
    f = one(path)
    assert (f.cached, f.evicted) == (SIZE, 0)  # read again: the shadow entries are gone
    # POSIX_FADV_DONTNEED drops pages without leaving shadow entries: evicted stays 0
    r = measure_paths([path], action="evict").files[0]
    assert (r.before, r.cached, r.evicted) == (SIZE, 0, 0)


@needs_cachestat
def test_warm_reads_everything_in(workdir: str, run_cli: Callable[..., Result]) -> None:
    path = make_file(workdir, "warm")
    r = run_cli("files", path, "--warm", "--format", "json")
    assert r.code == 0, r.err
    item = json.loads(r.out)["files"][0]
    assert (item["cached_before"], item["cached"]) == (0, SIZE)
    assert truth(path)[0] * PAGE == SIZE


def test_mincore_in_windows_and_empty_files(workdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_file(workdir, "windows")
    read_pages(path, N // 4)
    empty = os.path.join(workdir, "empty")
    open(empty, "wb").close()
    monkeypatch.setattr(pagecache, "MINCORE_WINDOW", 64 * PAGE)  # 16 windows for this file
    assert one(path, "mincore").cached == SIZE // 4
    assert one(empty, "mincore").cached == 0  # mmap of 0 bytes would fail: never mapped
    if HAVE_CACHESTAT:
        assert one(empty).cached == 0


@needs_cachestat
def test_directory_totals_skips_and_symlinks(workdir: str, run_cli: Callable[..., Result]) -> None:
    d = os.path.join(workdir, "tree")
    os.makedirs(os.path.join(d, "sub"))
    full = make_file(d, "full", 64)
    quarter = make_file(d, "quarter", 64)
    deep = make_file(os.path.join(d, "sub"), "deep", 32)
    read_pages(full, 64)
    read_pages(quarter, 16)
    read_pages(deep, 32)
    os.symlink(full, os.path.join(d, "link"))
    os.symlink(os.path.join(d, "sub"), os.path.join(d, "dirlink"))
    os.mkfifo(os.path.join(d, "fifo"))
    os.link(full, os.path.join(d, "hardlink"))

    r = run_cli("files", d, "-R", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    paths = sorted(f["path"] for f in doc["files"])
    assert paths == sorted([full, quarter, deep, os.path.join(d, "hardlink")])
    total = doc["directories"][0]
    assert total["files"] == 3  # the hard link counts once
    assert total["cached"] == (64 + 16 + 32) * PAGE and total["size"] == (64 + 64 + 32) * PAGE
    skipped = {(s["path"], s["reason"]) for s in doc["skipped"]}
    assert skipped == {(os.path.join(d, "link"), "symlink"), (os.path.join(d, "dirlink"), "symlink"),
                       (os.path.join(d, "fifo"), "special")}
    flat = json.loads(run_cli("files", d, "--format", "json").out)
    assert deep not in {f["path"] for f in flat["files"]}
    assert any("not entered" in n for n in flat["notes"])
    # a symlink named on the command line is followed
    link = json.loads(run_cli("files", os.path.join(d, "link"), "--format", "json").out)["files"][0]
    assert link["cached"] == 64 * PAGE


def test_pseudo_filesystems_are_refused(run_cli: Callable[..., Result]) -> None:
    for path in ("/proc/meminfo", "/sys/kernel", "/dev/null"):
        r = run_cli("files", path, "--evict")
        assert r.code == 1 and "pseudo filesystem" in r.err and r.err.count("\n") == 1, (path, r.err)


# ------------------------------------------------------------------ unprivileged
@needs_cachestat
def test_unprivileged_gets_unknown_not_a_fake_100(workdir: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (to make a root-owned file and drop to uid 65534)")
    theirs = make_file(workdir, "roots", 16)  # root-owned 0644, not cached
    os.chmod(theirs, 0o644)
    mine = os.path.join(workdir, "nobodys")
    fd = os.open(mine, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"\x5a" * 16 * PAGE)
    os.close(fd)
    os.chown(mine, 65534, 65534)
    from memtype.cli.main import main

    # warm up as root: every module memtype needs is imported before the uid change
    _run_main(main, ["files", theirs, "--format", "json"])
    _run_main(main, ["files", theirs, "--mincore", "--format", "json"])
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out: dict[str, Any] = {"uid": os.geteuid()}
            for label, args in (("auto", []), ("mincore", ["--mincore"])):
                out[label] = json.loads(_run_main(main, ["files", theirs, mine, "--format", "json", *args]))
            fd = os.open(theirs, os.O_RDONLY)  # what mincore itself would have claimed
            out["raw_mincore"] = pagecache.mincore_pages(fd, 16 * PAGE)
            os.close(fd)
            os.write(wfd, json.dumps(out).encode())
            code = 0
        except BaseException:
            import traceback

            os.write(wfd, json.dumps({"error": traceback.format_exc()}).encode())
        finally:
            os._exit(code)
    os.close(wfd)
    try:
        data = b""
        while select.select([rfd], [], [], 30)[0]:
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    got = json.loads(data)
    assert "error" not in got, got.get("error")
    assert got["uid"] == 65534
    assert truth(theirs)[0] == 0
    assert got["raw_mincore"] == 16  # the kernel's lie (spec surprise 13) that memtype must not repeat
    for label in ("auto", "mincore"):
        by_path = {f["path"]: f for f in got[label]["files"]}
        t = by_path[theirs]
        assert t["cached"] is None and t["unknown"] == "denied" and t["size"] == 16 * PAGE, (label, t)
        assert all(t[k] is None for k in ("dirty", "writeback", "evicted", "recently_evicted"))
        assert by_path[mine]["cached"] == 16 * PAGE, (label, by_path[mine])  # its own file: the truth
        assert got[label]["total"]["unknown_files"] == 1


def _run_main(main: Callable[[list[str]], int], argv: list[str]) -> str:
    buf = io.StringIO()
    saved, sys.stdout = sys.stdout, buf
    saved_err, sys.stderr = sys.stderr, io.StringIO()
    try:
        assert main(argv) == 0
    finally:
        sys.stdout, sys.stderr = saved, saved_err
    return buf.getvalue()


def test_regular_only(workdir: str) -> None:
    """A FIFO named on the command line is skipped, never opened for reading (it would block)."""
    fifo = os.path.join(workdir, "fifo")
    os.mkfifo(fifo)
    report = measure_paths([fifo])
    assert not report.files and [(s.path, s.reason) for s in report.skipped] == [(fifo, "special")]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
