"""Page-exact processes (``ps --exact``, ``maps --exact``): every resident page classified by B.3.

Three passes, so each kernel file is read once per page at most:
1. per process, in the reader threads right after its smaps: one pagemap ``pread`` per mapping that
   has resident or swapped pages (never the whole address space; spec B.5), keeping only present
   or swapped entries;
2. all PFNs of all processes, de-duplicated: kpageflags and kpagecount in runs;
3. per process: classify (numpy, no per-page Python) and count bytes per kind (and per mapping for
   ``maps``).

Kinds still add up: per process the kinds' rss is the number of classified resident pages and
their pss the sum of page_size / kpagecount. Shmem swap is invisible in pagemap (spec E.1, surprise
7), so the shared kind's swap and every swap_pss come from smaps. Hugetlb pages stay outside the
kinds, as at mapping level.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from memtype.collect.scan import scan, shmem_devs
from memtype.errors import AccessDenied, MemtypeError, ProcessGone
from memtype.kinds import KINDS, Kind
from memtype.model.classify import Classifier, MapClass
from memtype.model.records import KindUsage, ProcessMemory, Scan, Totals
from memtype.pages import classify as pc
from memtype.pages.numpy_import import numpy
from memtype.pages.reader import gather, pread_ranges
from memtype.parse.pagebits import PM_EXCLUSIVE, PM_PFN_MASK, PM_PRESENT, kpf_mask
from memtype.parse.smaps import compiled, parse_smaps
from memtype.source.root import Root

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import numpy as np
    import numpy.typing as npt

_NOT_WALKED = {MapClass.DEVICE_PFN, MapClass.ANON_HUGETLB, MapClass.SHMEM_HUGETLB}
_KIND_CODES = ((Kind.ANONYMOUS, pc.ANON), (Kind.SHARED, pc.SHARED), (Kind.COW, pc.COW), (Kind.FILE, pc.FILE),
               (Kind.DEVICE, pc.DEVICE))
NCAT = len(pc.CATEGORY_NAMES)
# A private anon map with Rss 0 may still map the zero page (read faults: spec surprise 2). Such maps
# are walked up to this size, so their zero pages are counted without reading the pagemap of huge
# reservations (a 20 GiB CUDA reservation would be 40 MiB of pagemap).
ZERO_ONLY_WALK_LIMIT = 64 << 20
# The page detail only pages can give (JSON "pages"): bytes of classified resident pages.
DETAIL = ("zero", "ksm", "lazyfree", "dirty", "writeback", "mlocked", "unevictable", "thp", "swapcache")
UNPRIVILEGED_NOTE = ("page frame numbers are hidden without CAP_SYS_ADMIN: --exact used the pagemap bits "
                     "only (present, swapped, exclusive, file); no KSM, lazyfree, dirty or THP detail")


def vkind_of(cls: MapClass, path: str) -> int:
    """What a page's mapping tells the decision table (rows 14-16 of B.3)."""
    if cls is MapClass.DEVICE:
        return pc.V_DEVICE
    if path.startswith("/secretmem"):
        return pc.V_SECRETMEM
    if cls is MapClass.FILE_COW_PENDING:
        return pc.V_COW_PENDING
    if cls in (MapClass.SHMEM, MapClass.SHMEM_PRIVATE):
        return pc.V_SHMEM
    return pc.V_PLAIN


class _Pages:
    """Pass 1 for one process: present/swapped pagemap entries and the mapping each belongs to."""

    __slots__ = ("pm", "vidx", "walked", "vkinds", "rss_pages", "pss_pages")

    def __init__(self, pm: npt.NDArray[np.uint64], vidx: npt.NDArray[np.int32], walked: list[int],
                 vkinds: npt.NDArray[np.int8], rss_pages: npt.NDArray[np.float64],
                 pss_pages: npt.NDArray[np.float64]) -> None:
        self.pm, self.vidx = pm, vidx
        self.walked = walked  # index of each walked mapping in smaps order (= ProcessMemory.mappings order)
        self.vkinds, self.rss_pages, self.pss_pages = vkinds, rss_pages, pss_pages


