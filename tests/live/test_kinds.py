"""Kernel truth: memory of one known kind, made by a real child process, read back by memtype.

Each test starts a fresh interpreter (``memhelpers.Child``), has it create 16 MiB (4096 pages) of one
kind of memory in an isolated mapping (PROT_NONE guard pages on both sides, spec A.7), then scans
the child with ``memtype.scan("/", pids=[pid], mappings=True)`` and checks:

* the mapping's bytes per kind, **page-exact** (the mapping is ours alone);
* the process's per-kind totals grew by the same amount, within ``NOISE`` (see below);
* on every process scanned: the kinds add up to the totals (rss, pss, swap, swap_pss).

Rules under test: kernel-spec.md A.4-A.6 (mapping classes and the COW estimate), E.2-E.4 (swap).
Memory is measured right after it is made: this VM runs DAMON proactive reclaim (spec surprise 16),
which can drop idle page cache at any time, so reclaimable mappings are touched again and re-read
when the kernel itself no longer shows them whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

import memhelpers
import memtype
from memhelpers import PAGE, Child, SwapSetupError, TempSwapfile
from memtype import Kind, Mapping, ProcessMemory, Root
from memtype.collect.scan import shmem_devs
from memtype.model.classify import Classifier
from memtype.model.reclaim import reclaim_from_smaps
from memtype.parse.smaps import parse_smaps

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

N = 4096                      # pages per test mapping
SIZE = N * PAGE               # 16 MiB
HALF = SIZE // 2
# Per-process kind totals are compared as deltas against a scan taken just before the memory is made.
# The only other change between the two scans is what the child interpreter itself allocates while
# answering the request (a JSON line, a few small objects): observed 0 bytes here; 256 KiB of slack
# keeps the check meaningful (1/64 of the 16 MiB under test) without depending on allocator luck.
NOISE = 256 * 1024

Spawn = Callable[[], Child]


# ------------------------------------------------------------------ fixtures
# (Here rather than in tests/live/conftest.py: a second module named "conftest" would shadow
# tests/conftest.py for the tests that do ``from conftest import ...``.)
@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Factory of child interpreters; every one is killed and reaped at teardown, pass or fail."""
    children: list[Child] = []

    def make() -> Child:
        child = Child()
        children.append(child)
        return child

    yield make
    errors = []
    for child in reversed(children):
        try:
            child.close()
        except Exception as exc:  # keep closing the others
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture
def disk_dir() -> str:
    d = memhelpers.disk_tmpdir()
    if d is None:
        pytest.skip("no writable directory on a disk filesystem (set MEMTYPE_DISK_DIR)")
    return d


@pytest.fixture
def disk_file(disk_dir: str) -> Iterator[Callable[[int], str]]:
    """Factory of files of N pages on a disk filesystem (not tmpfs), deleted at teardown."""
    with ExitStack() as stack:
        yield lambda npages: stack.enter_context(memhelpers.temp_file(disk_dir, npages))


@pytest.fixture
def swapfile(root: None, disk_dir: str) -> Iterator[TempSwapfile]:
    """A 256 MiB swapfile on a disk filesystem, made but not yet on; swapoff and unlink at teardown,
    pass or fail. The test turns it on (``swap_on``) right before it pages out: with swap on, DAMON
    starts swapping out idle memory of every process, which fills the swapfile and would disturb the
    Rss other tests measure, so swap must be on only for that moment."""
    active = memhelpers.swaps_active()
    if active:
        pytest.skip(f"another swap device is active ({', '.join(active)}): swap numbers would mix")
    with memhelpers.prepared_swapfile(disk_dir, pytest.skip) as swapfile:
        yield swapfile


# ------------------------------------------------------------------ reading memtype's view
def scan(pid: int) -> ProcessMemory:
    """memtype's view of one live process, after checking that its numbers add up and that the
    per-mapping path (``mappings=True``) and the compiled whole-process path (``mappings=False``)
    agree to the byte on the same smaps bytes (two separate reads could differ: other processes
    come and go and change the PSS of shared pages)."""
    proc = _scan_one(pid, mappings=True)
    data = open(f"/proc/{pid}/smaps", "rb").read()
    classifier = Classifier(shmem_devs(Root("/")))
    fast = classifier.summarize(data)
    if fast is not None:
        parsed = parse_smaps(data, accelerated=False)
        totals, kinds, _ = classifier.split(parsed.names, parsed.vmas)
        reclaimable = reclaim_from_smaps(parsed.names, parsed.vmas, classifier, swap_room=True)
        assert fast == (totals, kinds, reclaimable), "compiled split differs from the Python split"
    return proc


