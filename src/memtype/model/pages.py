"""One page decision table for both page passes (kernel-spec.md B.3, with B.4, B.6 and C.2).

``RULES`` says what a physical page is from its kpageflags and kpagecount, first match wins. The
per-process pass (``ps --exact``: ``memtype.collect.exact``, numpy or compiled) adds the pagemap
exclusive bit and what the page's mapping is (``MAPPING_KINDS``) and gives a category per page
(``CATEGORY_NAMES``); the whole-machine pass (``system --exact``: ``memtype.collect.exact.system``)
has flags and counts only and gives a bucket per page (its ``BUCKETS``). Both read this one table.

The order: first what the page *is*, then how it is *mapped*.

1. Page types (SLAB, PGTABLE, BUDDY, OFFLINE): kernel memory. They go first because their other bits
   lie: slab pages carry bogus ANON|KSM bits, folio->mapping overlapping slab fields (B.6).
2. NOPAGE: a PFN without a struct page (MMIO; also a PFN past the end of kpageflags, B.3 row 6).
3. ZERO_PAGE: the shared (huge) zero page costs nothing.
4. HUGE: a hugetlb page belongs to the hugetlb pool whatever maps it. It comes before KSM and ANON:
   a private hugetlb page is ANON|HUGE (B.4), and meminfo counts it in Hugetlb, not AnonPages, while
   reclaim can never take it (C.4); the mapping level keeps hugetlb outside Rss and the kinds (A.2,
   A.7), so the per-process pass does too. Against KSM the order changes no real page: KSM never
   merges hugetlb pages (mm/ksm.c vma_ksm_compatible refuses VM_HUGETLB), so no page has both bits,
   and the spec's rows 9-12 (KSM, ANON, then HUGE as an annotation) give the same per-process
   categories for every page the walk reads (it skips hugetlb mappings).
5. KSM, then swap cache no process maps, ANON (cow when mapped twice or more), SWAPBACKED (shmem),
   RESERVED driver pages, page cache (LRU or UPTODATE), other mapped driver pages, and the rest
   ("untyped": flags 0 is free memory the kernel has not initialised, vmalloc, stacks; C.2).

A count range splits a rule where kpagecount matters: the whole-machine pass counts 0, 1 or "more"
(2), the per-process pass the real count.
"""

from __future__ import annotations

from memtype.parse.pagebits import kpf_mask

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# Page categories of the per-process pass: codes in its arrays (_smaps.PAGE_CATEGORIES).
NONE: Final = 0
ANON: Final = 1
SHARED: Final = 2
COW: Final = 3
FILE: Final = 4
DEVICE: Final = 5
ZERO: Final = 6
SWAP: Final = 7
CATEGORY_NAMES = ("none", "anonymous", "shared", "cow", "file", "device", "zero", "swap")

# What a page's mapping says about it: one code per mapping, broadcast to its pages (_smaps.MAPPING_KINDS).
V_PLAIN: Final = 0
V_DEVICE: Final = 1       # a driver mapping (VM_MIXEDMAP, anon_inode:*, [vdso]): all its pages are device
V_COW_PENDING: Final = 2  # a private writable file mapping: unwritten page cache is cow (B.3 row 16)
V_SECRETMEM: Final = 3    # memfd_secret: shared and unevictable, flags UPTODATE|DIRTY|MMAP|MLOCKED (row 14)
V_SHMEM: Final = 4        # shmem, shared or a private view (for the unprivileged pagemap-bits pass)
MAPPING_KINDS = ("plain", "device", "cow-pending", "secretmem", "shmem")

ANY_COUNT = (1 << 64) - 1  # no upper bound on kpagecount


class PageRule:
    """One row of the table: a page matches when all of ``all_of``, one of ``any_of`` (if given) and
    none of ``none_of`` are set and its kpagecount is within ``counts``."""

    __slots__ = ("name", "all_of", "any_of", "none_of", "counts", "bucket", "process")

    def __init__(self, name: str, bucket: str, process: str, all_of: tuple[str, ...] = (),
                 any_of: tuple[str, ...] = (), none_of: tuple[str, ...] = (),
                 counts: tuple[int, int] = (0, ANY_COUNT)) -> None:
        self.name, self.bucket, self.process = name, bucket, process
        self.all_of, self.any_of, self.none_of, self.counts = all_of, any_of, none_of, counts

    def masks(self) -> tuple[int, int, int, int, int]:
        """(all, any, none, lowest count, highest count): the form the compiled pass applies."""
        return kpf_mask(*self.all_of), kpf_mask(*self.any_of), kpf_mask(*self.none_of), self.counts[0], self.counts[1]


