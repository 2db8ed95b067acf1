"""What the kernel could take back: resident memory split into four reclaim classes (kernel-spec.md C.4).

========== ===================================================================================
class      what is in it
========== ===================================================================================
drop       clean page cache (the file is the source of truth) and MADV_FREE'd anon (lazyfree)
writeback  dirty page cache: written back to its file, then dropped
swap       anonymous (cow included) and shmem pages, while a swap device with room is active
never      mlocked (VmFlags ``lo``) and unevictable pages, device pages, hugetlb, and anonymous
           and shmem pages when there is no swap room
========== ===================================================================================

The classes add up, for each level, to a stated total:

* **process** (``ProcessMemory.reclaim``, computed by the scan from the smaps it reads, in compiled code
  or by ``reclaim_from_smaps``; ``annotate`` applies the swap room): ``rss + hugetlb`` (hugetlb pages are outside Rss but are
  the process's RAM too; they are ``never``). Shared pages count in every process that maps them,
  as Rss does. Split per mapping from smaps: a file mapping's dirty page cache is
  ``Shared_Dirty + Private_Dirty - Anonymous`` (the anon pages of a private file map are its COW
  copies, dirty themselves), at least 0 and at most its page cache. With ``--exact`` the page flags
  give the dirty and writeback page cache exactly.
* **cgroup** (``reclaim_from_memory_stat``) and **machine** (``reclaim_from_meminfo``): the LRU lists,
  ``active/inactive anon + active/inactive file + unevictable``. Every user page is on exactly one,
  so they partition user memory; shmem is on the anon lists and lazyfree pages on the file lists
  (mm/swap.c lru_lazyfree). The machine adds the hugetlb pool (``never``). Kernel memory (slab,
  page tables...) is outside: only shrinkers free it.
"""

from __future__ import annotations

from operator import itemgetter

from memtype.model.classify import Classifier, MapClass
from memtype.parse.smaps import DEV, PATH, PERMS, VALUES, VMFLAGS, RawVma

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Sequence

    from memtype.model.records import ProcessMemory, Scan

CLASSES = ("drop", "writeback", "swap", "never")  # the compiled reader's RECLAIM_CLASSES (tests/test_parity.py)

_NEVER_CLASSES = frozenset({MapClass.DEVICE, MapClass.DEVICE_PFN})
_ANON_CLASSES = frozenset({MapClass.ANON, MapClass.ANON_HUGETLB})
_SHMEM_CLASSES = frozenset({MapClass.SHMEM, MapClass.SHMEM_HUGETLB})
_FIELDS = ("Rss", "Anonymous", "Shared_Dirty", "Private_Dirty", "LazyFree", "Shared_Hugetlb", "Private_Hugetlb")


def empty() -> dict[str, int]:
    return dict.fromkeys(CLASSES, 0)