def _scan_one(pid: int, mappings: bool) -> ProcessMemory:
    result = memtype.scan("/", pids=[pid], mappings=mappings)
    assert [p.pid for p in result.processes] == [pid], result.skipped
    proc = result.processes[0]
    assert not proc.problems, proc.problems
    check_adds_up(proc)
    return proc


def check_adds_up(proc: ProcessMemory) -> None:
    """Every resident/proportional/swapped byte is in exactly one kind, per process and per mapping."""
    for field in ("rss", "pss", "swap", "swap_pss"):
        kinds = sum(getattr(proc.categories[k], field) for k in Kind)
        assert kinds == getattr(proc.totals, field), (proc.pid, proc.comm, field)
    if proc.mappings is None:
        return
    for m in proc.mappings:
        for field in ("rss", "pss", "swap", "swap_pss"):
            kinds = sum(getattr(m.categories[k], field) for k in Kind)
            assert kinds == getattr(m.totals, field), (proc.pid, hex(m.start), m.path, field)
    for field in ("rss", "pss", "swap", "swap_pss"):
        assert sum(getattr(m.totals, field) for m in proc.mappings) == getattr(proc.totals, field), field


def mapping_at(proc: ProcessMemory, addr: int, size: int = SIZE) -> Mapping:
    assert proc.mappings is not None
    found = [m for m in proc.mappings if m.start == addr]
    assert found, f"pid {proc.pid}: no mapping starts at {addr:#x}"
    m = found[0]
    assert m.end - m.start == size, f"mapping {addr:#x} is {m.end - m.start} bytes, not isolated"
    return m


def rss_by_kind(m: Mapping | ProcessMemory) -> dict[Kind, int]:
    return {k: m.categories[k].rss for k in Kind}


def only(kinds: dict[Kind, int]) -> dict[Kind, int]:
    """The expected split: the given kinds, every other kind 0."""
    return {k: kinds.get(k, 0) for k in Kind}


def check_delta(before: ProcessMemory, after: ProcessMemory, expected: dict[Kind, int]) -> None:
    """The process's per-kind rss changed by ``expected`` (other kinds by ~0), within NOISE."""
    for k in Kind:
        delta = after.categories[k].rss - before.categories[k].rss
        want = expected.get(k, 0)
        assert abs(delta - want) <= NOISE, f"{k.value}: process rss changed by {delta}, expected {want}"


def measure(pid: int, addr: int, rss: int, retouch: Callable[[], object] | None = None,
            tries: int = 3) -> ProcessMemory:
    """Scan ``pid`` once the kernel shows ``rss`` bytes resident in the mapping at ``addr``.

    The raw smaps entry is read *after* memtype's scan: pages only leave an idle mapping (reclaim),
    so when the later read still shows ``rss`` the scan saw them all too. Reclaimable mappings pass
    ``retouch`` to fault their pages back before another try.
    """
    raw: dict[str, object] = {}
    for _ in range(tries):
        if retouch is not None:
            retouch()
        proc = scan(pid)
        raw = memhelpers.smaps_entry(pid, addr)
        if raw["Rss"] == rss // 1024:
            return proc
    pytest.fail(f"the kernel never showed Rss {rss // 1024} kB in the mapping (reclaim?): {raw}")


# ------------------------------------------------------------------ anonymous
def test_private_anon_written(spawn: Spawn) -> None:
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_anon", N)
    c.call("write", a, N)
    proc = measure(c.pid, a, SIZE)
    m = mapping_at(proc, a)
    assert m.mapclass == "anon"
    assert rss_by_kind(m) == only({Kind.ANONYMOUS: SIZE})
    assert m.categories[Kind.ANONYMOUS].pss == SIZE
    assert (m.totals.rss, m.totals.uss, m.totals.swap) == (SIZE, SIZE, 0)
    check_delta(before, proc, {Kind.ANONYMOUS: SIZE})