# ``process`` is what the per-process pass makes of the page (``_process_category``): a category, or
# "anon" (anonymous if exclusively mapped, else cow: pagemap bit 56, B.3 row 10), "cache" (by the
# mapping: file, cow-pending or secretmem), "driver" (device, or shared in a secretmem mapping) or
# "hugetlb" (outside the kinds, as at mapping level).
RULES: tuple[PageRule, ...] = (
    PageRule("slab", "kernel.slab", "device", all_of=("slab",)),
    PageRule("pgtable", "kernel.pgtable", "device", all_of=("pgtable",)),
    PageRule("buddy", "free.buddy", "device", all_of=("buddy",)),
    PageRule("offline", "kernel.offline", "device", all_of=("offline",)),
    PageRule("nopage", "nopage", "device", all_of=("nopage",)),
    PageRule("zero", "zero", "zero", all_of=("zero_page",)),
    PageRule("hugetlb", "hugetlb", "hugetlb", all_of=("huge",)),
    PageRule("ksm", "cow.ksm", "cow", all_of=("ksm",)),
    # in RAM and in swap, mapped by no one (spec E.2); mapped ones are their kind
    PageRule("swap-cache-anon", "swap_cache", "anon", all_of=("swapcache", "anon"), counts=(0, 0)),
    PageRule("swap-cache-shmem", "swap_cache", "shared", all_of=("swapcache", "swapbacked"), counts=(0, 0)),
    PageRule("anon-shared", "cow.fork", "cow", all_of=("anon",), counts=(2, ANY_COUNT)),
    PageRule("anon", "anonymous", "anon", all_of=("anon",)),  # count 0: being freed, or a THP part
    PageRule("shmem-mapped", "shared.mapped", "shared", all_of=("swapbacked",), counts=(1, ANY_COUNT)),
    PageRule("shmem", "shared.unmapped", "shared", all_of=("swapbacked",)),
    PageRule("reserved", "device", "driver", all_of=("reserved", "mmap")),  # [vdso], driver pages (row 15)
    PageRule("cache-mapped", "file.mapped", "cache", any_of=("lru", "uptodate"), counts=(1, ANY_COUNT)),
    PageRule("cache", "file.unmapped", "cache", any_of=("lru", "uptodate")),
    PageRule("driver", "device", "driver", all_of=("mmap",)),  # mapped, yet no LRU, UPTODATE, ANON (surprise 10)
    PageRule("untyped", "untyped", "driver"),
)
RULE_MASKS = tuple(r.masks() for r in RULES)  # what the compiled and the numpy pass apply


def flag_class(flags: int, count: int) -> int:
    """The index in RULES of the first rule the page matches (``len(RULES)`` if none: the table has a
    row for that too, though "untyped" matches every page)."""
    for i, (want_all, want_any, want_none, low, high) in enumerate(RULE_MASKS):
        if (flags & want_all == want_all and (not want_any or flags & want_any) and not flags & want_none
                and low <= count <= high):
            return i
    return len(RULES)


def page_bucket(flags: int, count: int) -> str:
    """The whole-machine bucket of one page from its kpageflags and kpagecount (2: any count above 1)."""
    fc = flag_class(flags, count)
    return RULES[fc].bucket if fc < len(RULES) else "untyped"


def _process_category(process: str, exclusive: bool, vkind: int) -> int:
    if vkind == V_DEVICE and process != "hugetlb":
        return DEVICE  # the mapping level's device mapping (A.5 step 2): every page in it is device
    if process == "anon":
        return ANON if exclusive else COW
    if process == "cache":
        return SHARED if vkind == V_SECRETMEM else COW if vkind == V_COW_PENDING else FILE
    if process == "driver":
        return SHARED if vkind == V_SECRETMEM else DEVICE
    return {"device": DEVICE, "zero": ZERO, "cow": COW, "shared": SHARED, "hugetlb": NONE}[process]


def _decision_table() -> list[list[list[int]]]:
    """TABLE[flag class][exclusive bit][mapping kind] -> category."""
    rows = [r.process for r in RULES] + ["driver"]
    return [[[_process_category(p, bool(excl), vk) for vk in range(len(MAPPING_KINDS))] for excl in (0, 1)]
            for p in rows]


DECISION_TABLE = _decision_table()
DECISION_TABLE_BYTES = bytes(cat for per_excl in DECISION_TABLE for row in per_excl for cat in row)

# Page detail bits (one byte per PFN): what only kpageflags can say about resident pages, as
# (must be set, must be clear) masks.
DETAIL_BITS = ("ksm", "lazyfree", "dirty", "writeback", "mlocked", "unevictable", "thp", "swapcache")
DETAIL_MASKS = (
    (kpf_mask("ksm"), 0),
    (kpf_mask("anon"), kpf_mask("swapbacked")),         # MADV_FREE'd (B.4: SWAPBACKED cleared)
    (kpf_mask("dirty"), kpf_mask("anon", "swapbacked")),  # dirty page cache (shmem is always DIRTY)
    (kpf_mask("writeback"), 0),
    (kpf_mask("mlocked"), 0),
    (kpf_mask("unevictable"), 0),
    (kpf_mask("thp"), 0),
    (kpf_mask("swapcache"), 0),
)
