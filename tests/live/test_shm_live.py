"""`memtype shm` on real shared memory (root): every object kind made in real processes, its size,
resident bytes and holders asserted against what was made, and the reconciliation with meminfo Shmem.

Kernel facts relied on (kernel-spec.md A.5, E.2; observed on 6.18): SysV mappings are named
``/SYSV<key hex> (deleted)`` with inode = shmid, IPC_RMID while attached sets SHM_DEST (perms 1600)
and key 0; a MAP_SHARED|MAP_ANONYMOUS region is the shmem file ``/dev/zero (deleted)`` kept across
fork; a memfd passed over SCM_RIGHTS is held by the receiver's fd alone once the sender closes it.
Every segment, file and child is removed in ``finally`` blocks, pass or fail.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import sys
from collections.abc import Iterator

import pytest

from memhelpers import IPC_CREAT, PAGE, Child, shm_remove
from memtype import Root
from memtype.cli.main import main
from memtype.collect.shm import read_shm
from memtype.model.shm import ShmAccount, ShmObject

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("reading every process's maps, fds and map_files needs root", allow_module_level=True)

N = 64  # pages touched per object: 256 KiB, far above the pages a child interpreter might touch
IPC_EXCL = 0o2000  # include/uapi/linux/ipc.h
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    try:
        yield made
    finally:
        for c in made:
            c.close()


@pytest.fixture
def cleanup() -> Iterator[list[object]]:
    """Segments (int shmid) and /dev/shm paths (str) to remove whatever happens."""
    todo: list[object] = []
    try:
        yield todo
    finally:
        for x in todo:
            if isinstance(x, int):
                shm_remove(x)
            elif isinstance(x, str):
                try:
                    os.unlink(x)
                except FileNotFoundError:
                    pass


def _keyed_segment(npages: int) -> tuple[int, int]:
    """A SysV segment with a random key: (key, shmid)."""
    for _ in range(10):
        key = secrets.randbits(31) | 1
        shmid = _libc.shmget(key, npages * PAGE, IPC_CREAT | IPC_EXCL | 0o600)
        if shmid >= 0:
            return key, int(shmid)
    raise OSError(ctypes.get_errno(), "shmget")


def _account(rss: bool = False) -> ShmAccount:
    with Root("/") as root:
        return read_shm(root, rss=rss)


def _object(account: ShmAccount, key: str) -> ShmObject:
    found = account.by_key().get(key)
    assert found is not None, f"{key} not among {[o.key for o in account.objects][:20]}"
    return found


def test_issue12_sysv_detached_is_orphaned_but_named(children: list[Child], cleanup: list[object]) -> None:
    key, shmid = _keyed_segment(2 * N)
    cleanup.append(shmid)
    c = Child()
    children.append(c)
    addr = c.call("shm_attach", shmid)
    c.call("write", addr, N)
    c.call("shm_detach", addr)
    obj = _object(_account(), f"sysv:{shmid}")
    assert (obj.kind, obj.name, obj.named, obj.marked_removed) == ("sysv", f"0x{key:08x}", True, False)
    assert obj.size == 2 * N * PAGE
    assert obj.resident == N * PAGE  # /proc/sysvipc/shm rss: exactly the pages written
    assert obj.swapped == 0
    assert obj.holders == () and obj.nattch == 0 and obj.orphaned
    assert obj.cpid == os.getpid() and obj.lpid == c.pid and obj.uid == 0


def test_issue12_sysv_removed_while_attached(children: list[Child], cleanup: list[object]) -> None:
    key, shmid = _keyed_segment(N)
    cleanup.append(shmid)
    c = Child()
    children.append(c)
    addr = c.call("shm_attach", shmid)
    c.call("write", addr, N // 2)
    c.call("shm_rmid", shmid)
    obj = _object(_account(), f"sysv:{shmid}")
    assert obj.marked_removed is True and obj.named is False
    assert obj.name is None  # the table shows key 0 after IPC_RMID (the maps name keeps the old key)
    assert obj.resident == N // 2 * PAGE
    assert [(h.pid, h.how) for h in obj.holders] == [(c.pid, "map")]
    assert obj.nattch == 1 and obj.attached_unseen == 0 and not obj.orphaned
    assert obj.holders[0].cgroup is not None


def test_issue12_dev_shm_file_written_and_closed(cleanup: list[object]) -> None:
    path = f"/dev/shm/memtype-live-{secrets.token_hex(4)}"
    cleanup.append(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"\1" * (N * PAGE + 100))
    finally:
        os.close(fd)
    st = os.stat(path)
    obj = _object(_account(), f"inode:{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    assert (obj.kind, obj.name, obj.named, obj.mount) == ("posix", path, True, "/dev/shm")
    assert obj.size == N * PAGE + 100
    assert obj.resident == (N + 1) * PAGE  # the partial last page is a page
    assert obj.holders == () and obj.orphaned


def test_issue12_memfd_passed_over_a_socket(children: list[Child]) -> None:
    creator, receiver = Child(), Child()
    children.extend([creator, receiver])
    name = f"memtype-live-{secrets.token_hex(4)}"
    fd = creator.call("memfd", name, 2 * N)
    creator.call("write_fd", fd, N)
    receiver.call("listen", name)
    creator.call("send_fd", name, fd)
    got = receiver.call("accept_fd", name)
    ino = os.stat(f"/proc/{receiver.pid}/fd/{got}").st_ino
    creator.call("close", fd)
    account = _account()
    obj = next(o for o in account.objects if o.kind == "memfd" and o.inode == ino)
    assert obj.name == f"memfd:{name}" and obj.named is False
    assert obj.size == 2 * N * PAGE and obj.resident == N * PAGE and obj.measured == "cachestat"
    assert [(h.pid, h.how) for h in obj.holders] == [(receiver.pid, "fd")]  # the creator closed its fd


def test_issue12_shared_anon_inherited_by_fork(children: list[Child]) -> None:
    parent = Child()
    children.append(parent)
    addr = parent.call("map_anon", 2 * N, True)
    parent.call("write", addr, N)
    kid = parent.fork()
    parent.kids.append(kid.pid)
    account = _account()
    obj = _object(account, f"anon:{parent.pid}:{addr:x}")
    assert obj.kind == "shared_anon" and obj.named is False and obj.name is None
    assert obj.size == 2 * N * PAGE and obj.resident == N * PAGE
    assert sorted((h.pid, h.how) for h in obj.holders) == [(parent.pid, "map"), (kid.pid, "map")]


def test_issue12_deleted_tmpfs_file_still_held(children: list[Child], cleanup: list[object]) -> None:
    path = f"/dev/shm/memtype-live-{secrets.token_hex(4)}"
    cleanup.append(path)
    c = Child()
    children.append(c)
    fd = c.call("create_file", path, N)
    ino = os.stat(path).st_ino
    c.call("unlink", path)
    account = _account()
    obj = next(o for o in account.objects if o.inode == ino and o.mount == "/dev/shm")
    assert obj.kind == "deleted" and obj.named is False and obj.name == path
    assert obj.resident == N * PAGE
    assert [(h.pid, h.how) for h in obj.holders] == [(c.pid, "fd")]
    assert fd >= 0


def test_issue12_reconciles_with_meminfo_shmem(children: list[Child], cleanup: list[object]) -> None:
    """Σ rows == Shmem by construction; the kernel check is that the objects explain what we add:
    with 32 MiB of objects made, Shmem grows by them and unaccounted stays where it was."""
    big = 4096  # 16 MiB each
    before = _account()
    c = Child()
    children.append(c)
    addr = c.call("map_anon", big, True)
    c.call("write", addr, big)
    _, shmid = _keyed_segment(big)
    cleanup.append(shmid)
    seg = c.call("shm_attach", shmid)
    c.call("write", seg, big)
    drift = []
    for _ in range(3):  # other helpers make and free shmem meanwhile: a quiet moment is enough
        after = _account()
        for a in (before, after):
            assert a.shmem is not None and a.unaccounted is not None
            assert sum(r.bytes for r in a.rows if r.bytes is not None) == a.shmem
        ours = [o for o in after.objects if o.key in (f"sysv:{shmid}", f"anon:{c.pid}:{addr:x}")]
        assert sum(o.resident or 0 for o in ours) == 2 * big * PAGE
        drift.append(abs((after.unaccounted or 0) - (before.unaccounted or 0)))
        if drift[-1] < 4 * 1024 * 1024:  # 4 MiB: an eighth of what we made, above this machine's churn
            break
        before = after
    assert min(drift) < 4 * 1024 * 1024, drift


def test_issue12_cli_json_and_table(children: list[Child], cleanup: list[object],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    key, shmid = _keyed_segment(N)
    cleanup.append(shmid)
    c = Child()
    children.append(c)
    addr = c.call("shm_attach", shmid)
    c.call("write", addr, N)
    assert main(["shm", "--format", "json", "--kind", "sysv", "--top", "100000"]) == 0  # others' objects too
    doc = json.loads(capsys.readouterr().out)
    objs = {o["key"]: o for o in doc["objects"]}
    o = objs[f"sysv:{shmid}"]
    assert o["resident"] == N * PAGE and o["holders"][0]["pid"] == c.pid
    assert sum(r["bytes"] for r in doc["reconciliation"] if r["bytes"] is not None) == doc["shmem"]
    assert main(["shm", "--holders", "--pid", str(c.pid)]) == 0
    out = capsys.readouterr().out
    assert f"0x{key:08x}" in out and str(c.pid) in out


def test_issue12_swapped_shmem_is_counted_per_object(children: list[Child], cleanup: list[object]) -> None:
    """A memfd and a SysV segment paged out with a temporary swapfile on: the memfd's swapped bytes come
    from cachestat (nr_evicted counts shmem pages in swap), the segment's from /proc/sysvipc/shm; each is
    counted once although two processes map it (smaps Swap shows it in both)."""
    import memhelpers

    directory = memhelpers.disk_tmpdir()
    if directory is None:
        pytest.skip("no writable directory on a disk filesystem for a swapfile (set MEMTYPE_DISK_DIR)")
    with memhelpers.prepared_swapfile(directory, pytest.skip) as swap:
        c = Child()
        children.append(c)
        fd = c.call("memfd", "memtype-live-swap", N)
        m = c.call("map_fd", fd, N, True)
        c.call("write", m, N)
        _, shmid = _keyed_segment(N)
        cleanup.append(shmid)
        seg = c.call("shm_attach", shmid)
        c.call("write", seg, N)
        try:
            swap.on()
        except memhelpers.SwapSetupError as exc:
            pytest.skip(f"cannot enable a swapfile here: {exc}")
        for addr in (m, seg):
            for _ in range(10):  # MADV_PAGEOUT from every CPU until all of it is in swap (test_swap_live)
                c.call("pageout", addr, N)
                if memhelpers.smaps_entry(c.pid, addr)["Swap"] == N * PAGE // 1024:
                    break
        kid = c.fork()
        c.kids.append(kid.pid)
        account = _account(rss=True)
    memfd = next(o for o in account.objects if o.name == "memfd:memtype-live-swap")
    assert (memfd.swapped, memfd.resident, memfd.measured) == (N * PAGE, 0, "cachestat")
    assert sorted(h.pid for h in memfd.holders if h.how == "map") == sorted([c.pid, kid.pid])
    assert all(h.swap == N * PAGE for h in memfd.holders if h.how == "map")  # each mapper's smaps shows it all
    sysv = _object(account, f"sysv:{shmid}")
    assert (sysv.swapped, sysv.resident) == (N * PAGE, 0)


def test_issue12_snapshot_keeps_what_shm_root_needs(children: list[Child], cleanup: list[object],
                                                    tmp_path: object) -> None:
    """``memtype snapshot`` then ``shm --root``: the same objects, holders and sizes as live; fd links are
    stored as text files (never links), the sidecar as a plain 0600 file."""
    import stat as st_
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = f"/dev/shm/memtype-live-{secrets.token_hex(4)}"
    cleanup.append(path)
    c = Child()
    children.append(c)
    fd = c.call("memfd", "memtype-live-snap", N)
    c.call("write_fd", fd, N // 2)
    held = c.call("create_file", path, N)
    addr = c.call("map_anon", N, True)
    c.call("write", addr, N // 4)
    live = _account()
    out = tmp_path / "cap"
    assert main(["snapshot", str(out), "--pid", str(c.pid)]) == 0
    with Root(str(out)) as root:
        captured = read_shm(root)
    assert held >= 0
    for key in [o.key for o in live.objects if c.pid in o.pids]:
        a, b = live.by_key()[key], captured.by_key()[key]
        assert (a.kind, a.name, a.size, a.resident, a.named) == (b.kind, b.name, b.size, b.resident, b.named), key
        assert [(h.pid, h.how) for h in a.holders] == [(h.pid, h.how) for h in b.holders], key
    assert {o.name for o in captured.objects if c.pid in o.pids} >= {"memfd:memtype-live-snap", path}
    links = list((out / "proc" / str(c.pid) / "fd").iterdir())
    assert links and all(st_.S_ISREG(p.lstat().st_mode) for p in links)
    side = (out / "memtype" / "shm.json").lstat()
    assert st_.S_ISREG(side.st_mode) and st_.S_IMODE(side.st_mode) == 0o600


def test_issue12_tmpfs_of_another_mount_namespace(tmp_path: object) -> None:
    """A container's tmpfs (a mount namespace of its own, as docker's /dev/shm): walked through
    /proc/PID/root, named with its namespace, its file's pages counted (not left in unaccounted)."""
    import shutil
    import subprocess
    import time
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) (util-linux) is not installed")
    where = tmp_path / "ns-tmpfs"
    where.mkdir()
    script = (f"mount -t tmpfs memtype-live {where} && head -c {N * PAGE} /dev/zero > {where}/blob "
              "&& echo ready && exec sleep 120")
    proc = subprocess.Popen([unshare, "--mount", "--propagation", "private", "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            proc.kill()
            pytest.skip(f"cannot mount a tmpfs in a new mount namespace here: {proc.stderr.read()[-300:]!r}")
        time.sleep(0.1)
        obj = next((o for o in _account().objects if o.name == f"{where}/blob"), None)
        assert obj is not None
        assert (obj.kind, obj.named, obj.size, obj.resident) == ("tmpfs", True, N * PAGE, N * PAGE)
        assert obj.mount == f"{where} (mount namespace of PID {proc.pid})" and obj.orphaned
    finally:
        proc.kill()
        proc.wait()