def test_private_anon_only_read_is_zero_page(spawn: Spawn) -> None:
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_anon", N)
    c.call("read", a, N)  # read faults map the shared zero page: 0 bytes (spec surprise 2)
    proc = measure(c.pid, a, 0)
    m = mapping_at(proc, a)
    assert m.mapclass == "anon"
    assert rss_by_kind(m) == only({})
    assert (m.totals.rss, m.totals.pss, m.totals.size) == (0, 0, SIZE)
    check_delta(before, proc, {})


def test_private_dev_zero_is_anonymous(spawn: Spawn) -> None:
    """MAP_PRIVATE of /dev/zero is anonymous memory, not a device (spec A.4)."""
    c = spawn()
    fd = c.call("open", "/dev/zero", True)
    a = c.call("map_fd", fd, N, False)
    c.call("write", a, N)
    m = mapping_at(measure(c.pid, a, SIZE), a)
    assert m.path == "/dev/zero"
    assert rss_by_kind(m) == only({Kind.ANONYMOUS: SIZE})


# ------------------------------------------------------------------ shared (shmem)
def test_shared_anon(spawn: Spawn) -> None:
    """MAP_SHARED|MAP_ANONYMOUS (what Python's mmap.mmap(-1, n) makes) is shmem: shared."""
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_anon", N, True)
    c.call("write", a, N)
    proc = measure(c.pid, a, SIZE)
    m = mapping_at(proc, a)
    assert m.path == "/dev/zero (deleted)" and m.mapclass == "shmem"
    assert rss_by_kind(m) == only({Kind.SHARED: SIZE})
    assert m.categories[Kind.SHARED].pss == SIZE
    check_delta(before, proc, {Kind.SHARED: SIZE})


def test_memfd_shared_by_two_processes(spawn: Spawn) -> None:
    """Both processes map the same memfd: each shows 16 MiB shared rss and half of it as pss."""
    owner, other = spawn(), spawn()
    before_owner, before_other = scan(owner.pid), scan(other.pid)
    fd = owner.call("memfd", "memtype-live", N)
    a = owner.call("map_fd", fd, N, True)
    owner.call("write", a, N)
    fd2 = other.call("open", f"/proc/{owner.pid}/fd/{fd}", True)
    b = other.call("map_fd", fd2, N, True)
    other.call("read", b, N)
    for c, addr, before in ((owner, a, before_owner), (other, b, before_other)):
        proc = measure(c.pid, addr, SIZE)
        m = mapping_at(proc, addr)
        assert m.path == "/memfd:memtype-live (deleted)" and m.mapclass == "shmem"
        assert rss_by_kind(m) == only({Kind.SHARED: SIZE})
        assert m.categories[Kind.SHARED].pss == HALF
        check_delta(before, proc, {Kind.SHARED: SIZE})
        assert abs(proc.categories[Kind.SHARED].pss - before.categories[Kind.SHARED].pss - HALF) <= NOISE


@pytest.fixture
def sysv_segment() -> Iterator[int]:
    shmid = memhelpers.shm_create(SIZE)
    try:
        yield shmid
    finally:
        memhelpers.shm_remove(shmid)  # IPC_RMID even when the test failed


def test_sysv_shm(spawn: Spawn, sysv_segment: int) -> None:
    c = spawn()
    before = scan(c.pid)
    a = c.call("shm_attach", sysv_segment)
    c.call("write", a, N)
    proc = measure(c.pid, a, SIZE)
    m = mapping_at(proc, a)
    assert m.path.startswith("/SYSV") and m.mapclass == "shmem"
    assert rss_by_kind(m) == only({Kind.SHARED: SIZE})
    check_delta(before, proc, {Kind.SHARED: SIZE})


@pytest.fixture
def dev_shm_file() -> Iterator[str]:
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = f"/dev/shm/memtype-live-{uuid.uuid4().hex[:12]}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, SIZE)
        os.close(fd)
        yield path
    finally:
        os.unlink(path)