# Columns of a walk record (the compiled reader returns the same layout).
W_INDEX, W_FIRST, W_PAGES, W_VKIND, W_RSS, W_PSS = range(6)
W_FIELDS = 6


def _pagemap_error(exc: OSError, pid: int) -> MemtypeError:
    import errno

    if exc.errno in (errno.ESRCH, errno.ENOENT):
        return ProcessGone(pid, "pagemap")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"proc/{pid}/pagemap", pid)
    return MemtypeError(f"proc/{pid}/pagemap: {exc.strerror}")


class _PagemapReader:
    """The ``visit`` hook of ``scan``: reads a process's pagemap right after its smaps."""

    def __init__(self, classifier: Classifier, page: int) -> None:
        self.classifier, self.page = classifier, page
        self.pages: dict[int, _Pages] = {}

    def __call__(self, proc: ProcessMemory, smaps: bytes) -> None:
        import numpy as np

        try:
            fd = os.open(f"/proc/{proc.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ProcessGone(proc.pid, "pagemap") from None
        except PermissionError:
            raise AccessDenied(f"proc/{proc.pid}/pagemap", proc.pid) from None
        try:
            walked = self._walk_compiled(fd, proc.pid, smaps)
            if walked is None:
                walked = self._walk(fd, proc.pid, smaps)
        finally:
            os.close(fd)
        data, records = walked
        # one array and one filter per process, not per mapping: keep present or swapped entries only
        pm = np.frombuffer(data, dtype=np.uint64)
        vidx = np.repeat(np.arange(len(records), dtype=np.int32), records[:, W_PAGES])
        keep = (pm >> np.uint64(62)) != np.uint64(0)
        kb_pages = self.page / 1024
        self.pages[proc.pid] = _Pages(pm[keep], vidx[keep], records[:, W_INDEX].tolist(),
                                      records[:, W_VKIND].astype(np.int8), records[:, W_RSS] / kb_pages,
                                      records[:, W_PSS] / kb_pages)

    def _walk_compiled(self, fd: int, pid: int, smaps: bytes) -> tuple[bytes, npt.NDArray[np.int64]] | None:
        """The compiled reader picks the mappings and reads their pagemap (same rules as ``_walk``)."""
        import numpy as np

        fast = compiled()
        if fast is None:
            return None
        classes, classify = self.classifier.compiled_cache()
        try:
            data, records = fast.walk_pagemap(smaps, classes, classify, fd, self.page, ZERO_ONLY_WALK_LIMIT)
        except ValueError:
            return None  # damaged smaps: the tolerant parser below
        except EOFError:
            raise ProcessGone(pid, "pagemap") from None
        except OSError as exc:
            raise _pagemap_error(exc, pid) from None
        return data, np.frombuffer(records, dtype=np.int64).reshape(-1, W_FIELDS)

    def _walk(self, fd: int, pid: int, smaps: bytes) -> tuple[bytes, npt.NDArray[np.int64]]:
        import numpy as np

        parsed = parse_smaps(smaps)
        names = parsed.names
        i_rss, i_pss = names.index("Rss"), names.index("Pss")
        i_swap = names.index("Swap") if "Swap" in names else -1
        page = self.page
        rows: list[list[int]] = []
        for n, v in enumerate(parsed.vmas):
            if v.path == "[vsyscall]":
                continue
            cls = self.classifier.mapclass(v.path, v.perms, v.vmflags, v.dev)
            if cls in _NOT_WALKED:
                continue
            vals = v.values
            if not (vals[i_rss] or (i_swap >= 0 and vals[i_swap])) and not (
                    cls is MapClass.ANON and v.end - v.start <= ZERO_ONLY_WALK_LIMIT):
                continue  # nothing resident; small anon maps are still walked for zero-page reads
            rows.append([n, v.start // page, (v.end - v.start) // page, vkind_of(cls, v.path), vals[i_rss],
                         vals[i_pss]])
        records = np.array(rows, dtype=np.int64).reshape(-1, W_FIELDS)
        data = pread_ranges(fd, (records[:, W_FIRST] * 8).tolist(), (records[:, W_PAGES] * 8).tolist(), pid)
        return data, records


def scan_exact(root: str | Root = "/", pids: Iterable[int] | None = None, *, mappings: bool = False,
               cmdline: bool = False, exe: bool = False, jobs: int | None = None) -> Scan:
    """Like ``memtype.scan`` with every page classified (root for PFNs; see UNPRIVILEGED_NOTE)."""
    numpy()  # a clear error when numpy is missing
    import numpy as np

    r = root if isinstance(root, Root) else Root(root)
    if not r.live:
        raise MemtypeError("--exact reads pagemap of live processes; it does not work on a capture (--root)")
    reader = _PagemapReader(Classifier(shmem_devs(r)), os.sysconf("SC_PAGE_SIZE"))
    result = scan(r, pids, mappings=mappings, cmdline=cmdline, exe=exe, jobs=jobs, visit=reader)
    page = result.host.page_size
    gathered = [(p, reader.pages[p.pid]) for p in result.processes if p.pid in reader.pages]

    ons = [(g.pm >> np.uint64(PM_PRESENT)) == np.uint64(1) for _, g in gathered]
    pfn_lists = [g.pm[on] & np.uint64(PM_PFN_MASK) for (_, g), on in zip(gathered, ons)]
    pfns, lookup = _distinct(pfn_lists)
    per_pfn: _PerPfn | None = None
    if len(pfns) and pfns[-1] != 0:
        flags, counts = _kpage(pfns)
        if flags is not None and counts is not None:
            per_pfn = _PerPfn(pc.flag_classes(flags, counts), 1.0 / np.maximum(counts, np.uint64(1)),
                              counts == np.uint64(1), pc.detail_bits(flags))
    if per_pfn is None and len(pfns):
        result.warnings.append(UNPRIVILEGED_NOTE)
    for (proc, g), on, pfn in zip(gathered, ons, pfn_lists):
        _account(proc, g, on, lookup(pfn) if per_pfn is not None else None, per_pfn, page, mappings)
    return result


def _kpage(pfns: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint64] | None, npt.NDArray[np.uint64] | None]:
    """kpageflags and kpagecount of the PFNs, or (None, None) where they are not readable."""
    out = []
    for path, missing in (("/proc/kpageflags", kpf_mask("nopage")), ("/proc/kpagecount", 0)):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None, None
        try:
            out.append(gather(fd, pfns, path, missing))
        finally:
            os.close(fd)
    return out[0], out[1]


