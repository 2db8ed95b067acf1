"""Page-exact processes (``ps --exact``, ``maps --exact``): every resident page classified by B.3.

Three passes, so each kernel file is read once per page at most:
1. per process, in the reader threads right after its smaps: one pagemap ``pread`` per mapping that
   has resident or swapped pages (never the whole address space; spec B.5), keeping only present
   or swapped entries;
2. all PFNs of all processes, de-duplicated: kpageflags and kpagecount in runs;
3. all processes at once: classify (numpy, no per-page Python) and count bytes per kind, per process
   (and per mapping for ``maps``).

Kinds still add up: per process the kinds' rss is the number of classified resident pages and
their pss the sum of page_size / kpagecount. Shmem swap is invisible in pagemap (spec E.1, surprise
7), so the shared kind's swap and every swap_pss come from smaps. Hugetlb pages stay outside the
kinds, as at mapping level.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from memtype.collect.scan import scan, shmem_devs
from memtype.errors import AccessDenied, MemtypeError, ProcessGone
from memtype.kinds import KINDS, Kind
from memtype.model.classify import Classifier, MapClass
from memtype.model.records import KindUsage, ProcessMemory, Scan, Totals
from memtype.pages import classify as pc
from memtype.pages.numpy_import import numpy
from memtype.pages.reader import gather, pagemap_error, pread_ranges
from memtype.parse.pagebits import PM_EXCLUSIVE, PM_PFN_MASK, PM_PRESENT, kpf_mask
from memtype.parse.smaps import compiled, parse_smaps
from memtype.source.root import Root

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

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


# Columns of a walk record (the compiled reader returns the same layout).
W_INDEX, W_FIRST, W_PAGES, W_VKIND, W_RSS, W_PSS = range(6)
W_FIELDS = 6


class _PagemapReader:
    """The ``visit`` hook of ``scan``: reads a process's pagemap right after its smaps."""

    def __init__(self, classifier: Classifier, page: int) -> None:
        self.classifier, self.page = classifier, page
        # pid -> (present or swapped pagemap entries, their record index as int32, walk records)
        self.pages: dict[int, tuple[bytes, bytes, bytes]] = {}

    def __call__(self, proc: ProcessMemory, smaps: bytes) -> None:
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
        self.pages[proc.pid] = walked  # numpy work waits for pass 3 (numpy may still be importing)

    def _walk_compiled(self, fd: int, pid: int, smaps: bytes) -> tuple[bytes, bytes, bytes] | None:
        """The compiled reader picks the mappings and reads their pagemap (same rules as ``_walk``)."""
        fast = compiled()
        if fast is None:
            return None
        classes, classify = self.classifier.compiled_cache()
        try:
            data, owners, records = fast.walk_pagemap(smaps, classes, classify, fd, self.page,
                                                      ZERO_ONLY_WALK_LIMIT)
        except ValueError:
            return None  # damaged smaps: the tolerant parser below
        except EOFError:
            raise ProcessGone(pid, "pagemap") from None
        except OSError as exc:
            raise pagemap_error(exc, pid) from None
        return data, owners, records

    def _walk(self, fd: int, pid: int, smaps: bytes) -> tuple[bytes, bytes, bytes]:
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
        pm = np.frombuffer(data, dtype=np.uint64)
        owners = np.repeat(np.arange(len(records), dtype=np.int32), records[:, W_PAGES])
        keep = (pm >> np.uint64(62)) != np.uint64(0)  # present or swapped only
        return pm[keep].tobytes(), owners[keep].tobytes(), records.tobytes()


def scan_exact(root: str | Root = "/", pids: Iterable[int] | None = None, *, mappings: bool = False,
               cmdline: bool = False, exe: bool = False, jobs: int | None = None, cgroup: bool = False) -> Scan:
    """Like ``memtype.scan`` with every page classified (root for PFNs; see UNPRIVILEGED_NOTE)."""
    r = root if isinstance(root, Root) else Root(root)
    if not r.live:
        raise MemtypeError("--exact reads pagemap of live processes; it does not work on a capture (--root)")
    fast = compiled()
    kpage_fds = _open_kpage()
    use_compiled = fast is not None and hasattr(fast, "classify_pages") and kpage_fds is not None
    importer = None if use_compiled else _import_numpy_in_background()  # hidden behind the smaps reads
    try:
        reader = _PagemapReader(Classifier(shmem_devs(r)), os.sysconf("SC_PAGE_SIZE"))
        result = scan(r, pids, mappings=mappings, cmdline=cmdline, exe=exe, jobs=jobs, visit=reader, cgroup=cgroup)
        procs = [p for p in result.processes if p.pid in reader.pages]
        if use_compiled and kpage_fds is not None:
            _classify_compiled(fast, procs, reader.pages, kpage_fds, result.host.page_size, mappings)
        else:
            if importer is not None:
                importer.join()
            numpy()  # the one-line error if numpy is missing
            if procs:
                _classify_all(result, procs, reader.pages, result.host.page_size, mappings)
    finally:
        for fd in kpage_fds or ():
            os.close(fd)
    return result


