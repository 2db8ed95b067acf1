"""Page-level results into memtype's records: shared by the compiled and the numpy pass 3.

A walk record (one per mapping whose pagemap --exact reads) has the columns W_*; a category code per
page comes from ``memtype.model.pages``. Here the per-category page counts and PSS bytes become
each process's (and mapping's) KindUsage, Totals and page detail.
"""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.pages import ANON, CATEGORY_NAMES, COW, DETAIL_BITS, DEVICE, FILE, SHARED, SWAP, ZERO
from memtype.model.records import KindUsage, Mapping, ProcessMemory, Totals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# Columns of a walk record (the compiled reader returns the same layout).
W_INDEX, W_FIRST, W_PAGES, W_VKIND, W_RSS, W_PSS = range(6)
W_FIELDS = 6
KIND_CODES = ((Kind.ANONYMOUS, ANON), (Kind.SHARED, SHARED), (Kind.COW, COW), (Kind.FILE, FILE), (Kind.DEVICE, DEVICE))
NCAT = len(CATEGORY_NAMES)
# The page detail only pages can give (JSON "pages"): bytes of classified resident pages.
DETAIL = ("zero", "ksm", "lazyfree", "dirty", "writeback", "mlocked", "unevictable", "thp", "swapcache")
UNPRIVILEGED_NOTE = ("page frame numbers are hidden without CAP_SYS_ADMIN: --exact used the pagemap bits "
                     "only (present, swapped, exclusive, file); no KSM, lazyfree, dirty or THP detail")


def apply_pages(proc: ProcessMemory, pages: Sequence[int], pss: Sequence[int], uss: int | None,
                detail: list[int] | None, page: int) -> ProcessMemory:
    """``proc`` with its mapping-level split replaced by the page-level one (a new record)."""
    level = proc.categories  # mapping level: the source of shmem swap and of every swap_pss (smaps only)
    swap_bytes = int(pages[SWAP]) * page
    kinds = {k: KindUsage(int(pages[code]) * page, int(pss[code])) for k, code in KIND_CODES}
    kinds[Kind.ANONYMOUS] = KindUsage(kinds[Kind.ANONYMOUS].rss, kinds[Kind.ANONYMOUS].pss, swap_bytes,
                                      min(level[Kind.ANONYMOUS].swap_pss + level[Kind.COW].swap_pss, swap_bytes))
    kinds[Kind.SHARED] = KindUsage(kinds[Kind.SHARED].rss, kinds[Kind.SHARED].pss, level[Kind.SHARED].swap,
                                   level[Kind.SHARED].swap_pss)
    t = proc.totals
    totals = Totals(t.size, sum(u.rss for u in kinds.values()), sum(u.pss for u in kinds.values()),
                    t.uss if uss is None else uss, sum(u.swap for u in kinds.values()),
                    sum(u.swap_pss for u in kinds.values()), t.hugetlb, t.device_mapped, t.locked, t.lazyfree,
                    t.anon_huge, t.file_huge, *_cow_file(t, kinds[Kind.COW]))
    out: dict[str, int | None] = {name: None for name in DETAIL}
    out["zero"] = int(pages[ZERO]) * page  # virtual bytes mapped to the zero page: they cost no RAM
    if detail is not None:
        out.update(zip(DETAIL_BITS, detail))
    return proc.replace(totals=totals, categories=kinds, pages=out, exact=True)


def _cow_file(level: Totals, cow: KindUsage) -> tuple[int, int]:
    """The file-backed part of the page-level cow kind: the mapping level's (smaps: Rss - Anonymous of
    the private writable file maps, page cache present there), within the pages counted cow. The page
    table has no category of its own for it: in a cow-pending mapping both a fork-shared anon page and
    an unwritten page-cache page are cow (B.3 rows 10 and 16)."""
    return min(level.cow_file, cow.rss), min(level.cow_file_pss, cow.pss)


def account_mappings(mappings: list[Mapping], walked: list[int], pages: Sequence[int], pss: Sequence[int],
                     page: int) -> list[Mapping]:
    """The page-level split of each mapping (``maps --exact``), as new records; mappings not walked
    have no pages.

    ``pages`` and ``pss`` are flat, NCAT values per walked mapping."""
    row_of = {n: row for row, n in enumerate(walked)}
    done = []
    for n, m in enumerate(mappings):
        row = row_of.get(n)
        kinds = {k: KindUsage() for k in KINDS}
        if row is not None:
            for k, code in KIND_CODES:
                kinds[k] = KindUsage(int(pages[row * NCAT + code]) * page, int(pss[row * NCAT + code]))
            anon_swap = int(pages[row * NCAT + SWAP]) * page
            kinds[Kind.ANONYMOUS] = KindUsage(kinds[Kind.ANONYMOUS].rss, kinds[Kind.ANONYMOUS].pss, anon_swap,
                                              min(m.categories[Kind.ANONYMOUS].swap_pss, anon_swap))
            kinds[Kind.SHARED] = KindUsage(kinds[Kind.SHARED].rss, kinds[Kind.SHARED].pss,
                                           m.categories[Kind.SHARED].swap, m.categories[Kind.SHARED].swap_pss)
        t = m.totals
        done.append(m.replace(totals=Totals(t.size, sum(u.rss for u in kinds.values()),
                                            sum(u.pss for u in kinds.values()), t.uss,
                                            sum(u.swap for u in kinds.values()),
                                            sum(u.swap_pss for u in kinds.values()), t.hugetlb, t.device_mapped,
                                            t.locked, t.lazyfree, t.anon_huge, t.file_huge,
                                            *_cow_file(t, kinds[Kind.COW])),
                              categories=kinds))
    return done
