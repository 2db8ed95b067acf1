"""Classification on the captured H200 host (shared/fixtures, trimmed copy in tests/fixtures/roots)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import memtype
from memtype import Kind
from memtype.model.classify import Classifier, MapClass, classify_mapping
from memtype.model.reclaim import reclaim_from_smaps
from memtype.parse.smaps import parse_smaps

from conftest import GPU_ROOT, ROOTS, SHARED_SNAPSHOT

MiB = 2**20
WORKLOAD = (421, 450, 451, 452, 453)


@pytest.fixture(scope="module")
def gpu_scan() -> memtype.Scan:
    return memtype.scan(str(GPU_ROOT), mappings=True)


def test_kinds_add_up_for_every_process(gpu_scan: memtype.Scan) -> None:
    assert len(gpu_scan.processes) == 8
    for p in gpu_scan.processes:
        for part in ("rss", "pss", "swap", "swap_pss"):
            assert sum(getattr(u, part) for u in p.categories.values()) == getattr(p.totals, part), (p.pid, part)
        for m in p.mappings or []:
            assert sum(u.rss for u in m.categories.values()) == m.totals.rss
            assert sum(u.pss for u in m.categories.values()) == m.totals.pss


@pytest.mark.parametrize("path", sorted(GPU_ROOT.glob("proc/*/smaps")), ids=lambda p: p.parent.name)
def test_compiled_split_equals_python_split(path: Path) -> None:
    data = path.read_bytes()
    classifier = Classifier()
    if not data:
        pytest.skip("empty smaps (kernel thread)")
    if classifier.summarize(data) is None:
        pytest.skip("compiled reader not built")
    parsed = parse_smaps(data, accelerated=False)
    totals, kinds, _ = classifier.split(parsed.names, parsed.vmas)
    reclaimable = reclaim_from_smaps(parsed.names, parsed.vmas, classifier, swap_room=True)
    assert classifier.summarize(data) == (totals, kinds, reclaimable)


def test_parallel_scan_equals_serial_scan() -> None:
    serial = memtype.scan(str(GPU_ROOT), jobs=1)
    parallel = memtype.scan(str(GPU_ROOT), jobs=3)
    assert [(p.pid, p.totals, p.categories) for p in serial.processes] == \
        [(p.pid, p.totals, p.categories) for p in parallel.processes]
    assert [(s.pid, s.reason) for s in serial.skipped] == [(s.pid, s.reason) for s in parallel.skipped]


def test_unreadable_and_kernel_threads_are_counted_not_dropped(gpu_scan: memtype.Scan) -> None:
    assert [(s.pid, s.reason) for s in gpu_scan.skipped] == [(1, "not captured"), (2, "kernel")]
    assert gpu_scan.kernel_threads == 1 and gpu_scan.skip_counts() == {"not captured": 1}


@pytest.mark.parametrize("pid", WORKLOAD)
def test_nvidia_driver_pages_are_device(gpu_scan: memtype.Scan, pid: int) -> None:
    p = next(p for p in gpu_scan.processes if p.pid == pid)
    driver = [m for m in p.mappings or [] if m.path in ("/dev/nvidiactl", "/dev/nvidia-uvm")]
    assert driver and all(m.mapclass == MapClass.DEVICE.value for m in driver)
    resident = sum(m.totals.rss for m in driver)
    assert 68 * MiB < resident < 73 * MiB  # the spec's 71 676 kB in 26 VMAs for the parent
    assert p.categories[Kind.DEVICE].rss >= resident
    bars = [m for m in p.mappings or [] if m.path.startswith("/dev/nvidia") and m.path[11:].isdigit()]
    assert all(m.mapclass == MapClass.DEVICE_PFN.value and m.totals.rss == 0 for m in bars)
    assert p.totals.device_mapped >= sum(m.end - m.start for m in bars)


@pytest.mark.parametrize("pid", WORKLOAD)
def test_inherited_dataset_is_copy_on_write(gpu_scan: memtype.Scan, pid: int) -> None:
    p = next(p for p in gpu_scan.processes if p.pid == pid)
    assert 1150 * MiB < p.categories[Kind.COW].rss < 1300 * MiB


@pytest.mark.parametrize("pid", ["421", "450"])
def test_mapping_level_matches_page_level_truth(gpu_scan: memtype.Scan, pid: str) -> None:
    """The smaps estimate (A.6) against the capture's pagemap+kpageflags truth (B.3)."""
    truth = json.loads((ROOTS / "gpu-dataloader-truth.json").read_text())[pid]
    page = 4096
    p = next(p for p in gpu_scan.processes if p.pid == int(pid))
    c = p.categories
    assert c[Kind.ANONYMOUS].rss == pytest.approx(truth["anonymous"] * page, rel=0.02, abs=MiB)
    assert c[Kind.SHARED].rss == pytest.approx(truth["shared"] * page, rel=0.02, abs=MiB)
    assert c[Kind.DEVICE].rss == pytest.approx(truth["device"] * page, rel=0.02)
    # cow at page level counts only anon pages; the mapping level adds unwritten private-file pages
    anon_cow = c[Kind.COW].rss
    assert truth["cow"] * page <= anon_cow <= (truth["cow"] + truth["file_or_pending"]) * page
    assert c[Kind.FILE].rss + c[Kind.COW].rss == pytest.approx(
        (truth["file_or_pending"] + truth["cow"]) * page, rel=0.02)