class _PerPfn:
    """Everything pass 3 needs about each distinct PFN, computed once (not once per mapper)."""

    __slots__ = ("flag_class", "weight", "single", "detail")

    def __init__(self, flag_class: npt.NDArray[np.int8], weight: npt.NDArray[np.float64],
                 single: npt.NDArray[np.bool_], detail: npt.NDArray[np.uint8]) -> None:
        self.flag_class = flag_class  # pages.classify FC_*
        self.weight = weight          # page share of PSS: 1 / kpagecount
        self.single = single          # kpagecount == 1: counts in USS
        self.detail = detail          # pages.classify DETAIL_BITS


DENSE_LIMIT = 1 << 26  # PFNs (256 GiB of 4 KiB pages): up to here a position table beats sorting


def _distinct(pfn_lists: list[npt.NDArray[np.uint64]]
              ) -> tuple[npt.NDArray[np.uint64], Callable[[npt.NDArray[np.uint64]], npt.NDArray[np.intp]]]:
    """The sorted distinct PFNs, and a function giving each PFN's position among them."""
    import numpy as np

    if not pfn_lists or not sum(len(x) for x in pfn_lists):
        empty = np.zeros(0, np.uint64)
        return empty, lambda pfn: np.zeros(len(pfn), np.intp)
    top = max(int(x.max()) for x in pfn_lists if len(x))
    if top < DENSE_LIMIT:  # O(n): mark, list, and a position table of 4 bytes per PFN up to the highest
        seen = np.zeros(top + 1, dtype=np.bool_)
        for x in pfn_lists:
            seen[x] = True
        pfns = np.flatnonzero(seen).astype(np.uint64)
        del seen
        position = np.zeros(top + 1, dtype=np.int32)
        position[pfns] = np.arange(len(pfns), dtype=np.int32)
        return pfns, lambda pfn: position[pfn].astype(np.intp)
    pfns = np.unique(np.concatenate(pfn_lists))
    return pfns, lambda pfn: np.searchsorted(pfns, pfn)


