"""`memtype system`: the rows partition MemTotal, in meminfo mode (captured root, golden text) and in
--exact mode (the page decision table on verbatim signatures, the streamed scan on synthetic and
captured kpageflags/kpagecount), plus the one-line errors and `snapshot --exact`."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.collect.system import system_memory
from memtype.errors import MemtypeError, ParseError
from memtype.model.machine import DETAIL_IDS, ROW_IDS
from memtype.parse.pagebits import kpf_mask
from memtype.parse.procfiles import parse_meminfo

from conftest import GPU_ROOT, Result, needs_root
from test_cli import check_golden

np = pytest.importorskip("numpy")

from memtype.collect.exact.system import BUCKETS, KEPT, KEY_SPACE, PageScanner, key_flags, pack_key, page_bucket  # noqa: E402

Run = Callable[..., Result]
PAGE = 4096
GPU_MEMINFO = parse_meminfo((GPU_ROOT / "proc/meminfo").read_text())


def _bits(*names: str) -> int:
    return kpf_mask(*names)


# ------------------------------------------------------------------ meminfo mode
@pytest.mark.parametrize("width", [80, 100])
def test_golden_meminfo_mode(run_cli: Run, width: int) -> None:
    r = run_cli("system", "--root", str(GPU_ROOT), "--width", str(width))
    assert r.code == 0, r.err
    check_golden(f"system-{width}.txt", r.out)
    assert max(len(line) for line in r.out.splitlines()) <= width
    assert r.err.count("1 process not in the capture") == 1  # PID 1's smaps are not in the capture: said once


def test_json_meminfo_mode_rows_sum_to_memtotal(run_cli: Run) -> None:
    r = run_cli("system", "--root", str(GPU_ROOT), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    mi = GPU_MEMINFO
    assert doc["schema"] == "memtype/2" and doc["exact"] is False
    assert doc["total"] == mi["MemTotal"]
    assert list(doc["rows"]) == list(ROW_IDS)
    assert sum(v for v in doc["rows"].values() if v is not None) == doc["total"]
    rows = doc["rows"]
    assert rows["anonymous"] == mi["AnonPages"] and rows["shared"] == mi["Shmem"]
    # Cached already excludes SwapCached; cow's file part (the processes' Σ PSS of it) is taken out of file
    assert rows["file"] + rows["cow"] == mi["Buffers"] + mi["Cached"] - mi["Shmem"]
    d = doc["detail"]
    assert rows["cow"] == d["cow.file"] > 0 and d["cow.anon"] is None  # anon cow: inside anonymous
    # meminfo has no driver-page figure: unknown (null), not 0 (issue 8; it is inside unaccounted)
    assert rows["free"] == mi["MemFree"] and rows["device"] is None
    # kernel stacks are vmalloc'd (VMAP_STACK): counted once, not in both KernelStack and VmallocUsed
    d = doc["detail"]
    assert d["kernel.vmalloc"] == mi["VmallocUsed"] - mi["KernelStack"] and d["kernel.stacks"] == mi["KernelStack"]
    assert rows["kernel"] == mi["Slab"] + mi["KernelStack"] + mi["PageTables"] + mi["Percpu"] + d["kernel.vmalloc"]
    assert set(d) == set(DETAIL_IDS)
    for unknown in ("cow.anon", "cow.fork", "cow.ksm", "shared.mapped", "shared.unmapped", "file.mapped",
                    "file.unmapped"):
        assert d[unknown] is None, unknown  # not knowable from meminfo: null, never 0 (style rule 3)
    assert d["file.dirty"] == mi["Dirty"]
    assert doc["swap"] == {"total": 0, "used": 0, "cached": 0, "zswap_pool": 0, "zswap_stored": 0}
    assert doc["scan"] is None and any("--exact" in n for n in doc["notes"])
    rec = {x["kind"]: x for x in doc["reconcile"]}
    assert list(rec) == ["anonymous", "cow", "shared", "file", "device"]
    assert rec["shared"]["difference"] == rec["shared"]["system"] - rec["shared"]["processes"]
    assert rec["cow"]["system"] == rows["cow"] and rec["cow"]["difference"] == 0  # the file part, both sides
    assert rec["file"]["system"] == rows["file"]
    assert "no process maps" in rec["file"]["difference_is"]
    assert doc["processes"] == {"count": 8, "kernel_threads": 1, "skipped": {"not captured": 1}}
    assert doc["summary"] == {"processes": 8, "kernel_threads": 1, "skipped": {"not captured": 1}}
    assert doc["reclaim"] is not None and set(doc["reclaim"]) == {"drop", "writeback", "swap", "never"}


def test_no_processes_skips_the_comparison(run_cli: Run) -> None:
    doc = json.loads(run_cli("system", "--root", str(GPU_ROOT), "--format", "json", "--no-processes").out)
    assert doc["reconcile"] is None and doc["processes"] is None
    out = run_cli("system", "--root", str(GPU_ROOT), "--no-processes", "--width", "80").out
    assert "Σ PSS" not in out and "MemTotal" in out


def test_meminfo_mode_does_not_import_numpy() -> None:
    code = ("import sys, memtype.cli.main as m\n"
            f"assert m.main(['system', '--root', {str(GPU_ROOT)!r}, '--format', 'json']) == 0\n"
            "assert 'numpy' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ the page decision table
SIGNATURES = [  # kernel-spec.md B.4 (hex as observed), plus the page types of B.6 / C.2
    (0x400005828, 1, "anonymous"),          # private anon, written
    (0x400005808, 1, "anonymous"),          # same, still in a per-CPU batch (no LRU)
    (0x101000000, 0, "zero"),               # read fault: the zero page
    (0x40040D828, 1, "anonymous"),          # THP head
    (0x400415828, 1, "anonymous"),          # THP tail
    (0x1408000, 0, "zero"),                 # huge zero page
    (0x400001828, 1, "anonymous"),          # MADV_FREE'd (lazyfree) is still anonymous until dropped
    (0x60004582C, 1, "anonymous"),          # mlocked
    (0x5828, 2, "cow.fork"),                # fork-shared
    (0x20583C, 2, "cow.ksm"),               # KSM (kpagecount 256)
    (0x2000007828, 1, "anonymous"),         # swapped in and mapped: its kind, not swap cache
    (0x2000007828, 0, "swap_cache"),        # in swap cache, mapped by no one
    (0x4838, 1, "shared.mapped"),           # shmem (all four kinds)
    (0x4038, 0, "shared.unmapped"),         # a tmpfs file nobody maps
    (0x28818, 1, "hugetlb"),                # shared hugetlb
    (0x400029808, 1, "hugetlb"),            # private hugetlb: HUGE before ANON
    (0x40000082C, 1, "file.mapped"),        # page cache, read-only map
    (0x40040882C, 1, "file.mapped"),        # large page-cache folio (THP bit, not a THP)
    (0x2C, 0, "file.unmapped"),             # page cache only read()
    (0xC0000083C, 2, "file.mapped"),        # dirty, MAP_SHARED write
    (0x800408828, 1, "file.mapped"),        # page cache under MAP_PRIVATE|PROT_WRITE: file by its flags
    (0x200000818, 1, "file.mapped"),        # secretmem: shared needs the VMA path (B.3 row 14), a scan has none
    (0x804, 1, "device"),                   # io_uring ring
    (0x800, 1, "device"),                   # kvm_run
    (0x100000800, 2, "device"),             # [vdso]
    (0x20000000800, 1, "device"),           # /dev/nvidiactl (fixture)
    (_bits("slab", "anon", "ksm"), 0, "kernel.slab"),  # bogus ANON|KSM on slab pages (B.6)
    (_bits("pgtable"), 0, "kernel.pgtable"),
    (_bits("buddy"), 0, "free.buddy"),
    (_bits("offline"), 0, "kernel.offline"),
    (_bits("nopage"), 0, "nopage"),
    (0, 0, "untyped"),                      # lazily initialised free memory, vmalloc, stacks... (C.2)
    (1 << 32, 0, "untyped"),                # RESERVED only: kernel image
]


@pytest.mark.parametrize(("flags", "count", "bucket"), SIGNATURES)
def test_page_bucket_on_observed_signatures(flags: int, count: int, bucket: str) -> None:
    assert page_bucket(flags, count) == bucket


def test_key_packing_keeps_what_decides() -> None:
    for name in KEPT:
        assert key_flags(pack_key(kpf_mask(name), 1)) == kpf_mask(name)
    for flags, count, bucket in SIGNATURES:  # the packed key decides as the full flags do
        assert page_bucket(key_flags(pack_key(flags, count)), min(count, 2)) == bucket
        assert pack_key(flags, count) < KEY_SPACE
    assert len(set(BUCKETS)) == len(BUCKETS)


def _stream(values: list[int]) -> io.BytesIO:
    return io.BytesIO(np.array(values, dtype=np.uint64).tobytes())


def test_streamed_counts_equal_the_table_page_by_page() -> None:
    """The numpy packing and the chunking (uneven last chunk) give what page_bucket gives per page."""
    rng = random.Random(7)
    pool = [f for f, _, _ in SIGNATURES] + [0x400000, 0x2A0, 0x7FFFFFF]  # and other bits that must not matter
    flags = [rng.choice(pool) | (rng.getrandbits(64) & ~0x07FFFFFF & ~(1 << 63)) * rng.randint(0, 1)
             for _ in range(20_011)]
    counts = [rng.choice((0, 1, 2, 3, 256)) for _ in flags]
    want = dict.fromkeys(BUCKETS, 0)
    dirty = 0
    for f, c in zip(flags, counts):
        b = page_bucket(f, min(c, 2))
        want[b] += 1
        dirty += b.startswith("file.") and bool(f & kpf_mask("dirty"))
    census = PageScanner(chunk=4096).scan(_stream(flags), _stream(counts))
    assert census.pfns == len(flags) and census.pages == want and census.file_dirty == dirty
    assert sum(census.flag_keys.values()) == len(flags)


def test_damaged_or_uneven_files_fail_loudly() -> None:
    with pytest.raises(ParseError, match="different lengths"):
        PageScanner(chunk=8).scan(_stream([0] * 20), _stream([0] * 19))
    with pytest.raises(ParseError, match="partial entry"):
        PageScanner(chunk=8).scan(io.BytesIO(b"\0" * 20), io.BytesIO(b"\0" * 20))
    good = gzip.compress(np.arange(1000, dtype=np.uint64).tobytes())
    with pytest.raises(ParseError, match="damaged"):  # a capture's .gz cut short
        PageScanner(chunk=64).scan(gzip.GzipFile(fileobj=io.BytesIO(good[:len(good) // 2])), _stream([0] * 1000))


class _Zeros(io.RawIOBase):
    """``size`` bytes of zeros, produced on demand: the stream never exists in memory."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.zero = bytes(1 << 20)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self.left, len(self.zero))
        b[:n] = self.zero[:n]
        self.left -= n
        return n


