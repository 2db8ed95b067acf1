"""Reclaim classes, swap and the what-if model, hermetic: verbatim-shaped smaps/meminfo/memory.stat text,
the captured GPU host, and a small synthetic root (a machine with a swapfile, a memfd in swap shared by
two processes, a cgroup v2 tree) for `memtype swap` and `memtype pressure`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import memtype
from memtype.collect.pressure import cgroup_files, pressure, read_cgroup
from memtype.collect.swapinfo import swap_info, swap_room
from memtype.errors import PressureError
from memtype.model.classify import Classifier
from memtype.model.pressure import LruSizes, lru_from_memory_stat, lru_from_meminfo, predict, share
from memtype.model.reclaim import (CLASSES, fit, reclaim_from_meminfo, reclaim_from_memory_stat, reclaim_from_smaps,
                                   refine_with_pages)
from memtype.model.vmscan import Vmscan, inactive_is_low
from memtype.parse.procfiles import parse_meminfo
from memtype.parse.smaps import parse_smaps
from memtype.parse.swapfiles import parse_swaps, parse_sysvipc_shm, parse_zram_mm_stat
from memtype.parse.zoneinfo import high_watermark_pages, parse_zoneinfo
from memtype.source.root import Root

from conftest import GPU_ROOT, Result
from test_cli import check_golden

Run = Callable[..., Result]
KiB, MiB = 1024, 1 << 20
FIELDS = ("Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty",
          "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
          "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked")


def vma(start: int, perms: str, path: str = "", flags: str = "rd wr mr mw me ac", dev: str = "00:00", inode: int = 0,
        **kb: int) -> str:
    """One smaps entry as the kernel prints it (fields in kB; Size defaults to Rss + Swap, at least 4)."""
    size = kb.get("Size", max(4, kb.get("Rss", 0) + kb.get("Swap", 0)))
    out = [f"{start:x}-{start + size * 1024:x} {perms} 00000000 {dev} {inode:<26d} {path}".rstrip()]
    for name in FIELDS:
        value = size if name == "Size" else 4 if name.endswith("PageSize") else kb.get(name, 0)
        out.append(f"{name + ':':<16}{value:>8} kB")
    out.append(f"VmFlags: {flags} ")
    return "\n".join(out) + "\n"


def classes(text: str, room: bool = True) -> dict[str, int]:
    parsed = parse_smaps(text.encode())
    return reclaim_from_smaps(parsed.names, parsed.vmas, Classifier(), room)


# ------------------------------------------------------------------ per process (spec C.4)
def test_each_mapping_kind_lands_in_its_class() -> None:
    text = "".join([
        vma(0x10000000, "rw-p", Rss=1024, Private_Dirty=1024, Anonymous=1024),                         # anon: swap
        vma(0x20000000, "rw-p", Rss=512, Private_Dirty=512, Anonymous=512, LazyFree=256),              # lazyfree
        vma(0x30000000, "rw-s", "/memfd:x (deleted)", "rd wr sh mr mw me ms", "00:01", 7, Rss=2048,
            Private_Dirty=2048),                                                                        # shmem: swap
        vma(0x40000000, "rw-s", "/data/db", "rd wr sh mr mw me ms", "fe:00", 9, Rss=4096, Shared_Dirty=1024,
            Shared_Clean=3072),                                                                         # 1 MiB dirty
        vma(0x50000000, "rw-p", "/usr/lib/libc.so", "rd wr mr mw me ac", "fe:00", 10, Rss=64, Private_Dirty=48,
            Private_Clean=16, Anonymous=48),                                                            # COW copies
        vma(0x60000000, "r--p", "/usr/lib/libc.so", "rd mr mw me", "fe:00", 10, Rss=800, Shared_Clean=800),
        vma(0x70000000, "rw-p", flags="rd wr mr mw me lo ac", Rss=128, Private_Dirty=128, Anonymous=128,
            Locked=128),                                                                                # mlocked
        vma(0x7ff00000, "r-xp", "[vdso]", "rd ex mr mw me de", Rss=8, Shared_Clean=8),                # device
        vma(0x7ff10000, "rw-s", "/anon_hugepage (deleted)", "rd wr sh mr mw me ms ht", "00:0f", 11,
            Shared_Hugetlb=2048, Size=2048),                                                            # hugetlb
    ])
    got = classes(text)
    assert got == {"drop": (256 + 3072 + 16 + 800) * KiB, "writeback": 1024 * KiB,
                   "swap": (1024 + 256 + 2048 + 48) * KiB, "never": (128 + 8 + 2048) * KiB}
    rss = 1024 + 512 + 2048 + 4096 + 64 + 800 + 128 + 8
    assert sum(got.values()) == (rss + 2048) * KiB  # rss + hugetlb
    no_swap = classes(text, room=False)
    assert no_swap["swap"] == 0 and no_swap["never"] == got["never"] + got["swap"]
    assert no_swap["drop"] == got["drop"] and no_swap["writeback"] == got["writeback"]


def test_private_file_dirty_page_cache_is_writeback_not_its_cow_copies() -> None:
    """Spec surprise 4: Private_Dirty of a never-written private file map is dirty page cache; the COW
    copies (Anonymous) are dirty as well, so only Private_Dirty + Shared_Dirty - Anonymous is page cache."""
    unwritten = vma(0x1000000, "r--p", "/f", "rd mr mw me", "fe:00", 5, Rss=1024, Private_Dirty=1024)
    written = vma(0x2000000, "rw-p", "/g", "rd wr mr mw me ac", "fe:00", 6, Rss=1024, Private_Dirty=1024,
                  Anonymous=768)
    assert classes(unwritten) == {"drop": 0, "writeback": MiB, "swap": 0, "never": 0}
    assert classes(written) == {"drop": 0, "writeback": 256 * KiB, "swap": 768 * KiB, "never": 0}


def test_fit_keeps_the_sum_and_the_proportions() -> None:
    r = {"drop": 6 * MiB, "writeback": 0, "swap": 2 * MiB, "never": 0}
    assert fit(r, 8 * MiB, 4096) == r
    scaled = fit(r, 4 * MiB, 4096)
    assert sum(scaled.values()) == 4 * MiB and scaled["drop"] == 3 * MiB
    assert fit({k: 0 for k in CLASSES}, 4096, 4096) == {"drop": 0, "writeback": 0, "swap": 0, "never": 4096}


def test_page_flags_replace_the_dirty_estimate() -> None:
    r = {"drop": 8 * MiB, "writeback": 2 * MiB, "swap": MiB, "never": 0}
    exact = refine_with_pages(r, {"dirty": 3 * MiB, "writeback": MiB})
    assert exact == {"drop": 6 * MiB, "writeback": 4 * MiB, "swap": MiB, "never": 0}
    assert refine_with_pages(r, {"dirty": None}) == r


def test_every_process_of_the_gpu_capture_adds_up() -> None:
    with Root(str(GPU_ROOT)) as root:
        result = memtype.scan(root)
        result = memtype.model.reclaim.annotate(result, swap_room(root))
    assert result.processes
    for p in result.processes:
        assert p.reclaim is not None
        assert sum(p.reclaim.values()) == p.totals.rss + p.totals.hugetlb, p.pid
        assert p.reclaim["swap"] == 0  # the capture has no swap: anon and shmem are never
        assert p.reclaim["never"] >= p.categories[memtype.Kind.DEVICE].rss  # CUDA driver pages


def test_ps_json_carries_reclaim(run_cli: Run) -> None:
    r = run_cli("ps", "--root", str(GPU_ROOT), "--format", "json", "--pid", "421")
    assert r.code == 0, r.err
    p = json.loads(r.out)["processes"][0]
    assert set(p["reclaim"]) == set(CLASSES) and sum(p["reclaim"].values()) == p["rss"] + p["hugetlb"]


# ------------------------------------------------------------------ per cgroup and machine
V1_STAT = """cache 8388608
rss 4382720
shmem 4194304
mapped_file 6291456
dirty 4194304
writeback 0
swap 0
inactive_anon 8556544
active_anon 0
inactive_file 4194304
active_file 0
unevictable 0
total_cache 8388608
total_rss 4382720
total_shmem 4194304
total_dirty 4194304
total_writeback 0
total_inactive_anon 8556544
total_active_anon 0
total_inactive_file 4194304
total_active_file 0
total_unevictable 0
"""  # spec D.1: 4 MiB anon + 4 MiB memfd + 4 MiB dirty file, in bytes as memory.stat prints them

V2_STAT = """anon 1421627392
file 1000157184
shmem 10829824
file_dirty 9629696
file_writeback 0
inactive_anon 1431638016
active_anon 86016
inactive_file 974991360
active_file 14278656
unevictable 0
"""  # the GPU host's pod cgroup (shared/fixtures), trimmed


def _stat(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


def test_memory_stat_v1_spec_d1() -> None:
    r = reclaim_from_memory_stat(_stat(V1_STAT), 1, swap_room=True)
    assert r == {"drop": 0, "writeback": 4 * MiB, "swap": 8556544, "never": 0}
    assert reclaim_from_memory_stat(_stat(V1_STAT), 1, swap_room=False)["never"] == 8556544


def test_memory_stat_v2_adds_up_to_the_lru() -> None:
    s = _stat(V2_STAT)
    r = reclaim_from_memory_stat(s, 2, swap_room=False)
    lru = s["inactive_anon"] + s["active_anon"] + s["inactive_file"] + s["active_file"] + s["unevictable"]
    assert sum(r.values()) == lru
    assert r["writeback"] == s["file_dirty"] and r["swap"] == 0
    with pytest.raises(ValueError):
        reclaim_from_memory_stat({"anon": 1}, 2, swap_room=True)


def test_machine_from_meminfo_adds_up_to_lru_plus_hugetlb() -> None:
    mi = parse_meminfo((GPU_ROOT / "proc/meminfo").read_text())
    r = reclaim_from_meminfo(mi, swap_room=False)
    lru = sum(mi[k] for k in ("Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable"))
    assert sum(r.values()) == lru + mi.get("Hugetlb", 0)
    assert r["swap"] == 0


def test_system_json_has_the_machine_reclaim(run_cli: Run) -> None:
    r = run_cli("system", "--root", str(GPU_ROOT), "--format", "json", "--no-processes")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert set(doc["reclaim"]) == set(CLASSES)
    mi = parse_meminfo((GPU_ROOT / "proc/meminfo").read_text())
    assert doc["reclaim"] == reclaim_from_meminfo(mi, swap_room=False)


# ------------------------------------------------------------------ parsers
def test_parse_swaps_escaped_names_and_sizes() -> None:
    text = ("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
            "/var/tmp/my\\040swap.img                 file\t\t262140\t\t16384\t\t-2\n"
            "/dev/zram0                              partition\t1048572\t\t0\t\t100\n")
    a, b = parse_swaps(text)
    assert (a.path, a.type, a.size, a.used, a.priority) == ("/var/tmp/my swap.img", "file", 262140 * KiB,
                                                            16384 * KiB, -2)
    assert b.free == 1048572 * KiB
    assert parse_swaps("Filename Type Size Used Priority\n") == []
    with pytest.raises(ValueError):
        parse_swaps("head\n/x file 1\n")


def test_parse_sysvipc_shm_and_zram_and_zoneinfo() -> None:
    head = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime"
            "      dtime      ctime                   rss                  swap\n")
    row = "         0          5  2600              16777216   100   100      1     0     0     0     0 1 2 3 " \
          "              8388608               8388608\n"
    seg, = parse_sysvipc_shm(head + row)
    assert (seg.shmid, seg.size, seg.rss, seg.swap, seg.locked) == (5, 16 * MiB, 8 * MiB, 8 * MiB, True)
    assert parse_zram_mm_stat("16777216 327680 393216 0 393216 10 0 0 0") == {
        "stored": 16 * MiB, "compressed": 327680, "pool": 393216}
    zoneinfo = "Node 0, zone   Normal\n  pages free     426823\n        min      7517\n        high     11275\n" \
               "Node 0, zone  Movable\n  pages free 0\n        high     32\n"
    assert high_watermark_pages(parse_zoneinfo(zoneinfo)) == 11307


# ------------------------------------------------------------------ a synthetic machine with swap
def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


MEMINFO = """MemTotal:        8388608 kB
MemFree:         1048576 kB
MemAvailable:    3145728 kB
Buffers:           65536 kB
Cached:          2097152 kB
SwapCached:         4096 kB
Active:          2097152 kB
Inactive:        2097152 kB
Active(anon):     524288 kB
Inactive(anon):  1048576 kB
Active(file):    1048576 kB
Inactive(file):  1048576 kB
Unevictable:       16384 kB
Mlocked:           16384 kB
SwapTotal:        262144 kB
SwapFree:         212992 kB
Zswap:               320 kB
Zswapped:          16384 kB
Dirty:             32768 kB
Writeback:             0 kB
AnonPages:       1556480 kB
Mapped:           262144 kB
Shmem:            131072 kB
Hugetlb:               0 kB
"""


def synthetic_root(tmp: Path) -> Path:
    """Two processes map a 16 MiB memfd that is in swap (counted once); one has 8 MiB of anon in swap,
    both are in cgroup /app (v2), which has a swap limit."""
    root = tmp / "machine"
    _write(root, "proc/meminfo", MEMINFO)
    _write(root, "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                               "/var/tmp/swapfile                       file\t\t262140\t\t49152\t\t-2\n")
    _write(root, "proc/sys/vm/swappiness", "60\n")
    _write(root, "proc/zoneinfo", "Node 0, zone   Normal\n  pages free     262144\n        high     65536\n")
    _write(root, "proc/version", "Linux version 6.18.0 (test)\n")
    _write(root, "proc/sys/kernel/hostname", "synthetic\n")
    _write(root, "proc/sys/kernel/osrelease", "6.18.0\n")
    _write(root, "proc/sysvipc/shm", "       key      shmid perms                  size  cpid  lpid nattch   uid   gid"
                                     "  cuid  cgid      atime      dtime      ctime                   rss        "
                                     "          swap\n"
                                     "         0          9   600               4194304   200   200      0     0 "
                                     "    0     0     0 1 2 3                     0               4194304\n")
    memfd = ("rw-s", "/memfd:cache (deleted)", "rd wr sh mr mw me ms", "00:01", 4242)
    for pid, comm, extra in ((200, "server", vma(0x10000000, "rw-p", Rss=8192, Private_Dirty=8192, Anonymous=8192,
                                                 Swap=8192, SwapPss=8192)),
                             (201, "worker", vma(0x10000000, "rw-p", Rss=1024, Private_Dirty=1024,
                                                 Anonymous=1024))):
        _write(root, f"proc/{pid}/status", f"Name:\t{comm}\nUid:\t0\t0\t0\t0\nPPid:\t1\n")
        _write(root, f"proc/{pid}/stat", f"{pid} ({comm}) S 1 {pid} 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n")
        _write(root, f"proc/{pid}/cgroup", "0::/app\n")
        smaps = extra + vma(0x20000000, *memfd[:3], dev=memfd[3], inode=memfd[4], Swap=16384, Size=16384)
        smaps += vma(0x30000000, "r--p", "/usr/lib/libc.so", "rd mr mw me", "fe:00", 10, Rss=800, Shared_Clean=800)
        _write(root, f"proc/{pid}/smaps", smaps)
    cg = "sys/fs/cgroup"
    _write(root, f"{cg}/cgroup.controllers", "cpu memory pids\n")
    _write(root, f"{cg}/memory.stat", V2_STAT)
    _write(root, f"{cg}/app/memory.stat", V2_STAT)
    _write(root, f"{cg}/app/memory.current", "2500000000\n")
    _write(root, f"{cg}/app/memory.max", "max\n")
    _write(root, f"{cg}/app/memory.swap.max", f"{64 * MiB}\n")
    _write(root, f"{cg}/app/memory.swap.current", f"{48 * MiB}\n")
    return root


def test_swap_info_of_the_synthetic_machine(tmp_path: Path) -> None:
    with Root(str(synthetic_root(tmp_path))) as root:
        info = swap_info(root)
        assert swap_room(root)
    assert [d.path for d in info.devices] == ["/var/tmp/swapfile"]
    assert (info.total, info.used, info.swappiness) == (256 * MiB, 48 * MiB, 60)
    assert (info.zswap.pool, info.zswap.stored, info.zswap.enabled) == (320 * KiB, 16 * MiB, None)


def test_swap_json_shmem_swap_is_counted_once_with_its_mappers(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("swap", "--root", str(synthetic_root(tmp_path)), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["room"] is True and doc["used"] == 48 * MiB
    memfd = next(o for o in doc["objects"] if o["object"].startswith("/memfd:cache"))
    assert memfd["swap"] == 16 * MiB and sorted(m["pid"] for m in memfd["mappers"]) == [200, 201]
    sysv = next(o for o in doc["objects"] if o["object"].startswith("/SYSV"))
    assert sysv["swap"] == 4 * MiB and sysv["exact"] and not sysv["mappers"]  # in swap, attached by nobody
    a = doc["attribution"]
    assert a == {"anonymous": 8 * MiB, "shared": 20 * MiB, "rest": 20 * MiB}
    assert sum(a.values()) == doc["used"]
    server = next(p for p in doc["processes"] if p["pid"] == 200)
    assert (server["swap"], server["anonymous"], server["shared"], server["swap_pss"]) == (
        24 * MiB, 8 * MiB, 16 * MiB, 8 * MiB)


def test_swap_table_golden(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("swap", "--root", str(synthetic_root(tmp_path)), "--width", "100")
    assert r.code == 0, r.err
    check_golden("swap-100.txt", r.out.replace(str(tmp_path), "TMP"))


def test_swap_without_any_device(run_cli: Run) -> None:
    r = run_cli("swap", "--root", str(GPU_ROOT), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["devices"] == [] and doc["room"] is False and doc["swappiness"] is None
    r = run_cli("swap", "--root", str(GPU_ROOT), "--width", "80")
    assert "No swap device is active" in r.out


# ------------------------------------------------------------------ the what-if model
M = MiB


def lists(ia: int = 0, aa: int = 0, if_: int = 0, af: int = 0, unevictable: int = 0, shmem: int = 0,
          dirty: int = 0) -> LruSizes:
    return LruSizes(ia * M, aa * M, if_ * M, af * M, unevictable * M, shmem * M, dirty * M)


def test_inactive_is_low_matches_the_kernel_ratio() -> None:
    assert inactive_is_low(0, 1) and not inactive_is_low(1, 1)
    gib = 1 << 18  # pages
    assert not inactive_is_low(gib, 3 * gib)  # 4 GiB: ratio √40 = 6
    assert inactive_is_low(gib // 8, 3 * gib)


def test_page_cache_first_then_swap() -> None:
    lru = lists(ia=96, if_=64, shmem=32)
    p = predict(32 * M, lru, 60, 256 * M, page_size=4096, cgroup=True, file_folio=256)
    assert p.taken == {"file": 32 * M, "anonymous": 0, "shared": 0} and p.swap == 0
    p = predict(96 * M, lru, 60, 256 * M, page_size=4096, cgroup=True, file_folio=256)
    assert p.taken["file"] == 64 * M and p.swap == 32 * M and p.short == 0
    assert abs(p.taken["shared"] - p.swap // 3) < 4096  # the anon list's share of shmem, to the page
    assert [phase for phase, _ in p.steps] == ["page cache first (cache trim)", "anon and shmem (no page cache left)"]


def test_no_swap_takes_page_cache_only_and_says_what_is_short() -> None:
    lru = lists(ia=96, if_=64, shmem=32)
    for p in (predict(96 * M, lru, 60, 0, page_size=4096, cgroup=True),
              predict(96 * M, lru, 0, 256 * M, page_size=4096, cgroup=True)):
        assert p.taken == {"file": 64 * M, "anonymous": 0, "shared": 0}
        assert p.short == 32 * M


def test_swap_room_limits_the_anon_taken() -> None:
    p = predict(96 * M, lists(ia=96, if_=64, shmem=32), 60, 8 * M, page_size=4096, cgroup=True, file_folio=256)
    assert p.swap == 8 * M and p.short == 24 * M


def test_swappiness_200_takes_anon_only_when_the_page_cache_is_active() -> None:
    p = predict(96 * M, lists(ia=96, af=64, shmem=32), 200, 256 * M, page_size=4096, cgroup=True, file_folio=256)
    assert p.taken["file"] <= 2 * M and p.swap >= 94 * M  # the kernel here: 0-2 MiB of page cache, 96 MiB swapped


def test_large_folios_keep_page_cache_first_small_ones_let_anon_in() -> None:
    lru = lists(ia=96, af=64, shmem=32)
    big = predict(64 * M, lru, 150, 256 * M, page_size=4096, cgroup=True, file_folio=256)
    small = predict(64 * M, lru, 150, 256 * M, page_size=4096, cgroup=True, file_folio=1)
    assert big.taken["file"] == 64 * M and big.swap == 0
    assert small.swap > 32 * M  # measured here: 39 MiB of 64 (tests/live/test_pressure_live.py)


def test_machine_takes_free_memory_first_and_the_parts_add_up() -> None:
    lru = lists(ia=1000, aa=1000, if_=100, af=900, shmem=32, dirty=10)
    p = predict(1500 * M, lru, 100, 1 << 40, page_size=4096, free=200 * M, file_folio=4)
    assert p.from_free == 200 * M
    assert p.from_free + p.reclaimed + p.short == 1500 * M
    assert 0 <= p.writeback <= p.taken["file"]
    assert predict(100 * M, lru, 60, 0, page_size=4096, free=200 * M).reclaimed == 0


def test_dirty_page_cache_is_written_back_after_the_clean() -> None:
    p = predict(48 * M, lists(ia=96, if_=64, shmem=32, dirty=16), 60, 256 * M, page_size=4096, cgroup=True, file_folio=256)
    assert p.taken["file"] == 48 * M and p.writeback == 0
    p = predict(64 * M, lists(ia=96, if_=64, shmem=32, dirty=16), 60, 256 * M, page_size=4096, cgroup=True, file_folio=256)
    assert p.writeback == 16 * M


@pytest.mark.parametrize("need", [1, 1000, 4097, 5 * M + 123])
def test_the_parts_add_up_to_the_need_to_the_byte(need: int) -> None:
    for free in (None, 0, 3000):
        p = predict(need, lists(ia=8, if_=4, shmem=2), 60, M, page_size=4096, free=free, cgroup=free is None)
        assert p.from_free + p.reclaimed + p.short == need and p.short >= 0
        assert min(p.taken.values()) >= 0


def test_vmscan_stops_when_nothing_can_be_reclaimed() -> None:
    v = Vmscan((1000, 0, 0, 0), 60, 0, cgroup=True)
    assert v.run(100) == 0


def test_share_divides_in_proportion_and_names_the_rest() -> None:
    got = share(100, 1000, [("a", 600), ("b", 200)], top=5)
    assert got == [("a", 600, 60), ("b", 200, 20), ("(no process)", 200, 20)]
    assert share(0, 1000, [("a", 1)], top=5) == []


def test_lru_from_memory_stat_and_meminfo() -> None:
    v1 = lru_from_memory_stat(_stat(V1_STAT), 1)
    assert (v1.inactive_anon, v1.shmem, v1.dirty) == (8556544, 4 * MiB, 4 * MiB)
    v2 = lru_from_memory_stat(_stat(V2_STAT), 2)
    assert v2.holds()["shared"] == 10829824
    m = lru_from_meminfo(parse_meminfo(MEMINFO))
    assert m.file == 2048 * MiB and m.dirty == 32 * MiB


def test_pressure_on_the_synthetic_machine_and_its_cgroup(tmp_path: Path) -> None:
    with Root(str(synthetic_root(tmp_path))) as root:
        files = cgroup_files(root)
        assert files is not None and (files.version, files.hierarchy.rel) == (2, "sys/fs/cgroup")
        cg = read_cgroup(root, "/app")
        assert cg.limit is None and cg.swap_limit_room == 16 * MiB
        result = memtype.scan(root, cgroup=True)
        rep = pressure(root, 1536 * MiB, "/app", scan=result, file_folio=1)
        assert rep.prediction.swap_room == 16 * MiB  # the cgroup's swap.max, below the free swap
        assert rep.prediction.swap <= 16 * MiB
        holders = {who for who, _, _ in rep.processes["file"]}
        assert {"200 server", "201 worker"} <= holders
        machine = pressure(root, 2048 * MiB, scan=result, file_folio=1)
        assert machine.free == 1024 * MiB - 65536 * 4096  # MemFree above the high watermark
        with pytest.raises(PressureError):
            read_cgroup(root, "/nope")
        with pytest.raises(PressureError):
            read_cgroup(root, "app")


def test_pressure_cli_json_and_errors(tmp_path: Path, run_cli: Run) -> None:
    root = str(synthetic_root(tmp_path))
    r = run_cli("pressure", "--root", root, "--need", "3G", "--format", "json", "--file-folio", "4")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert set(doc["predicted"]) == {"file", "anonymous", "shared"}
    assert doc["from_free"] + sum(doc["predicted"].values()) + doc["short"] == 3 * 1024 * MiB
    assert doc["would_swap"] == (doc["swap"] > 0) and doc["target"]["cgroup"] is None
    assert set(doc["from"]) == {"cgroups", "processes"}
    r = run_cli("pressure", "--root", root, "--need", "1.5G", "--cgroup", "/app", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["target"]["cgroup"] == "/app" and doc["target"]["version"] == 2
    assert any("folio size unknown" in n for n in doc["notes"])  # a capture: no kpageflags
    r = run_cli("pressure", "--root", root, "--need", "1G", "--cgroup", "/missing")
    assert r.code == 1 and r.err.count("\n") == 1 and "no memory cgroup" in r.err
    r = run_cli("pressure", "--root", root, "--need", "12 parsecs")
    assert r.code == 2 and "not a size" in r.err
    r = run_cli("pressure", "--root", str(GPU_ROOT), "--need", "1G", "--cgroup", "/x")
    assert r.code == 1 and "no memory cgroup controller" in r.err


def test_pressure_table_golden(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("pressure", "--root", str(synthetic_root(tmp_path)), "--need", "2G", "--file-folio", "1",
                "--width", "100")
    assert r.code == 0, r.err
    check_golden("pressure-100.txt", r.out)
