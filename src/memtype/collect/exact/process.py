"""Page-exact processes (``ps --exact``, ``maps --exact``): every resident page classified by B.3.

Three passes, so each kernel file is read once per page at most:
1. per process, in the reader threads right after its smaps: one pagemap ``pread`` per mapping that
   has resident or swapped pages (never the whole address space; spec B.5), keeping only present
   or swapped entries;
2. all PFNs of all processes, de-duplicated: kpageflags and kpagecount in runs;
3. all processes at once: classify (numpy, no per-page Python) and count bytes per kind, per process
   (and per mapping for ``maps``).

``memtype.collect.scan_exact`` runs the three passes; this module is pass 1 (``PagemapReader``, the
``visit`` hook of the scan) and the compiled passes 2-3 (``classify_compiled``; numpy's are in
``numpy_pass``).

Kinds still add up: per process the kinds' rss is the number of classified resident pages and
their pss the sum of page_size / kpagecount. Shmem swap is invisible in pagemap (spec E.1, surprise
7), so the shared kind's swap and every swap_pss come from smaps. Hugetlb pages stay outside the
kinds, as at mapping level.
"""

from __future__ import annotations

import os

from memtype.collect.exact.account import W_FIELDS, W_FIRST, W_INDEX, W_PAGES, account_mappings, apply_pages
from memtype.collect.exact.reader import pagemap_error, pread_ranges
from memtype.errors import MemtypeError, ProcessGone
from memtype.model.classify import Classifier, MapClass
from memtype.model.pages import (DECISION_TABLE_BYTES, DETAIL_MASKS, RULE_MASKS, V_COW_PENDING, V_DEVICE, V_PLAIN,
                                 V_SECRETMEM, V_SHMEM)
from memtype.model.records import ProcessMemory
from memtype.parse.pagebits import kpf_mask
from memtype.parse.smaps import compiled, parse_smaps
from memtype.source.root import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["PagemapReader", "ZERO_ONLY_WALK_LIMIT", "classify_compiled", "open_kpage", "vkind_of"]

_NOT_WALKED = {MapClass.DEVICE_PFN, MapClass.ANON_HUGETLB, MapClass.SHMEM_HUGETLB}
# A private anon map with Rss 0 may still map the zero page (read faults: spec surprise 2). Such maps
# are walked up to this size, so their zero pages are counted without reading the pagemap of huge
# reservations (a 20 GiB CUDA reservation would be 40 MiB of pagemap).
ZERO_ONLY_WALK_LIMIT = 64 << 20


def vkind_of(cls: MapClass, path: str) -> int:
    """What a page's mapping tells the decision table (rows 14-16 of B.3)."""
    if cls is MapClass.DEVICE:
        return V_DEVICE
    if path.startswith("/secretmem"):
        return V_SECRETMEM
    if cls is MapClass.FILE_COW_PENDING:
        return V_COW_PENDING
    if cls in (MapClass.SHMEM, MapClass.SHMEM_PRIVATE):
        return V_SHMEM
    return V_PLAIN


class PagemapReader:
    """The ``visit`` hook of ``scan``: reads a process's pagemap right after its smaps."""

    def __init__(self, classifier: Classifier, page: int, root: Root | None = None) -> None:
        self.classifier, self.page = classifier, page
        self.root = root if root is not None else Root("/")  # pagemap is live-only
        # pid -> (present or swapped pagemap entries, their record index as int32, walk records)
        self.pages: dict[int, tuple[bytes, bytes, bytes]] = {}

    def __call__(self, proc: ProcessMemory, smaps: bytes) -> None:
        fd = self.root.open_fd(f"proc/{proc.pid}/pagemap", proc.pid)  # ESRCH, ENOENT: ProcessGone
        try:
            walked = self._walk_compiled(fd, proc.pid, smaps)
            if walked is None:
                walked = self._walk(fd, proc.pid, smaps)
        finally:
            os.close(fd)
        self.pages[proc.pid] = walked  # numpy work waits for pass 3 (numpy may still be importing)

    def _walk_compiled(self, fd: int, pid: int, smaps: bytes) -> tuple[bytes, bytes, bytes] | None:
        """The compiled reader picks the mappings and reads their pagemap (same rules as ``_walk``)."""
        c_reader = compiled()
        if c_reader is None:
            return None
        classes, classify = self.classifier.compiled_cache()
        try:
            data, owners, records = c_reader.walk_pagemap(smaps, classes, classify, fd, self.page,
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


def open_kpage(root: Root | None = None) -> tuple[int, int] | None:
    """Descriptors of /proc/kpageflags and /proc/kpagecount, or None where they are not readable (root)."""
    root = root if root is not None else Root("/")
    fds: list[int] = []
    for rel in ("proc/kpageflags", "proc/kpagecount"):
        try:
            fds.append(root.open_fd(rel))
        except MemtypeError:
            for fd in fds:
                os.close(fd)
            return None
    return fds[0], fds[1]


def classify_compiled(c_reader: Any, procs: list[ProcessMemory], raw: dict[int, tuple[bytes, bytes, bytes]],
                      fds: tuple[int, int], page: int, mappings: bool) -> list[ProcessMemory]:
    """Passes 2 and 3 in the compiled reader (no numpy): the rules, masks and decision table come from
    memtype.model.pages.

    Returns:
        ``procs`` with the page-level split, in the same order (new records).
    """
    try:
        out = c_reader.classify_pages([raw[p.pid] for p in procs], fds[0], fds[1], RULE_MASKS, DETAIL_MASKS,
                                      DECISION_TABLE_BYTES, page, kpf_mask("nopage"), mappings)
    except OSError as exc:
        raise MemtypeError(f"cannot read /proc/kpageflags or /proc/kpagecount: {exc.strerror}") from None
    done = []
    for proc, (kind_pages, kind_pss, uss, detail, counts, pss) in zip(procs, out):
        proc = apply_pages(proc, kind_pages, kind_pss, uss * page, [n * page for n in detail], page)
        if mappings and proc.mappings is not None and counts is not None and pss is not None:
            rec = memoryview(raw[proc.pid][2]).cast("q")
            walked = [rec[i] for i in range(W_INDEX, len(rec), W_FIELDS)]
            proc = proc.replace(mappings=account_mappings(proc.mappings, walked, memoryview(counts).cast("q"),
                                                          memoryview(pss).cast("q"), page))
        done.append(proc)
    return done