def test_peak_memory_does_not_grow_with_the_files() -> None:
    """1 TiB of RAM is 2 GiB of flags: only fixed buffers may be held (here 2 x 128 MiB streamed)."""
    tracemalloc.start()
    try:
        census = PageScanner(chunk=1 << 16).scan(_Zeros(128 << 20), _Zeros(128 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert census.pfns == 16 << 20 and census.pages["untyped"] == 16 << 20
    assert peak < 8 << 20, f"peak {peak >> 20} MiB"  # 7 buffers of 512 KiB, the 128 KiB histogram, small change


# ------------------------------------------------------------------ --exact on a capture
COMPOSITION = [  # (flags, count, pages)
    (0x400005828, 1, 1000), (0x5828, 2, 200), (0x20583C, 3, 10), (0x4838, 1, 300), (0x4038, 0, 50),
    (0x82C, 1, 400), (0x2C, 0, 480), (0x3C, 0, 20), (0x800, 1, 7), (_bits("anon", "swapcache", "swapbacked"), 0, 3),
    (_bits("slab", "anon", "ksm"), 0, 100), (_bits("buddy"), 0, 1000), (0, 0, 5000), (0x28818, 1, 512),
]


def _synthetic_root(tmp_path: Path) -> Path:
    root = tmp_path / "synth"
    (root / "proc").mkdir(parents=True)
    shutil.copy(GPU_ROOT / "proc/meminfo", root / "proc/meminfo")
    flags = [f for f, _, n in COMPOSITION for _ in range(n)]
    counts = [c for _, c, n in COMPOSITION for _ in range(n)]
    for name, values in (("kpageflags", flags), ("kpagecount", counts)):
        with gzip.open(root / "proc" / f"{name}.gz", "wb") as f:
            f.write(np.array(values, dtype=np.uint64).tobytes())
    return root


def test_exact_on_a_capture_counts_each_kind(tmp_path: Path, run_cli: Run) -> None:
    root = _synthetic_root(tmp_path)
    sm = system_memory(str(root), exact=True, processes=False)
    assert sm.exact and sm.census is not None and sm.census.pfns == sum(n for _, _, n in COMPOSITION)
    rows, d = sm.rows, sm.detail
    assert rows["anonymous"] == 1000 * PAGE and rows["cow"] == 210 * PAGE
    assert d["cow.fork"] == 200 * PAGE and d["cow.ksm"] == 10 * PAGE
    assert rows["shared"] == 350 * PAGE and d["shared.mapped"] == 300 * PAGE and d["shared.unmapped"] == 50 * PAGE
    assert rows["file"] == 900 * PAGE and d["file.mapped"] == 400 * PAGE and d["file.unmapped"] == 500 * PAGE
    assert d["file.dirty"] == 20 * PAGE and d["file.writeback"] == 0
    assert rows["device"] == 7 * PAGE and rows["swap_cache"] == 3 * PAGE
    mi = GPU_MEMINFO
    assert rows["free"] == mi["MemFree"] and rows["hugetlb"] == 0  # from meminfo, not BUDDY / HUGE pages
    assert sum(rows.values()) == sm.total == mi["MemTotal"]
    r = run_cli("system", "--exact", "--root", str(root), "--format", "json", "--no-processes")
    doc = json.loads(r.out)
    assert doc["exact"] is True and doc["rows"] == rows and doc["scan"]["buckets"]["kernel.slab"] == 100 * PAGE
    assert any("not atomic" in n for n in doc["notes"])
    out = run_cli("system", "--exact", "--root", str(root), "--width", "100").out
    assert "after fork" in out and "not mapped" in out and "page flags" in out


def test_exact_on_a_capture_without_the_files(run_cli: Run) -> None:
    r = run_cli("system", "--exact", "--root", str(GPU_ROOT))
    assert r.code == 1 and "snapshot --exact" in r.err and len(r.err.strip().splitlines()) == 1


def test_exact_without_numpy_says_how_to_get_it(run_cli: Run, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = _synthetic_root(tmp_path)
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy -> ImportError
    r = run_cli("system", "--exact", "--root", str(root), "--no-processes")
    assert r.code == 1 and r.err.strip() == "memtype: error: --exact needs numpy: pip install 'memtype[exact]'"


def test_exact_without_root_is_one_line() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged uid")
    # as in test_cli: load every module as root (the interpreter is under /root), then drop to nobody
    code = ("import contextlib, io, os, sys, memtype.cli.main as m\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    m.main(['system', '--exact', '--no-processes', '--format', 'json'])\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "sys.exit(m.main(['system', '--exact', '--no-processes']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd="/")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "only root can read" in r.stderr and "kpageflags" in r.stderr


# ------------------------------------------------------------------ snapshot --exact
def test_snapshot_exact_is_read_back(tmp_path: Path, run_cli: Run) -> None:
    needs_root()
    out = tmp_path / "snap"
    r = run_cli("snapshot", "--exact", "--pid", str(os.getpid()), str(out))
    assert r.code == 0, r.err
    assert not (out / "proc/kpageflags").exists() and json.loads((out / "manifest.json").read_text())["exact"]
    sizes = [len(gzip.decompress((out / f"proc/{n}.gz").read_bytes())) for n in ("kpageflags", "kpagecount")]
    assert sizes[0] == sizes[1] and sizes[0] % 8 == 0 and sizes[0] > 0
    assert sum((out / f"proc/{n}.gz").stat().st_size for n in ("kpageflags", "kpagecount")) < sizes[0] // 10
    doc = json.loads(run_cli("system", "--exact", "--root", str(out), "--format", "json").out)
    assert doc["exact"] is True and doc["host"]["live"] is False
    assert doc["scan"]["page_frames"] * 8 == sizes[0]
    assert sum(v or 0 for v in doc["rows"].values()) == doc["total"] and doc["rows"]["anonymous"] > 0
    assert doc["processes"]["count"] == 1 and doc["detail"]["free.per_cpu"] is not None  # zoneinfo captured


def test_snapshot_exact_tarball(tmp_path: Path, run_cli: Run) -> None:
    needs_root()
    out = tmp_path / "snap.tar.gz"
    assert run_cli("snapshot", "--exact", "--pid", str(os.getpid()), str(out)).code == 0
    doc = json.loads(run_cli("system", "--exact", "--root", str(out), "--format", "json", "--no-processes").out)
    assert doc["exact"] is True and sum(v or 0 for v in doc["rows"].values()) == doc["total"]


def test_snapshot_exact_needs_readable_files(tmp_path: Path) -> None:
    from memtype.source.capture import capture

    fake_proc = tmp_path / "proc"
    fake_proc.mkdir()
    with pytest.raises(MemtypeError, match="snapshot --exact: cannot read"):
        capture(str(tmp_path / "out"), proc=str(fake_proc), exact=True)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ swap, per-CPU free lists
ZONEINFO = """Node 0, zone   Normal
  pages free     5809214
        boost    0
  pagesets
    cpu: 0
              count:    18754
              high:     18925
              batch:    63
              high_min: 4698
              high_max: 38912
  vm stats threshold: 40
    cpu: 1
              count:    29450
              high:     29776
              batch:    63
  vm stats threshold: 40
  node_unreclaimable:  0
"""  # trimmed from /proc/zoneinfo here (6.18)


def _meminfo_root(tmp_path: Path, changes: dict[str, int], zoneinfo: str | None = None) -> Path:
    root = tmp_path / "mi"
    (root / "proc").mkdir(parents=True)
    lines = []
    for line in (GPU_ROOT / "proc/meminfo").read_text().splitlines():
        key = line.split(":")[0]
        lines.append(f"{key}:{changes[key]:>16} kB" if key in changes else line)
    (root / "proc/meminfo").write_text("\n".join(lines) + "\n")
    if zoneinfo is not None:
        (root / "proc/zoneinfo").write_text(zoneinfo)
    return root


def test_free_counts_the_per_cpu_lists(tmp_path: Path) -> None:
    from memtype.parse.zoneinfo import parse_zoneinfo, pcp_free_pages

    assert pcp_free_pages(parse_zoneinfo(ZONEINFO)) == 18754 + 29450
    root = _meminfo_root(tmp_path, {}, ZONEINFO)
    sm = system_memory(str(root), processes=False)
    assert sm.detail["free.per_cpu"] == (18754 + 29450) * PAGE and sm.detail["free.memfree"] == GPU_MEMINFO["MemFree"]
    assert sm.rows["free"] == GPU_MEMINFO["MemFree"] + (18754 + 29450) * PAGE
    assert sum(sm.rows.values()) == sm.total
    without = system_memory(str(GPU_ROOT), processes=False)  # no zoneinfo: the lists stay in unaccounted
    assert without.detail["free.per_cpu"] is None
    assert without.rows["unaccounted"] - sm.rows["unaccounted"] == (18754 + 29450) * PAGE


def test_swap_section_and_zswap(tmp_path: Path, run_cli: Run) -> None:
    kib = {"SwapTotal": 4 << 20, "SwapFree": 3 << 20, "SwapCached": 2048, "Zswap": 1024, "Zswapped": 65536}
    root = _meminfo_root(tmp_path, kib)
    doc = json.loads(run_cli("system", "--root", str(root), "--format", "json", "--no-processes").out)
    assert doc["swap"] == {"total": 4 << 30, "used": 1 << 30, "cached": 2 << 20, "zswap_pool": 1 << 20,
                           "zswap_stored": 64 << 20}
    assert doc["rows"]["swap_cache"] == 2 << 20 and doc["detail"]["kernel.zswap"] == 1 << 20
    assert sum(v or 0 for v in doc["rows"].values()) == doc["total"]
    assert any("SwapCached also counts" in n for n in doc["notes"])
    out = run_cli("system", "--root", str(root), "--no-processes", "--width", "100").out
    assert "of 4.0G; swap cache 2.0M; zswap: 1.0M of RAM holds 64.0M" in out
