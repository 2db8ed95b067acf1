"""One page decision table (memtype.model.pages, issue 8): the compiled and the numpy per-process page
pass and the whole-machine census (system --exact) all apply RULES, in the kernel's order."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from memtype.collect.exact import process as exact_process
from memtype.collect.exact import system as census
from memtype.model import pages
from memtype.parse import smaps as smaps_mod
from memtype.parse.pagebits import PM_EXCLUSIVE, PM_PRESENT, kpf_mask

c_reader = smaps_mod.compiled()
needs_compiled = pytest.mark.skipif(c_reader is None, reason="the compiled reader is not built")
SEED = 8


B4 = [  # kernel-spec.md B.4 signatures: (kpageflags, kpagecount, exclusive, mapping kind) -> category
    (0x400005828, 1, 1, pages.V_PLAIN, pages.ANON),         # private anon, written
    (0x400005808, 1, 1, pages.V_PLAIN, pages.ANON),         # still in a per-CPU batch (no LRU)
    (0x101000000, 0, 0, pages.V_PLAIN, pages.ZERO),         # zero page
    (0x1408000, 0, 0, pages.V_PLAIN, pages.ZERO),           # huge zero page
    (0x400001828, 1, 1, pages.V_PLAIN, pages.ANON),         # MADV_FREE'd
    (0x60004582C, 1, 1, pages.V_PLAIN, pages.ANON),         # mlocked
    (0x5828, 2, 0, pages.V_PLAIN, pages.COW),               # fork-shared
    (0x5828, 1, 0, pages.V_PLAIN, pages.COW),               # bit 56 clear, mapcount 1 (B.6)
    (0x20583C, 256, 0, pages.V_PLAIN, pages.COW),           # KSM
    (0x2000007828, 1, 1, pages.V_PLAIN, pages.ANON),        # swapped in, mapped
    (0x4838, 1, 1, pages.V_SHMEM, pages.SHARED),            # shmem
    (0x28818, 1, 1, pages.V_SHMEM, pages.NONE),             # shared hugetlb: outside the kinds
    (0x400029808, 1, 1, pages.V_PLAIN, pages.NONE),         # private hugetlb: HUGE before ANON
    (0x200000818, 1, 1, pages.V_SECRETMEM, pages.SHARED),   # secretmem
    (0x40000082C, 1, 1, pages.V_PLAIN, pages.FILE),         # page cache
    (0xC0000083C, 2, 0, pages.V_PLAIN, pages.FILE),         # dirty, MAP_SHARED
    (0x800408828, 1, 1, pages.V_COW_PENDING, pages.COW),    # page cache under MAP_PRIVATE|PROT_WRITE
    (0x804, 1, 1, pages.V_PLAIN, pages.DEVICE),             # io_uring ring
    (0x100000800, 12, 0, pages.V_DEVICE, pages.DEVICE),     # [vdso]
    (0x100000800, 12, 0, pages.V_PLAIN, pages.DEVICE),      # RESERVED and mapped (row 15)
    (0x20000000800, 1, 1, pages.V_DEVICE, pages.DEVICE),    # /dev/nvidiactl
    (kpf_mask("slab", "anon", "ksm"), 1, 1, pages.V_PLAIN, pages.DEVICE),  # bogus ANON|KSM on slab (B.6)
    (kpf_mask("nopage"), 1, 1, pages.V_PLAIN, pages.DEVICE),
]


def test_issue8_one_table_in_kernel_order() -> None:
    names = [r.name for r in pages.RULES]
    assert names.index("hugetlb") < names.index("ksm") < names.index("anon") < names.index("shmem")
    assert census.page_bucket is pages.page_bucket  # the census has no table of its own
    assert not hasattr(exact_process, "FLAG_CLASS_MASKS") and not hasattr(census, "_PAGE_TYPES")
    tested = {n for r in pages.RULES for n in r.all_of + r.any_of + r.none_of}
    assert tested <= set(census.KEPT), "the census key keeps every bit a rule tests"
    assert {r.bucket for r in pages.RULES} <= set(census.BUCKETS)
    for flags, count, excl, vk, want in B4:
        assert pages.DECISION_TABLE[pages.flag_class(flags, count)][excl][vk] == want, hex(flags)


def test_issue8_census_key_decides_as_the_full_flags() -> None:
    np = pytest.importorskip("numpy")
    table = census.high_code_table(np)
    assert all(int(table[v]) == census._high_code(v) for v in range(0, 1 << 16, 7))
    rng = random.Random(SEED + 4)
    pool = [f for f, *_ in B4] + [kpf_mask("reserved", "mmap", "lru"), kpf_mask("reserved", "uptodate")]
    for _ in range(3000):
        flags = rng.choice(pool) | (rng.getrandbits(48) if rng.random() < 0.5 else 0)
        count = rng.choice((0, 1, 2))
        assert pages.page_bucket(census.key_flags(census.pack_key(flags, count)), count) == \
            pages.page_bucket(flags, count), hex(flags)


def _page_pass_inputs(rng: random.Random, n: int) -> tuple[list[int], list[int], list[tuple[int, int, int]]]:
    pool = [f for f, *_ in B4] + [0, kpf_mask("reserved"), kpf_mask("swapcache", "anon"),
                                  kpf_mask("swapcache", "swapbacked"), kpf_mask("uptodate"), kpf_mask("lru", "dirty")]
    flags = [rng.choice(pool) | (rng.getrandbits(42) << 22 if rng.random() < 0.3 else 0) for _ in range(n)]
    counts = [rng.choice((0, 1, 1, 2, 3, 256)) for _ in range(n)]
    pm = [(1 << PM_PRESENT) | (rng.getrandbits(1) << PM_EXCLUSIVE) | pfn for pfn in range(n)]  # PFN i: flags[i]
    owners = [(i % len(pages.MAPPING_KINDS), pm[i], i) for i in range(n)]
    return flags, counts, owners


@needs_compiled
def test_issue8_compiled_and_numpy_page_passes_apply_the_one_table(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from memtype.collect.exact.classify import flag_classes

    rng = random.Random(SEED + 5)
    flags, counts, owners = _page_pass_inputs(rng, 4000)
    kf, kc = np.array(flags, dtype=np.uint64), np.array(counts, dtype=np.uint64)
    assert flag_classes(kf, kc).tolist() == [pages.flag_class(f, c) for f, c in zip(flags, counts)]
    (tmp_path / "kpageflags").write_bytes(kf.tobytes())
    (tmp_path / "kpagecount").write_bytes(kc.tobytes())
    # one walk record per mapping kind; page i belongs to record i % 5
    records = np.array([[k, 0, 0, k, 0, 0] for k in range(len(pages.MAPPING_KINDS))], dtype=np.int64)
    entries = np.array([e for _, e, _ in owners], dtype=np.uint64)
    own = np.array([k for k, _, _ in owners], dtype=np.int32)
    fds = [os.open(tmp_path / name, os.O_RDONLY) for name in ("kpageflags", "kpagecount")]
    try:
        out = c_reader.classify_pages([(entries.tobytes(), own.tobytes(), records.tobytes())], fds[0], fds[1],
                                  pages.RULE_MASKS, pages.DETAIL_MASKS, pages.DECISION_TABLE_BYTES, 4096,
                                  kpf_mask("nopage"), True)
    finally:
        for fd in fds:
            os.close(fd)
    cnt = np.frombuffer(out[0][4], dtype=np.int64).reshape(len(records), len(pages.CATEGORY_NAMES))
    want = np.zeros_like(cnt)
    for (k, e, i) in owners:
        want[k, pages.DECISION_TABLE[pages.flag_class(flags[i], counts[i])][e >> PM_EXCLUSIVE & 1][k]] += 1
    assert (cnt == want).all()
    from memtype.collect.exact.classify import classify_pages

    fc = flag_classes(kf, kc)
    numpy_cats = classify_pages(entries, fc, records[own, 3].astype(np.int8))
    assert (np.bincount(own.astype(np.int64) * 8 + numpy_cats, minlength=len(records) * 8).reshape(-1, 8) == cnt).all()