def test_dev_shm_file(spawn: Spawn, dev_shm_file: str) -> None:
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_path", dev_shm_file, N, True, True)
    c.call("write", a, N)
    proc = measure(c.pid, a, SIZE)
    m = mapping_at(proc, a)
    assert m.path == dev_shm_file and m.mapclass == "shmem"
    assert rss_by_kind(m) == only({Kind.SHARED: SIZE})
    check_delta(before, proc, {Kind.SHARED: SIZE})


@pytest.fixture
def tmpfs_dir(root: None, disk_dir: str) -> Iterator[str]:
    """A private tmpfs mount outside /dev/shm: only the mount's device tells memtype it is shmem."""
    mnt = tempfile.mkdtemp(prefix="memtype-live-tmpfs-", dir=disk_dir)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "memtype-live", mnt],
                           capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
        try:
            yield mnt
        finally:
            if subprocess.run(["umount", mnt], capture_output=True).returncode:
                subprocess.run(["umount", "-l", mnt], capture_output=True)
    finally:
        os.rmdir(mnt)


def test_tmpfs_file(spawn: Spawn, tmpfs_dir: str) -> None:
    path = os.path.join(tmpfs_dir, "data")
    with open(path, "wb") as f:
        f.truncate(SIZE)
    c = spawn()
    a = c.call("map_path", path, N, True, True)
    c.call("write", a, N)
    m = mapping_at(measure(c.pid, a, SIZE), a)
    assert m.path == path and m.mapclass == "shmem"
    assert rss_by_kind(m) == only({Kind.SHARED: SIZE})