def reclaim_from_smaps(names: tuple[str, ...], vmas: Sequence[RawVma], classifier: Classifier,
                       swap_room: bool) -> dict[str, int]:
    """One process's reclaim classes from its smaps entries (bytes; they add up to Rss + hugetlb).

    Args:
        names: the smaps field names (``SmapsText.names``); vmas: its entries.
        classifier: gives each entry's mapping class (spec A.5).
        swap_room: a swap device with room is active (else anon and shmem are ``never``).

    Raises:
        ValueError: the entries have no Rss.
    """
    if "Rss" not in names:
        raise ValueError("smaps lacks Rss")
    pad = len(names)  # a missing optional field reads as 0 from one padded slot
    at = [names.index(n) if n in names else pad for n in _FIELDS]
    pick, padded = itemgetter(*at), pad in at
    mapclass = classifier.mapclass
    ANON, SHMEM_PRIVATE = MapClass.ANON, MapClass.SHMEM_PRIVATE
    drop = writeback = swap = never = 0
    for v in vmas:
        rss, anon, shared_dirty, private_dirty, lazyfree, shared_hugetlb, private_hugetlb = pick(
            v[VALUES] + (0,) if padded else v[VALUES])
        huge = shared_hugetlb + private_hugetlb
        if huge:
            never += huge
        if not rss:
            continue
        flags, path = v[VMFLAGS], v[PATH]
        if "lo" in flags and "lo" in flags.split():  # VM_LOCKED: every page of the VMA is unevictable
            never += rss
            continue
        cls = mapclass(path, v[PERMS], flags, v[DEV])
        if cls is ANON:
            drop += lazyfree
            swap += rss - lazyfree
        elif cls in _NEVER_CLASSES or path.startswith("/secretmem"):
            never += rss  # driver pages; secretmem cannot leave RAM
        elif cls in _ANON_CLASSES or cls in _SHMEM_CLASSES:
            drop += lazyfree
            swap += rss - lazyfree
        else:  # a file mapping, or a private view of shmem
            anon = min(anon, rss)  # its written (COW) copies
            lazy = min(lazyfree, anon)
            drop += lazy
            swap += anon - lazy
            cache = rss - anon
            if cls is SHMEM_PRIVATE:
                swap += cache  # the shmem object's own pages
                continue
            dirty = shared_dirty + private_dirty - anon  # COW copies are dirty too: only the rest is page cache
            dirty = cache if dirty > cache else (dirty if dirty > 0 else 0)
            writeback += dirty
            drop += cache - dirty
    if not swap_room:
        never += swap
        swap = 0
    return dict(zip(CLASSES, (drop * 1024, writeback * 1024, swap * 1024, never * 1024)))


def refine_with_pages(reclaim: dict[str, int], pages: dict[str, int | None]) -> dict[str, int]:
    """Replace the mapping-level dirty estimate by the page flags (``--exact``): ``dirty`` (page cache,
    spec B detail bits) plus ``writeback``, moved between ``drop`` and ``writeback`` so the sum holds."""
    dirty, wb = pages.get("dirty"), pages.get("writeback")
    if dirty is None:
        return reclaim
    cache = reclaim["drop"] + reclaim["writeback"]
    exact = min(cache, dirty + (wb or 0))
    out = dict(reclaim)
    out["drop"] = cache - exact
    out["writeback"] = exact
    return out