def _open_kpage() -> tuple[int, int] | None:
    """Descriptors of /proc/kpageflags and /proc/kpagecount, or None where they are not readable (root)."""
    fds: list[int] = []
    for path in ("/proc/kpageflags", "/proc/kpagecount"):
        try:
            fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
    return fds[0], fds[1]


def _classify_compiled(fast: Any, procs: list[ProcessMemory], raw: dict[int, tuple[bytes, bytes, bytes]],
                       fds: tuple[int, int], page: int, mappings: bool) -> None:
    """Passes 2 and 3 in the compiled reader (no numpy): the rules and masks come from pages.classify."""
    try:
        out = fast.classify_pages([raw[p.pid] for p in procs], fds[0], fds[1], pc.FLAG_CLASS_MASKS,
                                  pc.DETAIL_MASKS, pc.DECISION_TABLE_BYTES, page, kpf_mask("nopage"), mappings)
    except OSError as exc:
        raise MemtypeError(f"cannot read /proc/kpageflags or /proc/kpagecount: {exc.strerror}") from None
    for proc, (kind_pages, kind_pss, uss, detail, counts, pss) in zip(procs, out):
        _apply(proc, kind_pages, kind_pss, uss * page, [n * page for n in detail], page)
        if mappings and proc.mappings is not None and counts is not None and pss is not None:
            rec = memoryview(raw[proc.pid][2]).cast("q")
            walked = [rec[i] for i in range(W_INDEX, len(rec), W_FIELDS)]
            _account_mappings(proc, walked, memoryview(counts).cast("q"), memoryview(pss).cast("q"), page)


def _import_numpy_in_background() -> threading.Thread:
    def run() -> None:
        try:
            import numpy  # noqa: F401
        except ImportError:
            pass  # numpy() reports it in the caller's thread

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


BATCH_ENTRIES = 1 << 19  # pagemap entries classified at once: large enough for few numpy calls, small
                         # enough that the per-page temporaries stay a few MiB (peak RSS, not RAM size)


class _PerPfn:
    """What pass 3 needs about each distinct page frame, computed once however many processes map it."""

    __slots__ = ("lookup", "flag_class", "weight", "single", "detail")

    def __init__(self, lookup: Callable[[npt.NDArray[np.uint64]], npt.NDArray[np.intp]],
                 flags: npt.NDArray[np.uint64], counts: npt.NDArray[np.uint64]) -> None:
        import numpy as np

        self.lookup = lookup
        self.flag_class = pc.flag_classes(flags, counts)
        self.weight = 1.0 / np.maximum(counts, np.uint64(1))  # a page's share of PSS: 1 / mappers
        self.single = counts == np.uint64(1)  # counts in USS
        self.detail = pc.detail_bits(flags)


def _classify_all(result: Scan, procs: list[ProcessMemory], raw: dict[int, tuple[bytes, bytes, bytes]], page: int,
                  mappings: bool) -> None:
    """Pass 2 over every process (distinct PFNs, kpage*), then pass 3 in batches of processes."""
    import numpy as np

    mask = np.uint64(PM_PFN_MASK)
    present = [np.frombuffer(raw[p.pid][0], dtype=np.uint64) for p in procs]
    pfns, lookup = _distinct([x[(x >> np.uint64(PM_PRESENT)) == np.uint64(1)] & mask for x in present])
    per_pfn = None
    if len(pfns) and pfns[-1] != 0:
        flags, counts = _kpage(pfns)
        if flags is not None and counts is not None:
            per_pfn = _PerPfn(lookup, flags, counts)
    if per_pfn is None and len(pfns):
        result.warnings.append(UNPRIVILEGED_NOTE)
    batch: list[ProcessMemory] = []
    entries = 0
    for i, p in enumerate(procs):
        batch.append(p)
        entries += len(present[i])
        if entries >= BATCH_ENTRIES or i == len(procs) - 1:
            _classify_batch(batch, raw, per_pfn, page, mappings)
            batch, entries = [], 0


