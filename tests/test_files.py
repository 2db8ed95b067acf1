"""``memtype files`` without touching the live page cache: parsers, totals, JSON, tables, captures, errors.

The kernel-truth side (real files, cachestat, mincore, unprivileged) is tests/live/test_files_live.py.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.collect.filesystems import Filesystems
from memtype.parse.mountinfo import mount_types, parse_mountinfo
from memtype.collect.holders import scan_holders
from memtype.collect.probe import Prober
from memtype.model.files import CacheTotal, FileCache, FilesReport, Skip
from memtype.model.records import HostInfo
from memtype.output.files_json import file_dict, file_json, write_report
from memtype.output.files_table import notes, report_table
from memtype.output.table import make_console, show
from memtype.source.root import Root

from conftest import GPU_ROOT, Result
from test_cli import check_golden

Run = Callable[..., Result]
K = 1024
HOST = HostInfo("test", "6.18", 4096, None, "/", True)

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=4096k
24 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
25 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
26 22 0:24 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
27 22 0:40 / /mnt/with\\040space rw - xfs /dev/vdb rw
garbage line
"""


def fc(path: str, size: int | None, cached: int | None = None, **kw: object) -> FileCache:
    span = None if size is None or cached is None else -(-size // 4096) * 4096  # as the prober gives it
    f = FileCache(path, size, cached, span=span, **kw)  # type: ignore[arg-type]
    f.mapped_by, f.open_by = (), ()
    return f


# ------------------------------------------------------------------ filesystems
def test_mount_types_and_pseudo_filesystems() -> None:
    types = mount_types(parse_mountinfo(MOUNTINFO))
    assert types[(254, 0)] == "ext4" and types[(0, 40)] == "xfs"
    fs = Filesystems(MOUNTINFO)
    assert fs.pseudo(os.makedev(0, 22)) == "proc" and fs.pseudo(os.makedev(0, 5)) == "devtmpfs"
    assert fs.pseudo(os.makedev(0, 23)) == "sysfs" and fs.pseudo(os.makedev(254, 0)) is None
    assert fs.kind(os.makedev(0, 24)) == "shmem" and fs.kind(os.makedev(254, 0)) == "file"
    assert fs.kind(os.makedev(9, 99)) == "file"  # unknown device, no fd to ask: page cache


def test_prober_rejects_unknown_methods() -> None:
    with pytest.raises(ValueError):
        Prober("vmtouch")
    assert Prober("mincore").method == "mincore"


# ------------------------------------------------------------------ totals
def test_totals_cover_known_files_and_count_the_others() -> None:
    t = CacheTotal("/d")
    t.add_all([fc("/d/a", 10 * K, 8 * K, dirty=4 * K, writeback=0, evicted=0, recently_evicted=0),
               fc("/d/b", 4 * K, None, why="denied"),
               fc("/d/c", 4 * K, 4 * K, method="mincore")])
    assert (t.files, t.size, t.cached, t.dirty, t.unknown) == (3, 18 * K, 12 * K, 4 * K, 1)
    empty = CacheTotal("/e")
    empty.add_all([fc("/e/x", 1, None, why="denied")])
    assert (empty.cached, empty.dirty, empty.evicted, empty.unknown) == (None, None, None, 1)  # never a fake 0


# ------------------------------------------------------------------ JSON
@pytest.mark.parametrize("f", [
    fc("/plain", 100, 4096, dirty=0, writeback=0, evicted=8192, recently_evicted=4096, method="cachestat"),
    fc('/we"ird/\udcff/é', 1, 4096, dirty=4096, writeback=0, evicted=0, recently_evicted=0, method="cachestat"),
    fc("/unknown", 5, None, why="denied"),
    fc("/mincore", 5, 4096, method="mincore"),
])
def test_fast_json_matches_json_dumps(f: FileCache) -> None:
    f.mapped_by, f.open_by = (12, 7), ()
    text = file_json(f)
    assert text == json.dumps(file_dict(f), separators=(",", ":"))
    d = json.loads(text)
    for key in ("path", "size", "cached", "dirty", "writeback", "evicted", "recently_evicted", "mapped_by",
                "open_by"):
        assert key in d


def test_report_json_is_one_document() -> None:
    report = FilesReport("cachestat")
    files = [fc(f"/d/{i}", 4096, 4096, dirty=0, writeback=0, evicted=0, recently_evicted=0, method="cachestat")
             for i in range(5000)]  # more than one batch
    report.files = files
    report.total.add_all(files)
    report.skipped.append(Skip("/d/link", "symlink"))
    out = io.StringIO()
    write_report(out, HOST, report, files)
    doc = json.loads(out.getvalue())
    assert doc["schema"] == "memtype/2" and len(doc["files"]) == 5000 and doc["summary"]["files"] == 5000
    assert doc["total"]["cached"] == 5000 * 4096 and doc["skipped"] == [{"path": "/d/link", "reason": "symlink"}]
    out = io.StringIO()
    write_report(out, HOST, FilesReport("mincore"), [])
    assert json.loads(out.getvalue())["files"] == []


# ------------------------------------------------------------------ tables
def _synthetic_report() -> tuple[FilesReport, list[FileCache]]:
    report = FilesReport("cachestat")
    files = [fc("/data/big.bin", 64 * K * K, 16 * K * K, dirty=4 * K, writeback=0, evicted=40 * K * K,
                recently_evicted=8 * K * K, method="cachestat"),
             fc("/data/small.txt", 100, 4 * K, dirty=0, writeback=0, evicted=0, recently_evicted=0,
                method="cachestat"),
             fc("/data/secret", 8 * K, None, why="denied")]
    report.files = files
    t = CacheTotal("/data")
    t.add_all(files)
    report.dirs.append(t)
    report.total.add_all(files)
    report.arguments = 1
    report.skipped += [Skip("/data/link", "symlink"), Skip("/data/fifo", "special")]
    return report, files


@pytest.mark.parametrize("width", [80, 100])
def test_paths_table_golden(width: int) -> None:
    report, files = _synthetic_report()
    buf = io.StringIO()
    show(make_console(width, file=buf), report_table(report, files, width))
    text = buf.getvalue()
    check_golden(f"files-paths-{width}.txt", text)
    assert "unknown" in text and "total /data (3 files)" in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_notes_name_every_skip_and_unknown() -> None:
    report, _ = _synthetic_report()
    lines = notes(report)
    assert "skipped 1: symlinks not followed" in lines
    assert "skipped 1: special files (FIFOs, sockets, devices)" in lines
    assert any(line.startswith("1 file unknown: the kernel shows") for line in lines)


# ------------------------------------------------------------------ who holds files (a synthetic /proc)
def test_holders_from_maps_and_fds(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 8192)
    st = os.stat(data)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    proc = tmp_path / "root" / "proc"
    for pid in (10, 11):
        (proc / str(pid) / "fd").mkdir(parents=True)
    (proc / "10" / "maps").write_text(
        f"7f0000000000-7f0000002000 r--s 00000000 {dev} {st.st_ino}    {data}\n"
        "7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0    [stack]\n"
        "7f0000005000-7f0000006000 rw-s 00000000 00:05 4    /dev/zero (deleted)\n"
        "7f0000007000-7f0000008000 rw-s 00000000 00:06 9    /dev/nvidiactl\n")
    (proc / "11" / "maps").write_text("")  # a kernel thread: nothing mapped
    os.symlink(str(data), proc / "11" / "fd" / "3")
    os.symlink("socket:[1234]", proc / "11" / "fd" / "4")
    with Root(str(tmp_path / "root")) as root:
        holders = scan_holders(root, skip_self=False)
    held = holders.files[(st.st_dev, st.st_ino)]
    assert held.mapped_by == {10} and held.open_by == set()  # pid 11's maps is empty: skipped
    assert held.maps == [(10, 0x7F0000000000, 0x7F0000002000)]
    # /dev/nvidiactl is a device node, never a cached file; "/dev/zero (deleted)" is no device but the
    # shmem file of a MAP_SHARED|MAP_ANONYMOUS region (what map_files shows as root too): memtype shm's
    assert set(holders.files) == {(st.st_dev, st.st_ino), (os.makedev(0, 5), 4)}
    f = fc(str(data), 8192)
    f.dev, f.ino = st.st_dev, st.st_ino
    other = fc("/elsewhere", 1)
    holders.attach([f, other])
    assert (f.mapped_by, f.open_by, other.mapped_by) == ((10,), (), ())


# ------------------------------------------------------------------ captures and errors (CLI)
@pytest.mark.parametrize("width", [80, 110])
def test_capture_top_golden(run_cli: Run, width: int) -> None:
    r = run_cli("files", "--top", "8", "--root", str(GPU_ROOT), "--width", str(width))
    assert r.code == 0, r.err
    check_golden(f"files-top-capture-{width}.txt", r.out)
    assert "a capture holds no page cache state" in r.err
    assert max(len(line) for line in r.out.splitlines()) <= width


def test_capture_top_json(run_cli: Run) -> None:
    r = run_cli("files", "--top", "5", "--root", str(GPU_ROOT), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["host"]["live"] is False and doc["method"] is None
    files = doc["files"]
    assert len(files) == 5 and files[0]["mapped_pss"] >= files[-1]["mapped_pss"] > 0
    for f in files:
        assert f["cached"] is None and f["size"] is None and f["open_by"] is None  # a capture cannot know
        assert set(f["mapped_by"]) <= {409, 415, 421, 450, 451, 452, 453, 471}
    m = doc["machine"]
    assert m["held"] is None and m["mapped_pss"] > 0
    assert m["mapped_pss"] + m["buffers"] + m["unheld"] == m["file_cache"]  # named, not dropped


@pytest.mark.parametrize(("args", "code", "words"), [  # usage errors exit 2 (issue 8 item 7)
    (["files", "/etc/hostname", "--root", str(GPU_ROOT)], 2, "a capture holds no file contents"),
    (["files", "--evict"], 2, "--evict needs the files"),
    (["files", "--warm", "--root", str(GPU_ROOT)], 2, "--warm needs the files"),
    (["files", "-R"], 2, "-R needs a directory"),
    (["files", "/no/such/file"], 1, "no such file or directory: /no/such/file"),
    (["files", "/proc/self/status"], 1, "pseudo filesystem"),
    (["files", "/tmp", "--evict", "--warm"], 2, "not allowed with argument"),
    (["files", "--top", "0"], 2, "must be positive"),
])
def test_errors_are_one_line(run_cli: Run, args: list[str], code: int, words: str) -> None:
    r = run_cli(*args)
    assert r.code == code, (r.code, r.err)
    assert words in r.err and r.err.count("\n") == 1 and "Traceback" not in r.err
