"""Passes 2 and 3 of ``--exact`` in numpy: used without the compiled reader, and without root (then
only the pagemap bits decide: ``classify.classify_by_bits``). Memory stays bounded: pass 3
runs over batches of processes.
"""

from __future__ import annotations

import os

from memtype.collect.exact.classify import classify_by_bits, classify_pages, detail_bits, flag_classes
from memtype.collect.exact.account import (NCAT, UNPRIVILEGED_NOTE, W_FIELDS, W_INDEX, W_PSS, W_RSS, W_VKIND,
                                           account_mappings, apply_pages)
from memtype.collect.exact.reader import gather
from memtype.errors import MemtypeError
from memtype.model.pages import ANON, COW, DETAIL_BITS, DEVICE, ZERO
from memtype.model.records import ProcessMemory
from memtype.parse.pagebits import PM_EXCLUSIVE, PM_PFN_MASK, PM_PRESENT, kpf_mask
from memtype.source.root import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import numpy.typing as npt


BATCH_ENTRIES = 1 << 19  # pagemap entries classified at once: large enough for few numpy calls, small
                         # enough that the per-page temporaries stay a few MiB (peak RSS, not RAM size)


class _PerPfn:
    """What pass 3 needs about each distinct page frame, computed once however many processes map it."""

    __slots__ = ("lookup", "flag_class", "weight", "single", "detail")

    def __init__(self, lookup: Callable[[npt.NDArray[np.uint64]], npt.NDArray[np.intp]],
                 flags: npt.NDArray[np.uint64], counts: npt.NDArray[np.uint64]) -> None:
        import numpy as np

        self.lookup = lookup
        self.flag_class = flag_classes(flags, counts)
        self.weight = 1.0 / np.maximum(counts, np.uint64(1))  # a page's share of PSS: 1 / mappers
        self.single = counts == np.uint64(1)  # counts in USS
        self.detail = detail_bits(flags)


def classify_all(procs: list[ProcessMemory], raw: dict[int, tuple[bytes, bytes, bytes]], page: int,
                 mappings: bool, kpage_fds: tuple[int, int] | None = None) -> tuple[list[ProcessMemory], list[str]]:
    """Pass 2 over every process (distinct PFNs, kpage*), then pass 3 in batches of processes.

    Args:
        kpage_fds: open kpageflags and kpagecount to read (default: /proc's, where readable).

    Returns:
        ``procs`` with the page-level split, in the same order (new records), and the warnings.
    """
    import numpy as np

    mask = np.uint64(PM_PFN_MASK)
    present = [np.frombuffer(raw[p.pid][0], dtype=np.uint64) for p in procs]
    pfns, lookup = _distinct([x[(x >> np.uint64(PM_PRESENT)) == np.uint64(1)] & mask for x in present])
    per_pfn = None
    if len(pfns) and pfns[-1] != 0:
        flags, counts = _kpage(pfns) if kpage_fds is None else (
            gather(kpage_fds[0], pfns, "kpageflags", kpf_mask("nopage")), gather(kpage_fds[1], pfns, "kpagecount"))
        if flags is not None and counts is not None:
            per_pfn = _PerPfn(lookup, flags, counts)
    warnings = [UNPRIVILEGED_NOTE] if per_pfn is None and len(pfns) else []
    done: list[ProcessMemory] = []
    batch: list[ProcessMemory] = []
    entries = 0
    for i, p in enumerate(procs):
        batch.append(p)
        entries += len(present[i])
        if entries >= BATCH_ENTRIES or i == len(procs) - 1:
            done += _classify_batch(batch, raw, per_pfn, page, mappings)
            batch, entries = [], 0
    return done, warnings