def _classify_batch(procs: list[ProcessMemory], raw: dict[int, tuple[bytes, bytes, bytes]], per_pfn: _PerPfn | None,
                    page: int, mappings: bool) -> None:
    """Pass 3 for some processes: a few array operations over all their pages, then per-process sums."""
    import numpy as np

    records = [np.frombuffer(raw[p.pid][2], dtype=np.int64).reshape(-1, W_FIELDS) for p in procs]
    rec = np.concatenate(records)
    vma_start = np.concatenate(([0], np.cumsum([len(x) for x in records])))  # each process's first record
    pm = np.frombuffer(b"".join(raw[p.pid][0] for p in procs), dtype=np.uint64)
    vidx = np.concatenate([np.frombuffer(raw[p.pid][1], dtype=np.int32).astype(np.int64) + vma_start[i]
                           for i, p in enumerate(procs)])
    vk = rec[:, W_VKIND].astype(np.int8)[vidx]
    single = detail = None
    if per_pfn is not None:
        on = (pm >> np.uint64(PM_PRESENT)) == np.uint64(1)
        idx = per_pfn.lookup(pm[on] & np.uint64(PM_PFN_MASK))
        fc = np.zeros(len(pm), np.int8)
        fc[on] = per_pfn.flag_class[idx]
        cat = pc.classify_pages(pm, fc, vk)
        weight = np.zeros(len(pm))
        weight[on] = per_pfn.weight[idx]
        single = np.zeros(len(pm), np.bool_)
        single[on] = per_pfn.single[idx]
        detail = np.zeros(len(pm), np.uint8)
        detail[on] = per_pfn.detail[idx]
    else:
        cat = _zero_pages_by_rss(pc.classify_by_bits(pm, vk), vidx, rec[:, W_RSS] * 1024 // page)
        weight = _weights_without_counts(pm, cat, vidx, rec[:, W_PSS] * 1024 / page)
    nvma = len(rec)
    key = vidx * NCAT + cat
    pages = np.bincount(key, minlength=nvma * NCAT).reshape(nvma, NCAT)
    # PSS bytes are rounded per mapping and kind, and a process sums those: its kinds then equal the sum
    # of its mappings' kinds to the byte (maps --exact), as at mapping level with smaps' kB.
    pss = np.rint(np.bincount(key, weights=weight, minlength=nvma * NCAT) * page).astype(np.int64)
    pss = pss.reshape(nvma, NCAT)
    per_proc_pages = _sum_rows(pages, vma_start)
    per_proc_pss = _sum_rows(pss, vma_start)
    nproc = len(procs)
    uss = bits = None
    if single is not None and detail is not None:
        # USS and the page detail in one integer histogram: (process, single mapper, detail byte)
        proc_of_page = np.repeat(np.arange(nproc, dtype=np.int64), [len(raw[p.pid][0]) // 8 for p in procs])
        resident = (cat >= pc.ANON) & (cat <= pc.DEVICE)
        hist_key = proc_of_page[resident] * 512 + single[resident].astype(np.int64) * 256 + detail[resident]
        hist = np.bincount(hist_key, minlength=nproc * 512).reshape(nproc, 2, 256)
        uss = hist[:, 1, :].sum(axis=1)
        by_byte = hist.sum(axis=1)  # (process, detail byte)
        bit_of_byte = (np.arange(256)[:, None] >> np.arange(len(pc.DETAIL_BITS))[None, :]) & 1
        bits = by_byte @ bit_of_byte  # (process, bit)
    for i, proc in enumerate(procs):
        _apply(proc, per_proc_pages[i].tolist(), per_proc_pss[i].tolist(), None if uss is None else int(uss[i]) * page,
               None if bits is None else [int(b) * page for b in bits[i]], page)
        if mappings and proc.mappings is not None:
            lo, hi = int(vma_start[i]), int(vma_start[i + 1])
            _account_mappings(proc, rec[lo:hi, W_INDEX].tolist(), pages[lo:hi].ravel().tolist(),
                              pss[lo:hi].ravel().tolist(), page)


def _sum_rows(a: npt.NDArray[np.int64], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sums of the row groups [starts[i], starts[i+1]) (empty groups give 0, unlike reduceat)."""
    import numpy as np

    c = np.concatenate((np.zeros((1, a.shape[1]), a.dtype), np.cumsum(a, axis=0)))
    out: npt.NDArray[np.int64] = c[starts[1:]] - c[starts[:-1]]
    return out


def _apply(proc: ProcessMemory, pages: Sequence[int], pss: Sequence[int], uss: int | None,
           detail: list[int] | None, page: int) -> None:
    """Replace the mapping-level split of ``proc`` with the page-level one."""
    level = proc.categories  # mapping level: the source of shmem swap and of every swap_pss (smaps only)
    kinds = {k: KindUsage(int(pages[code]) * page, int(pss[code])) for k, code in _KIND_CODES}
    swap_bytes = int(pages[pc.SWAP]) * page
    kinds[Kind.ANONYMOUS].swap = swap_bytes
    kinds[Kind.ANONYMOUS].swap_pss = min(level[Kind.ANONYMOUS].swap_pss + level[Kind.COW].swap_pss, swap_bytes)
    kinds[Kind.SHARED].swap = level[Kind.SHARED].swap
    kinds[Kind.SHARED].swap_pss = level[Kind.SHARED].swap_pss
    t = proc.totals
    proc.totals = Totals(t.size, sum(u.rss for u in kinds.values()), sum(u.pss for u in kinds.values()),
                         t.uss if uss is None else uss, sum(u.swap for u in kinds.values()),
                         sum(u.swap_pss for u in kinds.values()), t.hugetlb, t.device_mapped, t.locked, t.lazyfree,
                         t.anon_huge)
    proc.categories = kinds
    out: dict[str, int | None] = {name: None for name in DETAIL}
    out["zero"] = int(pages[pc.ZERO]) * page  # virtual bytes mapped to the zero page: they cost no RAM
    if detail is not None:
        out.update(zip(pc.DETAIL_BITS, detail))
    proc.pages = out
    proc.exact = True


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


def _account_mappings(proc: ProcessMemory, walked: list[int], pages: Sequence[int], pss: Sequence[int],
                      page: int) -> None:
    """The page-level split of each mapping (``maps --exact``); mappings not walked have no pages.

    ``pages`` and ``pss`` are flat, NCAT values per walked mapping."""
    row_of = {n: row for row, n in enumerate(walked)}
    for n, m in enumerate(proc.mappings or []):
        row = row_of.get(n)
        kinds = {k: KindUsage() for k in KINDS}
        if row is not None:
            for k, code in _KIND_CODES:
                kinds[k] = KindUsage(int(pages[row * NCAT + code]) * page, int(pss[row * NCAT + code]))
            kinds[Kind.ANONYMOUS].swap = int(pages[row * NCAT + pc.SWAP]) * page
            kinds[Kind.ANONYMOUS].swap_pss = min(m.categories[Kind.ANONYMOUS].swap_pss, kinds[Kind.ANONYMOUS].swap)
            kinds[Kind.SHARED].swap = m.categories[Kind.SHARED].swap
            kinds[Kind.SHARED].swap_pss = m.categories[Kind.SHARED].swap_pss
        t = m.totals
        m.totals = Totals(t.size, sum(u.rss for u in kinds.values()), sum(u.pss for u in kinds.values()), t.uss,
                          sum(u.swap for u in kinds.values()), sum(u.swap_pss for u in kinds.values()), t.hugetlb,
                          t.device_mapped, t.locked, t.lazyfree, t.anon_huge)
        m.categories = kinds


def _zero_pages_by_rss(cat: npt.NDArray[np.int8], vidx: npt.NDArray[np.int64], rss_pages: npt.NDArray[np.int64]
                       ) -> npt.NDArray[np.int8]:
    """Without PFNs the 4K zero page reads as present, non-exclusive anon (COW). smaps Rss excludes it,
    so per mapping the COW pages beyond Rss are zero pages (spec B.1: bits 61 and 56 clear, present)."""
    import numpy as np

    n = len(rss_pages)
    resident = np.bincount(vidx, weights=(cat >= pc.ANON) & (cat <= pc.DEVICE), minlength=n)
    excess = np.maximum(resident - rss_pages, 0).astype(np.int64)
    if not excess.any():
        return cat
    cows = np.flatnonzero(cat == pc.COW)
    owner = vidx[cows]  # pages are grouped by mapping, so ranks within a mapping are offsets from its first
    rank = np.arange(len(cows)) - np.searchsorted(owner, owner, side="left")
    out = cat.copy()
    out[cows[rank < excess[owner]]] = pc.ZERO
    return out


def _weights_without_counts(pm: npt.NDArray[np.uint64], cat: npt.NDArray[np.int8], vidx: npt.NDArray[np.int64],
                            pss_pages: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Without kpagecount: exclusive pages weigh 1; the others share what remains of the mapping's Pss."""
    import numpy as np

    n = len(pss_pages)
    excl = ((pm >> np.uint64(PM_EXCLUSIVE)) & np.uint64(1)) == np.uint64(1)
    resident = (cat >= pc.ANON) & (cat <= pc.DEVICE)
    shared = np.bincount(vidx, weights=resident & ~excl, minlength=n)
    own = np.bincount(vidx, weights=resident & excl, minlength=n)
    share = np.where(shared > 0, np.maximum(pss_pages - own, 0) / np.maximum(shared, 1), 0.0)
    out: npt.NDArray[np.float64] = np.where(resident, np.where(excl, 1.0, share[vidx]), 0.0)
    return out
