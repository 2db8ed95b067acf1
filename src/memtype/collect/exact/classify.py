"""The page decision table of ``memtype.model.pages``, vectorised: arrays in, a category per page out.

First match wins, as in the table; ``np.select`` keeps that order. Without CAP_SYS_ADMIN the PFNs
read as 0 (spec G.2) and only the pagemap bits decide (``classify_by_bits``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memtype.model.pages import (ANON, COW, DECISION_TABLE, DETAIL_MASKS, DEVICE, FILE, NONE, RULE_MASKS, SHARED,
                                 SWAP, V_COW_PENDING, V_DEVICE, V_SHMEM)
from memtype.parse.pagebits import PM_EXCLUSIVE, PM_FILE, PM_GUARD, PM_PRESENT, PM_SWAP

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U64 = npt.NDArray[np.uint64]
    I8 = npt.NDArray[np.int8]


def _bit(pm: U64, bit: int) -> npt.NDArray[np.bool_]:
    import numpy as np

    out: npt.NDArray[np.bool_] = (pm >> np.uint64(bit)) & np.uint64(1) == np.uint64(1)
    return out


def flag_classes(kf: U64, kc: U64) -> I8:
    """The first matching rule of ``memtype.model.pages.RULES`` per PFN (computed once per distinct
    page, however many processes map it)."""
    import numpy as np

    conditions = []
    for want_all, want_any, want_none, low, high in RULE_MASKS:
        hit = np.ones(len(kf), dtype=np.bool_)
        if want_all:
            hit &= (kf & np.uint64(want_all)) == np.uint64(want_all)
        if want_any:
            hit &= (kf & np.uint64(want_any)) != np.uint64(0)
        if want_none:
            hit &= (kf & np.uint64(want_none)) == np.uint64(0)
        if low:
            hit &= kc >= np.uint64(low)
        if high < (1 << 64) - 1:
            hit &= kc <= np.uint64(high)
        conditions.append(hit)
    out: I8 = np.select(conditions, list(range(len(RULE_MASKS))), default=len(RULE_MASKS)).astype(np.int8)
    return out


def classify_pages(pm: U64, fc: I8, vkind: I8) -> I8:
    """Category of every page from its pagemap entry, its PFN's flag class and its mapping's kind."""
    import numpy as np

    table = np.array(DECISION_TABLE, dtype=np.int8)
    present = _bit(pm, PM_PRESENT)
    excl = _bit(pm, PM_EXCLUSIVE).astype(np.int8)
    on_page: I8 = table[fc, excl, vkind]
    return _with_absent(pm, present, on_page)


def detail_bits(kf: U64) -> npt.NDArray[np.uint8]:
    """The page detail byte of each PFN (``memtype.model.pages.DETAIL_BITS``)."""
    import numpy as np

    out = np.zeros(len(kf), dtype=np.uint8)
    for bit, (must_set, must_clear) in enumerate(DETAIL_MASKS):
        test = ((kf & np.uint64(must_set)) != np.uint64(0)) & ((kf & np.uint64(must_clear)) == np.uint64(0))
        out |= test.astype(np.uint8) << np.uint8(bit)
    return out


def classify_by_bits(pm: U64, vkind: I8) -> I8:
    """Without PFNs: present / swapped / exclusive / file bits only (spec G.2 "unprivileged mode").

    The 4K zero page is present, not exclusive and not file: it reads as copy-on-write here, and the
    caller moves the excess over smaps Rss back to ZERO per mapping.
    """
    import numpy as np

    file_bit = _bit(pm, PM_FILE)
    conditions = [vkind == V_DEVICE, file_bit & (vkind == V_SHMEM), file_bit & (vkind == V_COW_PENDING), file_bit,
                  ~_bit(pm, PM_EXCLUSIVE)]
    on_page = np.select(conditions, [DEVICE, SHARED, COW, FILE, COW], default=ANON).astype(np.int8)
    return _with_absent(pm, _bit(pm, PM_PRESENT), on_page)


def _with_absent(pm: U64, present: npt.NDArray[np.bool_], on_page: I8) -> I8:
    """Rows 1-3 of B.3: guard regions cost nothing; swapped anon/private pages are SWAP; the rest NONE."""
    import numpy as np

    swapped = _bit(pm, PM_SWAP) & ~_bit(pm, PM_GUARD) & ~present
    return np.where(present & ~_bit(pm, PM_GUARD), on_page, np.where(swapped, SWAP, NONE)).astype(np.int8)