def _classify_batch(procs: list[ProcessMemory], raw: dict[int, tuple[bytes, bytes, bytes]], per_pfn: _PerPfn | None,
                    page: int, mappings: bool) -> list[ProcessMemory]:
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
        cat = classify_pages(pm, fc, vk)
        weight = np.zeros(len(pm))
        weight[on] = per_pfn.weight[idx]
        single = np.zeros(len(pm), np.bool_)
        single[on] = per_pfn.single[idx]
        detail = np.zeros(len(pm), np.uint8)
        detail[on] = per_pfn.detail[idx]
    else:
        cat = _zero_pages_by_rss(classify_by_bits(pm, vk), vidx, rec[:, W_RSS] * 1024 // page)
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
        resident = (cat >= ANON) & (cat <= DEVICE)
        hist_key = proc_of_page[resident] * 512 + single[resident].astype(np.int64) * 256 + detail[resident]
        hist = np.bincount(hist_key, minlength=nproc * 512).reshape(nproc, 2, 256)
        uss = hist[:, 1, :].sum(axis=1)
        by_byte = hist.sum(axis=1)  # (process, detail byte)
        bit_of_byte = (np.arange(256)[:, None] >> np.arange(len(DETAIL_BITS))[None, :]) & 1
        bits = by_byte @ bit_of_byte  # (process, bit)
    done = []
    for i, proc in enumerate(procs):
        proc = apply_pages(proc, per_proc_pages[i].tolist(), per_proc_pss[i].tolist(),
                           None if uss is None else int(uss[i]) * page,
                           None if bits is None else [int(b) * page for b in bits[i]], page)
        if mappings and proc.mappings is not None:
            lo, hi = int(vma_start[i]), int(vma_start[i + 1])
            proc = proc.replace(mappings=account_mappings(proc.mappings, rec[lo:hi, W_INDEX].tolist(),
                                                          pages[lo:hi].ravel().tolist(), pss[lo:hi].ravel().tolist(),
                                                          page))
        done.append(proc)
    return done


def _sum_rows(a: npt.NDArray[np.int64], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sums of the row groups [starts[i], starts[i+1]) (empty groups give 0, unlike reduceat)."""
    import numpy as np

    c = np.concatenate((np.zeros((1, a.shape[1]), a.dtype), np.cumsum(a, axis=0)))
    out: npt.NDArray[np.int64] = c[starts[1:]] - c[starts[:-1]]
    return out


def _kpage(pfns: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint64] | None, npt.NDArray[np.uint64] | None]:
    """kpageflags and kpagecount of the PFNs, or (None, None) where they are not readable."""
    live = Root("/")
    out = []
    for rel, missing in (("proc/kpageflags", kpf_mask("nopage")), ("proc/kpagecount", 0)):
        try:
            fd = live.open_fd(rel)
        except MemtypeError:
            return None, None
        try:
            out.append(gather(fd, pfns, f"/{rel}", missing))
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


def _zero_pages_by_rss(cat: npt.NDArray[np.int8], vidx: npt.NDArray[np.int64], rss_pages: npt.NDArray[np.int64]
                       ) -> npt.NDArray[np.int8]:
    """Without PFNs the 4K zero page reads as present, non-exclusive anon (COW). smaps Rss excludes it,
    so per mapping the COW pages beyond Rss are zero pages (spec B.1: bits 61 and 56 clear, present)."""
    import numpy as np

    n = len(rss_pages)
    resident = np.bincount(vidx, weights=(cat >= ANON) & (cat <= DEVICE), minlength=n)
    excess = np.maximum(resident - rss_pages, 0).astype(np.int64)
    if not excess.any():
        return cat
    cows = np.flatnonzero(cat == COW)
    owner = vidx[cows]  # pages are grouped by mapping, so ranks within a mapping are offsets from its first
    rank = np.arange(len(cows)) - np.searchsorted(owner, owner, side="left")
    out = cat.copy()
    out[cows[rank < excess[owner]]] = ZERO
    return out


def _weights_without_counts(pm: npt.NDArray[np.uint64], cat: npt.NDArray[np.int8], vidx: npt.NDArray[np.int64],
                            pss_pages: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Without kpagecount: exclusive pages weigh 1; the others share what remains of the mapping's Pss."""
    import numpy as np

    n = len(pss_pages)
    excl = ((pm >> np.uint64(PM_EXCLUSIVE)) & np.uint64(1)) == np.uint64(1)
    resident = (cat >= ANON) & (cat <= DEVICE)
    shared = np.bincount(vidx, weights=resident & ~excl, minlength=n)
    own = np.bincount(vidx, weights=resident & excl, minlength=n)
    share = np.where(shared > 0, np.maximum(pss_pages - own, 0) / np.maximum(shared, 1), 0.0)
    out: npt.NDArray[np.float64] = np.where(resident, np.where(excl, 1.0, share[vidx]), 0.0)
    return out
