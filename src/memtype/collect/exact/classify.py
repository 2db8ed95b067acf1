"""The per-page decision table of kernel-spec.md B.3, vectorised: arrays in, a category per page out.

First match wins, as in the table; ``np.select`` keeps that order. Without CAP_SYS_ADMIN the PFNs
read as 0 (spec G.2) and only the pagemap bits decide (``classify_by_bits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memtype.parse.pagebits import PM_EXCLUSIVE, PM_FILE, PM_GUARD, PM_PRESENT, PM_SWAP, kpf_mask

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U64 = npt.NDArray[np.uint64]
    I8 = npt.NDArray[np.int8]

# Page categories (codes in the result arrays).
NONE, ANON, SHARED, COW, FILE, DEVICE, ZERO, SWAP = range(8)
CATEGORY_NAMES = ("none", "anonymous", "shared", "cow", "file", "device", "zero", "swap")

# What a page's mapping says about it (one code per mapping, broadcast to its pages).
V_PLAIN, V_DEVICE, V_COW_PENDING, V_SECRETMEM, V_SHMEM = range(5)

KERNEL_PAGE = kpf_mask("slab", "pgtable", "buddy", "offline", "nopage")  # row 6-7; SLAB fakes ANON|KSM (B.6)


def _bit(pm: U64, bit: int) -> npt.NDArray[np.bool_]:
    import numpy as np

    out: npt.NDArray[np.bool_] = (pm >> np.uint64(bit)) & np.uint64(1) == np.uint64(1)
    return out


def _has(kf: U64, mask: int) -> npt.NDArray[np.bool_]:
    import numpy as np

    out: npt.NDArray[np.bool_] = (kf & np.uint64(mask)) != np.uint64(0)
    return out


# What the flags of one physical page say, before its mapping is known (rows 6-13 and 15 of B.3).
FC_KERNEL, FC_ZERO, FC_KSM, FC_ANON_SHARED, FC_ANON, FC_HUGE, FC_SHMEM, FC_DRIVER, FC_CACHE = range(9)
N_FLAG_CLASSES = 9


def flag_classes(kf: U64, kc: U64) -> I8:
    """One flag class per PFN (computed once per distinct page, however many processes map it)."""
    import numpy as np

    anon = _has(kf, kpf_mask("anon"))
    conditions = [
        _has(kf, KERNEL_PAGE),                                          # 6-7
        _has(kf, kpf_mask("zero_page")),                                # 8
        _has(kf, kpf_mask("ksm")),                                      # 9
        anon & (kc > np.uint64(1)),                                     # 10 (mapped twice or more)
        anon,                                                           # 10-11: the pagemap bit 56 decides
        _has(kf, kpf_mask("huge")),                                     # 12
        _has(kf, kpf_mask("swapbacked")),                               # 13
        _has(kf, kpf_mask("reserved")) | ~_has(kf, kpf_mask("uptodate", "lru")),  # 15
    ]
    choices = [FC_KERNEL, FC_ZERO, FC_KSM, FC_ANON_SHARED, FC_ANON, FC_HUGE, FC_SHMEM, FC_DRIVER]
    out: I8 = np.select(conditions, choices, default=FC_CACHE).astype(np.int8)
    return out


def _decision_table() -> list[list[list[int]]]:
    """TABLE[flag class][exclusive bit][mapping kind] -> category, in the row order of B.3."""
    table = []
    for fc in range(N_FLAG_CLASSES):
        per_excl = []
        for excl in (0, 1):
            row = []
            for vk in range(5):
                if vk == V_DEVICE or fc in (FC_KERNEL,):         # 15 (mapping), 6-7
                    cat = DEVICE
                elif fc == FC_ZERO:                              # 8
                    cat = ZERO
                elif fc in (FC_KSM, FC_ANON_SHARED):             # 9, 10
                    cat = COW
                elif fc == FC_ANON:                              # 10 (bit 56 clear), 11
                    cat = ANON if excl else COW
                elif fc in (FC_HUGE, FC_SHMEM):                  # 12, 13
                    cat = SHARED
                elif vk == V_SECRETMEM:                          # 14
                    cat = SHARED
                elif fc == FC_DRIVER:                            # 15 (page)
                    cat = DEVICE
                elif vk == V_COW_PENDING:                        # 16
                    cat = COW
                else:                                            # 17
                    cat = FILE
                row.append(cat)
            per_excl.append(row)
        table.append(per_excl)
    return table


DECISION_TABLE = _decision_table()
DECISION_TABLE_BYTES = bytes(cat for per_excl in DECISION_TABLE for row in per_excl for cat in row)

# The flag-class tests of ``flag_classes`` as masks, in the same order, for the compiled reader:
# test k hits when flags & mask != 0, except ANON_SHARED (also kpagecount > 1) and DRIVER (also hits
# when none of UPTODATE|LRU is set, the last mask).
FLAG_CLASS_MASKS = (KERNEL_PAGE, kpf_mask("zero_page"), kpf_mask("ksm"), kpf_mask("anon"), kpf_mask("anon"),
                    kpf_mask("huge"), kpf_mask("swapbacked"), kpf_mask("reserved"), kpf_mask("uptodate", "lru"))


def classify_pages(pm: U64, fc: I8, vkind: I8) -> I8:
    """Category of every page from its pagemap entry, its PFN's flag class and its mapping's kind."""
    import numpy as np

    table = np.array(DECISION_TABLE, dtype=np.int8)
    present = _bit(pm, PM_PRESENT)
    excl = _bit(pm, PM_EXCLUSIVE).astype(np.int8)
    on_page: I8 = table[fc, excl, vkind]
    return _with_absent(pm, present, on_page)


# Page detail bits (one byte per PFN): what only kpageflags can say about resident pages.
DETAIL_BITS = ("ksm", "lazyfree", "dirty", "writeback", "mlocked", "unevictable", "thp", "swapcache")


# (must be set, must be clear) per DETAIL_BITS entry, for the compiled reader; detail_bits() agrees.
DETAIL_MASKS = (
    (kpf_mask("ksm"), 0),
    (kpf_mask("anon"), kpf_mask("swapbacked")),
    (kpf_mask("dirty"), kpf_mask("anon", "swapbacked")),
    (kpf_mask("writeback"), 0),
    (kpf_mask("mlocked"), 0),
    (kpf_mask("unevictable"), 0),
    (kpf_mask("thp"), 0),
    (kpf_mask("swapcache"), 0),
)


def detail_bits(kf: U64) -> npt.NDArray[np.uint8]:
    import numpy as np

    anon, swapbacked = _has(kf, kpf_mask("anon")), _has(kf, kpf_mask("swapbacked"))
    tests = [
        _has(kf, kpf_mask("ksm")),
        anon & ~swapbacked,                                   # MADV_FREE'd (B.4: SWAPBACKED cleared)
        _has(kf, kpf_mask("dirty")) & ~anon & ~swapbacked,    # dirty page cache (shmem is always DIRTY)
        _has(kf, kpf_mask("writeback")),
        _has(kf, kpf_mask("mlocked")),
        _has(kf, kpf_mask("unevictable")),
        _has(kf, kpf_mask("thp")),
        _has(kf, kpf_mask("swapcache")),
    ]
    out = np.zeros(len(kf), dtype=np.uint8)
    for bit, test in enumerate(tests):
        out |= test.astype(np.uint8) << np.uint8(bit)
    return out


def classify_by_bits(pm: U64, vkind: I8) -> I8:
    """Without PFNs: present / swapped / exclusive / file bits only (spec G.2 "unprivileged mode").

    The 4K zero page is present, not exclusive and not file: it reads as copy-on-write here, and the
    caller moves the excess over smaps Rss back to ZERO per mapping.
    """
    import numpy as np

    present = _bit(pm, PM_PRESENT)
    file_bit = _bit(pm, PM_FILE)
    conditions = [vkind == V_DEVICE, file_bit & (vkind == V_SHMEM), file_bit & (vkind == V_COW_PENDING), file_bit,
                  ~_bit(pm, PM_EXCLUSIVE)]
    on_page = np.select(conditions, [DEVICE, SHARED, COW, FILE, COW], default=ANON).astype(np.int8)
    return _with_absent(pm, present, on_page)


def _with_absent(pm: U64, present: npt.NDArray[np.bool_], on_page: I8) -> I8:
    """Rows 1-3: guard regions cost nothing; swapped anon/private pages are SWAP; the rest NONE."""
    import numpy as np

    swapped = _bit(pm, PM_SWAP) & ~_bit(pm, PM_GUARD) & ~present
    return np.where(present & ~_bit(pm, PM_GUARD), on_page, np.where(swapped, SWAP, NONE)).astype(np.int8)