@pytest.mark.parametrize(("path", "perms", "flags", "expected"), [
    ("", "rw-p", "rd wr mr mw me ac", MapClass.ANON),
    ("[heap]", "rw-p", "rd wr mr mw me ac", MapClass.ANON),
    ("/dev/zero", "rw-p", "rd wr mr mw me ac", MapClass.ANON),
    ("/dev/zero (deleted)", "rw-s", "rd wr sh mr mw me ms", MapClass.SHMEM),
    ("/memfd:x (deleted)", "rw-s", "rd wr sh mr mw me ms", MapClass.SHMEM),
    ("/memfd:x (deleted)", "r--p", "rd mr mw me", MapClass.SHMEM_PRIVATE),
    ("/SYSV0000abcd (deleted)", "rw-s", "rd wr sh mr mw me ms", MapClass.SHMEM),
    ("/dev/shm/x", "rw-s", "rd wr sh mr mw me ms", MapClass.SHMEM),
    ("/data/f", "r--s", "rd mr me ms", MapClass.FILE_SHARED),
    ("/data/f", "r--p", "rd mr mw me", MapClass.FILE_PRIVATE),
    ("/data/f", "rw-p", "rd wr mr mw me ac", MapClass.FILE_COW_PENDING),
    ("[vvar]", "r--p", "rd mr pf io de dd", MapClass.DEVICE_PFN),
    ("[vdso]", "r-xp", "rd ex mr mw me de", MapClass.DEVICE),
    ("anon_inode:[io_uring]", "rw-s", "rd wr sh mr mw me ms de mm", MapClass.DEVICE),
    ("/dev/nvidiactl", "rw-s", "rd wr sh mr mw me ms de dd mm", MapClass.DEVICE),
    ("/dev/nvidia0", "rw-s", "rd wr sh mr mw me ms pf io de dd", MapClass.DEVICE_PFN),
    ("/anon_hugepage (deleted)", "rw-p", "rd wr mr mw me de ht", MapClass.ANON_HUGETLB),
    ("/anon_hugepage (deleted)", "rw-s", "rd wr sh mr mw me ms de ht", MapClass.SHMEM_HUGETLB),
    ("/tmpfs/file", "rw-s", "rd wr sh mr mw me ms", MapClass.SHMEM),  # dev 00:2a is a tmpfs below
    ("/old/kernel", "rw-s", "", MapClass.FILE_SHARED),  # no VmFlags (before 3.8): perms decide
])
def test_mapping_classes(path: str, perms: str, flags: str, expected: MapClass) -> None:
    dev = "00:2a" if path.startswith("/tmpfs") else "fe:00"
    assert classify_mapping(path, perms, flags, dev, frozenset({"00:2a"})) is expected


@pytest.mark.skipif(not SHARED_SNAPSHOT.exists(), reason="shared/fixtures is not beside the checkout")
def test_shared_tarball_works_as_root() -> None:
    with memtype.Root(str(SHARED_SNAPSHOT)) as root:
        s = memtype.scan(root)
        assert {p.pid for p in s.processes} >= set(WORKLOAD)
        assert memtype.machine_memory(root).total > 100 * 2**30