def _account(proc: ProcessMemory, g: _Pages, on: npt.NDArray[np.bool_], idx: npt.NDArray[np.intp] | None,
             per_pfn: _PerPfn | None, page: int, mappings: bool) -> None:
    """Replace the mapping-level split of ``proc`` (and of its mappings) with the page-level one."""
    import numpy as np

    vk = g.vkinds[g.vidx] if len(g.walked) else np.zeros(0, np.int8)
    single: npt.NDArray[np.bool_] | None = None
    detail: npt.NDArray[np.uint8] | None = None
    if per_pfn is not None and idx is not None:
        fc = np.zeros(len(g.pm), np.int8)
        fc[on] = per_pfn.flag_class[idx]
        cat = pc.classify_pages(g.pm, fc, vk)
        weight = np.zeros(len(g.pm))
        weight[on] = per_pfn.weight[idx]
        single = np.zeros(len(g.pm), np.bool_)
        single[on] = per_pfn.single[idx]
        detail = np.zeros(len(g.pm), np.uint8)
        detail[on] = per_pfn.detail[idx]
    else:
        cat = pc.classify_by_bits(g.pm, vk)
        cat = _zero_pages_by_rss(g, cat)
        weight = _weights_without_counts(g, cat)
    nmaps = len(g.walked)
    key = g.vidx.astype(np.int64) * NCAT + cat
    pages = np.bincount(key, minlength=nmaps * NCAT).reshape(nmaps, NCAT)
    pss = np.bincount(key, weights=weight, minlength=nmaps * NCAT).reshape(nmaps, NCAT).astype(np.float64)
    level = proc.categories  # mapping level: the source of shmem swap and of every swap_pss (smaps only)
    # PSS bytes are rounded per mapping, and the process sums those: its kinds then equal the sum of
    # its mappings' kinds to the byte (maps --exact), as the mapping level does with smaps' kB.
    pss_bytes = np.rint(pss * page).astype(np.int64)
    per_kind_pages, per_kind_pss = pages.sum(axis=0), pss_bytes.sum(axis=0)
    swap_bytes = int(per_kind_pages[pc.SWAP]) * page
    kinds = {k: KindUsage(int(per_kind_pages[code]) * page, int(per_kind_pss[code])) for k, code in _KIND_CODES}
    kinds[Kind.ANONYMOUS].swap = swap_bytes
    kinds[Kind.ANONYMOUS].swap_pss = min(level[Kind.ANONYMOUS].swap_pss + level[Kind.COW].swap_pss, swap_bytes)
    kinds[Kind.SHARED].swap = level[Kind.SHARED].swap
    kinds[Kind.SHARED].swap_pss = level[Kind.SHARED].swap_pss
    resident = (cat >= pc.ANON) & (cat <= pc.DEVICE)
    t = proc.totals
    uss = int(np.count_nonzero(resident & single)) * page if single is not None else t.uss
    proc.totals = Totals(t.size, sum(u.rss for u in kinds.values()), sum(u.pss for u in kinds.values()), uss,
                         sum(u.swap for u in kinds.values()), sum(u.swap_pss for u in kinds.values()), t.hugetlb,
                         t.device_mapped, t.locked, t.lazyfree, t.anon_huge)
    proc.categories = kinds
    proc.pages = _detail(resident, detail, page, int(per_kind_pages[pc.ZERO]))
    proc.exact = True
    if mappings and proc.mappings is not None:
        _account_mappings(proc, g, pages, pss_bytes, page)