def fit(reclaim: dict[str, int], total: int, page: int) -> dict[str, int]:
    """Scale ``reclaim`` to sum to ``total`` exactly (whole pages of ``page`` bytes, the machine's page
    size; the remainder to the largest class).

    Used when the classes come from a second read of a process whose first read gave ``total``:
    between the two, pages may have come or gone (numbers add up, always).
    """
    have = sum(reclaim.values())
    if have == total:
        return dict(reclaim)
    if have <= 0:
        out = empty()
        out["never"] = total
        return out
    out = {k: (v * total // have) // page * page for k, v in reclaim.items()}
    biggest = max(CLASSES, key=lambda k: reclaim[k])
    out[biggest] += total - sum(out.values())
    return out


def _get(stat: dict[str, int], name: str, hierarchical: bool) -> int | None:
    if hierarchical and f"total_{name}" in stat:
        return stat[f"total_{name}"]
    return stat.get(name)


def reclaim_from_memory_stat(stat: dict[str, int], version: int, swap_room: bool) -> dict[str, int]:
    """A memory cgroup's reclaim classes from its memory.stat (spec D.1, D.2), bytes.

    They add up to the cgroup's LRU pages (``active_anon + inactive_anon + active_file + inactive_file +
    unevictable``), its user memory; kernel memory is outside. v1 uses the hierarchical ``total_*``
    fields where present (v2's memory.stat is hierarchical already), so a cgroup includes its children.

    Args:
        stat: memory.stat as {field: value} (bytes, as the kernel prints them).
        version: 1 or 2 (field names: v1 ``dirty``/``writeback``, v2 ``file_dirty``/``file_writeback``).
        swap_room: the cgroup can swap now: a swap device with room is active and the cgroup is under its
            swap limit (v1 ``memory.memsw.limit_in_bytes``, v2 ``memory.swap.max``).

    Returns:
        {"drop", "writeback", "swap", "never"}: drop = clean file-LRU pages (clean page cache and
        lazyfree), writeback = dirty + under-writeback page cache, swap = anon-LRU pages (anon and shmem;
        ``never`` without swap room), never = unevictable.

    Raises:
        ValueError: the LRU fields are missing (not a memory.stat).
    """
    h = version == 1
    lru = {n: _get(stat, n, h) for n in ("active_anon", "inactive_anon", "active_file", "inactive_file",
                                         "unevictable")}
    missing = [n for n, v in lru.items() if v is None]
    if missing:
        raise ValueError(f"memory.stat lacks {', '.join(missing)}")
    names = ("dirty", "writeback") if version == 1 else ("file_dirty", "file_writeback")
    dirty = sum(_get(stat, n, h) or 0 for n in names)
    return _split(anon=(lru["active_anon"] or 0) + (lru["inactive_anon"] or 0),
                  file=(lru["active_file"] or 0) + (lru["inactive_file"] or 0), dirty=dirty,
                  unevictable=lru["unevictable"] or 0, swap_room=swap_room)


def reclaim_from_meminfo(mi: dict[str, int], swap_room: bool) -> dict[str, int]:
    """The machine's reclaim classes from /proc/meminfo (bytes): the LRU lists plus the hugetlb pool.

    Raises:
        ValueError: meminfo lacks the LRU lines.
    """
    need = ("Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable")
    if any(n not in mi for n in need):
        raise ValueError("meminfo lacks the LRU lines")
    out = _split(anon=mi["Active(anon)"] + mi["Inactive(anon)"], file=mi["Active(file)"] + mi["Inactive(file)"],
                 dirty=mi.get("Dirty", 0) + mi.get("Writeback", 0), unevictable=mi["Unevictable"],
                 swap_room=swap_room)
    hugetlb = mi.get("Hugetlb")  # the pool, every size (5.7+); else the default size's pool
    out["never"] += hugetlb if hugetlb is not None else mi.get("HugePages_Total", 0) * mi.get("Hugepagesize", 0)
    return out


def _split(anon: int, file: int, dirty: int, unevictable: int, swap_room: bool) -> dict[str, int]:
    writeback = min(dirty, file)
    return {"drop": file - writeback, "writeback": writeback, "swap": anon if swap_room else 0,
            "never": unevictable + (0 if swap_room else anon)}


def annotate(scan: Scan, swap_room: bool) -> Scan:
    """``scan`` with ``reclaim`` ({"drop","writeback","swap","never"}, bytes) finished on every process.

    The scan computed each process's classes from the smaps it read (compiled or Python, the rules of
    ``reclaim_from_smaps``), with "swap" meaning swappable. Here: without a swap device with room
    (``swap_room``, from ``memtype.collect.swapinfo.swap_room``) that moves to "never"; with ``--exact``
    the page flags replace the dirty estimate; and the classes are fitted to the reported
    ``rss + hugetlb`` (an exact scan counts pages, smaps counted kB). Records are read-only: the
    processes are new ones, the scan is a new one.
    """
    done = []
    for p in scan.processes:
        if p.reclaim is None:
            done.append(p)
            continue
        classes = dict(p.reclaim)
        if not swap_room:
            classes["never"] += classes["swap"]
            classes["swap"] = 0
        if p.pages is not None:
            classes = refine_with_pages(classes, p.pages)
        done.append(p.replace(reclaim=fit(classes, process_total(p), scan.host.page_size)))
    return scan.replace(processes=done)


def process_total(p: ProcessMemory) -> int:
    """What a process's reclaim classes add up to: resident bytes plus hugetlb pages."""
    return p.totals.rss + p.totals.hugetlb