def test_private_view_of_memfd(spawn: Spawn) -> None:
    """MAP_PRIVATE of a memfd: unwritten pages are the shmem object's (shared); written ones are
    this process's own copies (anonymous)."""
    c = spawn()
    fd = c.call("memfd", "memtype-live-view", N)
    shared = c.call("map_fd", fd, N, True)
    c.call("write", shared, N)
    view = c.call("map_fd", fd, N, False)
    c.call("read", view, N)
    m = mapping_at(measure(c.pid, view, SIZE), view)
    assert m.mapclass == "shmem-private"
    assert rss_by_kind(m) == only({Kind.SHARED: SIZE})
    c.call("write", view, N // 2)
    m = mapping_at(measure(c.pid, view, SIZE), view)
    assert rss_by_kind(m) == only({Kind.SHARED: HALF, Kind.ANONYMOUS: HALF})


# ------------------------------------------------------------------ copy-on-write after fork
def test_fork_partial_rewrite(spawn: Spawn) -> None:
    """Parent writes N pages and forks; the child rewrites the first half. Each process then has
    N/2 pages of its own (anonymous) and N/2 still shared with the other (cow, pss halved)."""
    parent = spawn()
    a = parent.call("map_anon", N)
    parent.call("write", a, N)
    kid = parent.fork()
    assert kid.call("pid") == kid.pid
    kid.call("write", a, N // 2, 0, 2)
    for pid in (parent.pid, kid.pid):
        m = mapping_at(measure(pid, a, SIZE), a)
        assert m.mapclass == "anon"
        assert rss_by_kind(m) == only({Kind.ANONYMOUS: HALF, Kind.COW: HALF}), pid
        assert m.categories[Kind.ANONYMOUS].pss == HALF
        assert m.categories[Kind.COW].pss == HALF // 2
        assert m.totals.pss == HALF + HALF // 2
    # Process totals: the whole interpreter heap is fork-shared too, so only lower bounds hold here.
    for pid in (parent.pid, kid.pid):
        proc = scan(pid)
        assert proc.categories[Kind.COW].rss >= HALF and proc.categories[Kind.ANONYMOUS].rss >= HALF


def test_fork_before_rewrite_is_all_cow(spawn: Spawn) -> None:
    parent = spawn()
    a = parent.call("map_anon", N)
    parent.call("write", a, N)
    kid = parent.fork()
    kid.call("read", a, N)
    for pid in (parent.pid, kid.pid):
        m = mapping_at(measure(pid, a, SIZE), a)
        assert rss_by_kind(m) == only({Kind.COW: SIZE}), pid
        assert m.categories[Kind.COW].pss == HALF


# ------------------------------------------------------------------ file-backed
def test_private_readonly_file_map(spawn: Spawn, disk_file: Callable[[int], str]) -> None:
    path = disk_file(N)
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_path", path, N, False, False)
    proc = measure(c.pid, a, SIZE, retouch=lambda: c.call("read", a, N))
    m = mapping_at(proc, a)
    assert m.path == path and m.mapclass == "file-private"
    assert rss_by_kind(m) == only({Kind.FILE: SIZE})
    assert m.categories[Kind.FILE].pss == SIZE
    check_delta(before, proc, {Kind.FILE: SIZE})


def test_private_writable_file_map(spawn: Spawn, disk_file: Callable[[int], str]) -> None:
    """Unwritten page cache under a private writable map is copy-on-write pending (cow); the pages
    written since are the process's own copies (anonymous)."""
    path = disk_file(N)
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_path", path, N, False, True)
    proc = measure(c.pid, a, SIZE, retouch=lambda: c.call("read", a, N))
    m = mapping_at(proc, a)
    assert m.path == path and m.mapclass == "file-cow"
    assert rss_by_kind(m) == only({Kind.COW: SIZE})
    check_delta(before, proc, {Kind.COW: SIZE})

    quarter = N // 4
    c.call("write", a, quarter)
    proc = measure(c.pid, a, SIZE, retouch=lambda: c.call("read", a, N))
    m = mapping_at(proc, a)
    assert rss_by_kind(m) == only({Kind.ANONYMOUS: quarter * PAGE, Kind.COW: (N - quarter) * PAGE})
    assert m.categories[Kind.ANONYMOUS].pss == quarter * PAGE
    check_delta(before, proc, {Kind.ANONYMOUS: quarter * PAGE, Kind.COW: (N - quarter) * PAGE})


def test_shared_file_map(spawn: Spawn, disk_file: Callable[[int], str]) -> None:
    path = disk_file(N)
    c = spawn()
    before = scan(c.pid)
    a = c.call("map_path", path, N, True, True)
    c.call("write", a, N // 2)
    proc = measure(c.pid, a, SIZE, retouch=lambda: c.call("read", a, N))
    m = mapping_at(proc, a)
    assert m.path == path and m.mapclass == "file-shared"
    assert rss_by_kind(m) == only({Kind.FILE: SIZE})
    check_delta(before, proc, {Kind.FILE: SIZE})


# ------------------------------------------------------------------ device
def test_special_mappings_are_device(spawn: Spawn) -> None:
    """[vvar] is VM_PFNMAP: Rss 0, its size in device_mapped; [vdso] pages are device rss."""
    c = spawn()
    proc = scan(c.pid)
    assert proc.mappings is not None
    by_path = {m.path: m for m in proc.mappings}
    if "[vvar]" not in by_path or "[vdso]" not in by_path:
        pytest.skip("no [vvar]/[vdso] mapping on this kernel")
    pfn = [m for m in proc.mappings if m.mapclass == "device-pfn"]
    assert by_path["[vvar]"] in pfn
    for m in pfn:
        assert m.totals.rss == 0 and m.totals.device_mapped == m.end - m.start
    assert proc.totals.device_mapped == sum(m.end - m.start for m in pfn)
    vdso = by_path["[vdso]"]
    assert vdso.mapclass == "device"
    assert vdso.totals.rss > 0 and rss_by_kind(vdso) == only({Kind.DEVICE: vdso.totals.rss})


# ------------------------------------------------------------------ swap
def swap_on(swapfile: TempSwapfile) -> None:
    try:
        swapfile.on()
    except SwapSetupError as exc:
        pytest.skip(f"cannot enable a swapfile here: {exc}")


def page_out(c: Child, pid: int, addr: int, tries: int = 10) -> dict[str, object]:
    """MADV_PAGEOUT (from every CPU, see ``memhelpers.op_pageout``) until the kernel shows the whole
    mapping in swap: pages still in a per-CPU LRU batch cannot be isolated by one pass (spec E.3)."""
    raw: dict[str, object] = {}
    for _ in range(tries):
        c.call("pageout", addr, N)
        raw = memhelpers.smaps_entry(pid, addr)
        if raw["Swap"] == SIZE // 1024 and raw["Rss"] == 0:
            break
    return raw


def test_swap_goes_to_the_kind_it_came_from(swapfile: TempSwapfile, spawn: Spawn) -> None:
    """16 MiB private anon + 16 MiB memfd paged out: anonymous.swap and shared.swap, page-exact on
    the two mappings. (With swap on, DAMON may also swap out idle pages of other mappings, so the
    process totals are only checked to hold at least these.)"""
    c = spawn()
    anon = c.call("map_anon", N)
    c.call("write", anon, N)
    fd = c.call("memfd", "memtype-live-swap", N)
    shm = c.call("map_fd", fd, N, True)
    c.call("write", shm, N)
    swap_on(swapfile)
    raw_anon = page_out(c, c.pid, anon)
    raw_shm = page_out(c, c.pid, shm)
    if raw_anon["Swap"] != SIZE // 1024 or raw_shm["Swap"] != SIZE // 1024:
        pytest.fail(f"MADV_PAGEOUT did not swap everything out (swap full?): anon {raw_anon} memfd {raw_shm}; "
                    f"swaps active: {memhelpers.swaps_active()}")
    proc = scan(c.pid)

    m = mapping_at(proc, anon)
    assert m.totals.rss == 0 and m.totals.swap == SIZE
    assert m.categories[Kind.ANONYMOUS].swap == SIZE
    assert m.categories[Kind.ANONYMOUS].swap_pss == SIZE
    assert {k: m.categories[k].swap for k in Kind} == only({Kind.ANONYMOUS: SIZE})

    s = mapping_at(proc, shm)
    assert s.mapclass == "shmem"
    assert s.totals.rss == 0 and s.totals.swap == SIZE
    assert {k: s.categories[k].swap for k in Kind} == only({Kind.SHARED: SIZE})
    assert s.categories[Kind.SHARED].swap_pss == 0  # the kernel's SwapPss leaves shmem out (spec E.1)

    assert proc.categories[Kind.ANONYMOUS].swap >= SIZE
    assert proc.categories[Kind.SHARED].swap >= SIZE
    assert proc.totals.swap == sum(proc.categories[k].swap for k in Kind)


# Regression: memtype once sent all swap of a MAP_PRIVATE shmem view to shared, although the
# swapped pages were this process's own anonymous copies (found by this test, fixed in classify).
def test_swap_of_written_private_memfd_view(swapfile: TempSwapfile, spawn: Spawn) -> None:
    """A MAP_PRIVATE memfd view whose every page was written holds only anonymous copies
    (Anonymous = Rss, counted as anonymous while resident). Paged out, that swap came from
    anonymous pages, so it belongs to anonymous.swap like the rss did."""
    c = spawn()
    fd = c.call("memfd", "memtype-live-view", N)
    view = c.call("map_fd", fd, N, False)
    c.call("write", view, N)
    m = mapping_at(measure(c.pid, view, SIZE), view)
    assert rss_by_kind(m) == only({Kind.ANONYMOUS: SIZE})
    swap_on(swapfile)
    raw = page_out(c, c.pid, view)
    if raw["Swap"] != SIZE // 1024:
        pytest.fail(f"MADV_PAGEOUT did not swap everything out (swap full?): {raw}; "
                    f"swaps active: {memhelpers.swaps_active()}")
    m = mapping_at(scan(c.pid), view)
    assert m.totals.swap == SIZE
    assert {k: m.categories[k].swap for k in Kind} == only({Kind.ANONYMOUS: SIZE})


# ------------------------------------------------------------------ whole machine
def test_scan_all_processes_adds_up(spawn: Spawn) -> None:
    """Every PID, both reading paths: no error, every process's kinds add up to its totals."""
    c = spawn()  # at least one process we know is there
    for mappings in (True, False):
        result = memtype.scan(mappings=mappings)
        pids = {p.pid for p in result.processes}
        assert c.pid in pids and os.getpid() in pids
        assert not result.warnings, result.warnings[:5]
        for proc in result.processes:
            check_adds_up(proc)
            for k in Kind:
                u = proc.categories[k]
                assert min(u.rss, u.pss, u.swap, u.swap_pss) >= 0, (proc.pid, k)