def _account_mappings(proc: ProcessMemory, g: _Pages, pages: npt.NDArray[np.intp], pss: npt.NDArray[np.int64],
                      page: int) -> None:
    maps = proc.mappings or []
    row_of = {n: row for row, n in enumerate(g.walked)}
    for n, m in enumerate(maps):
        row = row_of.get(n)
        kinds = {k: KindUsage() for k in KINDS}
        if row is not None:  # mappings not walked have no resident pages in the kinds (pf/io, hugetlb)
            for k, code in _KIND_CODES:
                kinds[k] = KindUsage(int(pages[row, code]) * page, int(pss[row, code]))
            kinds[Kind.ANONYMOUS].swap = int(pages[row, pc.SWAP]) * page
            kinds[Kind.ANONYMOUS].swap_pss = min(m.categories[Kind.ANONYMOUS].swap_pss, kinds[Kind.ANONYMOUS].swap)
            kinds[Kind.SHARED].swap = m.categories[Kind.SHARED].swap
            kinds[Kind.SHARED].swap_pss = m.categories[Kind.SHARED].swap_pss
        t = m.totals
        m.totals = Totals(t.size, sum(u.rss for u in kinds.values()), sum(u.pss for u in kinds.values()), t.uss,
                          sum(u.swap for u in kinds.values()), sum(u.swap_pss for u in kinds.values()), t.hugetlb,
                          t.device_mapped, t.locked, t.lazyfree, t.anon_huge)
        m.categories = kinds


def _zero_pages_by_rss(g: _Pages, cat: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
    """Without PFNs the 4K zero page reads as present, non-exclusive anon (COW). smaps Rss excludes it,
    so per mapping the COW pages beyond Rss are zero pages (spec B.1: bit 61 and 56 clear, present)."""
    import numpy as np

    n = len(g.walked)
    if not n:
        return cat
    resident = np.bincount(g.vidx, weights=((cat >= pc.ANON) & (cat <= pc.DEVICE)).astype(np.float64), minlength=n)
    excess = np.maximum(resident - g.rss_pages, 0).astype(np.int64)
    if not excess.any():
        return cat
    out = cat.copy()
    for row in np.flatnonzero(excess).tolist():
        cows = np.flatnonzero((g.vidx == row) & (out == pc.COW))[: int(excess[row])]
        out[cows] = pc.ZERO
    return out


def _weights_without_counts(g: _Pages, cat: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
    """Without kpagecount: exclusive pages weigh 1; the others share what remains of the mapping's Pss."""
    import numpy as np

    n = len(g.walked)
    excl = ((g.pm >> np.uint64(PM_EXCLUSIVE)) & np.uint64(1)) == np.uint64(1)
    resident = (cat >= pc.ANON) & (cat <= pc.DEVICE)
    if not n:
        return np.where(excl, 1.0, 0.0)
    shared = np.bincount(g.vidx, weights=(resident & ~excl).astype(np.float64), minlength=n)
    own = np.bincount(g.vidx, weights=(resident & excl).astype(np.float64), minlength=n)
    share = np.where(shared > 0, np.maximum(g.pss_pages - own, 0) / np.maximum(shared, 1), 0.0)
    out: npt.NDArray[np.float64] = np.where(resident, np.where(excl, 1.0, share[g.vidx]), 0.0)
    return out


def _detail(resident: npt.NDArray[np.bool_], detail: npt.NDArray[np.uint8] | None, page: int, zero_pages: int
            ) -> dict[str, int | None]:
    """Bytes of resident pages with each attribute (None where kpageflags could not be read)."""
    import numpy as np

    out: dict[str, int | None] = {name: None for name in DETAIL}
    out["zero"] = zero_pages * page  # virtual bytes mapped to the zero page: they cost no RAM
    if detail is None:
        return out
    bits = detail[resident]
    for bit, name in enumerate(pc.DETAIL_BITS):
        out[name] = int(np.count_nonzero(bits & np.uint8(1 << bit))) * page
    return out
