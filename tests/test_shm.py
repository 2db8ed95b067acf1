"""`memtype shm` on captured roots (hermetic): tests/fixtures/roots/shm-objects is a real capture of one
process tree holding every kind of shared-memory object (made by tests/fixtures/make_shm_root.py, whose
docstring lists what it made); synthetic roots in tmp_path cover old kernels and hostile captures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from memtype import Root
from memtype.collect.shm import read_shm
from memtype.model.shm import ShmAccount, ShmObject, reconcile, ShmRow
from memtype.parse.swapfiles import parse_sysvipc_shm

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "roots" / "shm-objects"
P = 4096
SYSV_HEAD = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime"
             "      dtime      ctime                   rss                  swap\n")


@pytest.fixture(scope="module")
def account() -> ShmAccount:
    with Root(str(FIXTURE)) as root:
        return read_shm(root, rss=True)


def _by_name(a: ShmAccount, name: str | None, kind: str) -> ShmObject:
    found = [o for o in a.objects if o.kind == kind and o.name == name]
    assert len(found) == 1, [(o.kind, o.name) for o in a.objects]
    return found[0]


def _parent_child(a: ShmAccount) -> tuple[int, int]:
    seg = _by_name(a, "0x6d740001", "sysv")
    assert seg.cpid is not None
    kids = {h.pid for h in seg.holders} - {seg.cpid}
    assert len(kids) == 1
    return seg.cpid, kids.pop()


def test_issue12_sysv_segments_with_resident_and_state(account: ShmAccount) -> None:
    parent, child = _parent_child(account)
    shared = _by_name(account, "0x6d740001", "sysv")
    assert (shared.size, shared.resident, shared.swapped, shared.nattch) == (16 * P, 10 * P, 0, 2)
    assert shared.named and not shared.orphaned and shared.marked_removed is False
    assert [(h.pid, h.how, h.rss) for h in shared.holders] == [(parent, "map", 10 * P), (child, "map", 0)]
    removed = next(o for o in account.objects if o.kind == "sysv" and o.marked_removed)
    assert removed.name is None and not removed.named  # key 0 after IPC_RMID; destroyed at the last detach
    assert (removed.size, removed.resident) == (8 * P, 6 * P)
    assert {h.pid for h in removed.holders} == {parent, child}
    detached = _by_name(account, "0x6d740003", "sysv")
    assert (detached.resident, detached.nattch, detached.holders) == (7 * P, 0, ())
    assert detached.orphaned and detached.named  # only ipcrm frees it


def test_issue12_posix_file_written_and_closed_is_orphaned(account: ShmAccount) -> None:
    f = _by_name(account, "/dev/shm/memtype-fixture-named", "posix")
    assert (f.size, f.resident, f.swapped, f.measured) == (40 * P, 40 * P, 0, "cachestat")
    assert f.named and f.orphaned and f.holders == () and f.mount == "/dev/shm"


def test_issue12_memfd_held_by_the_receiver_fd_only(account: ShmAccount) -> None:
    _, child = _parent_child(account)
    m = _by_name(account, "memfd:fixture-buf", "memfd")
    assert (m.size, m.resident, m.named, m.orphaned) == (32 * P, 20 * P, False, False)
    assert [(h.pid, h.how, h.rss) for h in m.holders] == [(child, "fd", 0)]
    assert m.key == f"inode:{m.dev}:{m.inode}" and m.dev == "00:01"


def test_issue12_shared_anon_inherited_by_fork(account: ShmAccount) -> None:
    parent, child = _parent_child(account)
    s = _by_name(account, None, "shared_anon")
    assert (s.size, s.resident) == (64 * P, 30 * P)
    assert s.key.startswith(f"anon:{parent}:")
    assert [(h.pid, h.how) for h in s.holders] == [(parent, "map"), (child, "map")]
    assert s.mapped_rss == 30 * P  # the writer faulted every page in; the child none
    assert all(h.cgroup for h in s.holders)


def test_issue12_deleted_tmpfs_file_still_held(account: ShmAccount) -> None:
    _, child = _parent_child(account)
    d = _by_name(account, "/dev/shm/memtype-fixture-del", "deleted")
    assert (d.size, d.resident, d.named, d.orphaned) == (50 * P, 50 * P, False, False)
    assert [(h.pid, h.how) for h in d.holders] == [(child, "fd")]


def test_issue12_rows_add_up_to_shmem(account: ShmAccount) -> None:
    assert account.shmem is not None
    assert sum(r.bytes for r in account.rows if r.bytes is not None) == account.shmem
    rows = {r.what: r for r in account.rows}
    assert rows["sysv"].bytes == (10 + 6 + 7) * P and rows["memfd"].bytes == 20 * P
    assert rows["unaccounted"].bytes == account.shmem - account.resident
    assert "hidden tmpfs mounts" in rows  # the capture's /dev/shm 00:17 is under another /dev/shm mount
    assert [o.resident for o in account.objects] == sorted((o.resident or 0 for o in account.objects), reverse=True)


def test_reconcile_puts_unknown_sizes_in_a_row_of_their_own() -> None:
    objs = [ShmObject("a", "memfd", None, False, 10, 4096, 0), ShmObject("b", "memfd", None, False, 10, None, None)]
    rows = reconcile(objs, 10_000, (ShmRow("processes not read", None, None, "x"),))
    assert [(r.what, r.bytes, r.objects) for r in rows] == [
        ("memfd", 4096, 1), ("unknown size", None, 1), ("processes not read", None, None),
        ("unaccounted", 10_000 - 4096, None)]
    assert reconcile(objs, None)[-1].bytes is None  # no meminfo: unknown, never 0


def test_issue12_cli_on_the_capture(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("shm", "--root", str(FIXTURE), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["schema"] == "memtype/2" and doc["summary"]["orphaned"] == 2
    assert sum(x["bytes"] for x in doc["reconciliation"] if x["bytes"] is not None) == doc["shmem"]
    memfd = next(o for o in doc["objects"] if o["kind"] == "memfd")
    assert memfd["holders"][0]["how"] == "fd" and memfd["resident"] == 20 * P
    r = run_cli("shm", "--root", str(FIXTURE), "--orphaned", "--format", "csv")
    lines = r.out.splitlines()
    assert lines[0].startswith("key,kind,name,named,size,resident") and len(lines) == 3
    r = run_cli("shm", "--root", str(FIXTURE), "--format", "csv", "--table", "holders")
    assert r.out.splitlines()[0] == "key,kind,name,pid,how,comm,rss,cgroup,swap" and len(r.out.splitlines()) == 9
    r = run_cli("shm", "--root", str(FIXTURE), "--kind", "sysv,memfd", "--format", "json")
    assert sorted(o["kind"] for o in json.loads(r.out)["objects"]) == ["memfd", "sysv", "sysv", "sysv"]
    r = run_cli("shm", "--root", str(FIXTURE), "--kind", "bogus")
    assert r.code == 2 and "unknown kind 'bogus'" in r.err
    r = run_cli("shm", "--root", str(FIXTURE), "--holders", "--width", "160")
    assert r.code == 0 and "ORPHANED" in r.out and "memfd:fixture-buf" in r.out and "Holders" in r.out
    assert "Shmem" in r.out and "unaccounted" in r.out


def test_issue12_cli_db_and_bad_pid_are_one_line_errors(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("shm", "--db", str(tmp_path / "none.db"))
    assert r.code != 0 and "Traceback" not in r.err and r.err.startswith("memtype: error:")


# ------------------------------------------------------------------ synthetic roots
def _root(tmp: Path, sysv: str, meminfo: str = "Shmem: 100 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
          sidecar: object | None = None) -> Path:
    (tmp / "proc" / "sysvipc").mkdir(parents=True)
    (tmp / "proc" / "meminfo").write_text(meminfo)
    (tmp / "proc" / "sysvipc" / "shm").write_text(sysv)
    if sidecar is not None:
        (tmp / "memtype").mkdir()
        (tmp / "memtype" / "shm.json").write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
    return tmp


def test_parse_sysvipc_dest_lpid_uid_and_a_high_key() -> None:
    segs = parse_sysvipc_shm(SYSV_HEAD + "-1412567278 7 1600 8192 10 11 1 1000 0 0 0 0 0 0 4096 0\n")
    s = segs[0]
    assert (s.dest, s.lpid, s.uid, s.key & 0xFFFFFFFF, s.rss, s.swap) == (True, 11, 1000, 0xABCDEF12, 4096, 0)


def test_issue12_old_kernel_without_rss_columns_is_unknown(tmp_path: Path) -> None:
    old = ("       key      shmid perms       size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime"
           "      ctime\n         5      3   600    8192    10    10      0     0     0     0     0 0 0 0\n")
    with Root(str(_root(tmp_path, old))) as root:
        a = read_shm(root)
    seg = a.by_key()["sysv:3"]
    assert seg.resident is None and seg.swapped is None and not seg.orphaned  # unknown, never 0
    assert [r.what for r in a.rows] == ["unknown size", "unaccounted"]
    assert any("memtype/shm.json" in n for n in a.notes)


@pytest.mark.parametrize("sidecar", [
    "{not json", [], {"schema": 2}, {"schema": 1, "fds": {"x": 1, "12": {"3": ["zz", -1]}}, "objects": {
        "00:1b:5": [1, 2, 3, "4", 5, 6], "bad": [1] * 6, "00:1b:6": [True, 0, 0, 0, 0, 0]},
        "mounts": [["/dev/shm", "00:1b", "tmpfs"], ["/x", 5, "tmpfs", True]], "files": [[1, 2, 3], ["/a", "00:1b", -4]]},
])
def test_capture_sidecar_is_untrusted(tmp_path: Path, sidecar: object) -> None:
    with Root(str(_root(tmp_path, SYSV_HEAD, sidecar=sidecar))) as root:
        a = read_shm(root)
    assert a.objects == () and a.unaccounted == 100 * 1024


def test_capture_sidecar_symlink_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"schema": 1, "files": [["/dev/shm/x", "00:1b", 5]],
                                  "objects": {"00:1b:5": [4096, 4096, 1, 4096, 0, 0]}}))
    root = _root(tmp_path / "r", SYSV_HEAD)
    (root / "memtype").mkdir()
    os.symlink(secret, root / "memtype" / "shm.json")
    with Root(str(root)) as r:
        a = read_shm(r)
        assert a.objects == ()
        assert any("shm.json" in w for w in r.warnings)


def test_issue12_statfs_beyond_the_files_seen_is_a_named_row(tmp_path: Path) -> None:
    """statfs of a walked mount counts 40 KiB, its one file 16 KiB: 24 KiB sit in files not seen."""
    sidecar = {"schema": 1, "shm_dev": "00:01", "fds": {},
               "objects": {"00:1b:5": [4 * P, 4 * P, 1, 4 * P, 0, 0]},
               "mounts": [["/dev/shm", "00:1b", "tmpfs", True, None, 10 * P]],
               "files": [["/dev/shm/seen", "00:1b", 5]]}
    with Root(str(_root(tmp_path, SYSV_HEAD, sidecar=sidecar))) as root:
        a = read_shm(root)
    rows = {r.what: r for r in a.rows}
    assert rows["posix"].bytes == 4 * P and rows["unseen tmpfs files"].bytes == 6 * P  # no swap: all resident
    assert "/dev/shm 24 KiB" in rows["unseen tmpfs files"].why
    assert rows["unaccounted"].bytes == 100 * 1024 - 10 * P
