"""Mapping-level classification: each smaps entry -> a mapping class -> bytes per kind.

Rules: kernel-spec.md A.5 (which class), A.6 (the copy-on-write estimate) and A.4 (path names).
Every entry's resident, proportional and swapped bytes are split so that the kinds add up
exactly to the entry's Rss, Pss, Swap and SwapPss; the estimates only decide *which* kind a byte
goes to, never whether it is counted.
"""

from __future__ import annotations

from enum import Enum
from collections.abc import Callable, Sequence

from memtype.kinds import KINDS, Kind
from memtype.model.records import KindUsage, Mapping, Totals
from memtype.parse import smaps as _smaps
from memtype.parse.smaps import RawVma

# Shared-memory objects by path (spec A.4); "/dev/zero (deleted)" is MAP_SHARED|MAP_ANONYMOUS.
SHMEM_PREFIXES = ("/dev/zero (deleted)", "/memfd:", "/SYSV", "/dev/shm/", "/secretmem", "/anon_hugepage",
                  "[anon_shmem:", "/i915", "/drm mm object")
_SPECIAL_DEVICE_PATHS = frozenset({"[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]"})


class MapClass(str, Enum):
    """What a mapping is, before its pages are split into kinds."""

    ANON = "anon"                      # heap, stack, private anonymous, private /dev/zero
    ANON_HUGETLB = "anon-hugetlb"      # private hugetlb (outside Rss)
    SHMEM = "shmem"                    # MAP_SHARED anon, memfd, /dev/shm, SysV, tmpfs file
    SHMEM_HUGETLB = "shmem-hugetlb"    # shared hugetlb (outside Rss)
    SHMEM_PRIVATE = "shmem-private"    # MAP_PRIVATE view of a shmem object
    FILE_SHARED = "file-shared"        # MAP_SHARED regular file
    FILE_PRIVATE = "file-private"      # read-only private file map (library text)
    FILE_COW_PENDING = "file-cow"      # private writable file map: unwritten pages are COW-pending
    DEVICE_PFN = "device-pfn"          # VM_PFNMAP / VM_IO: no struct pages, Rss 0, size reported apart
    DEVICE = "device"                  # driver pages mapped in (VM_MIXEDMAP, anon_inode:*, [vdso])


def classify_mapping(path: str, perms: str, vmflags: str, dev: str, shmem_devs: frozenset[str]) -> MapClass:
    """The class of one smaps entry (spec A.5, in order).

    Args:
        path: the header's path field ("" for anonymous memory).
        perms: the 4-character permission field; the 4th is "s" for MAP_SHARED.
        vmflags: the VmFlags line ("" where the kernel predates it).
        dev: "major:minor" in hex as printed in the header.
        shmem_devs: devices of tmpfs/ramfs/hugetlbfs mounts.
    """
    flags = vmflags.split()
    if "pf" in flags or "io" in flags:
        return MapClass.DEVICE_PFN
    if path.startswith("anon_inode:") or "mm" in flags or path in _SPECIAL_DEVICE_PATHS:
        return MapClass.DEVICE
    # VM_MAYSHARE ("ms") is MAP_SHARED; "sh" is missing on read-only shared maps (surprise 3).
    shared = "ms" in flags if flags else perms[3:4] == "s"
    if "ht" in flags:
        return MapClass.SHMEM_HUGETLB if shared else MapClass.ANON_HUGETLB
    is_shmem_object = path.startswith(SHMEM_PREFIXES) or (bool(path) and path[0] == "/" and dev in shmem_devs)
    if shared:
        return MapClass.SHMEM if is_shmem_object else MapClass.FILE_SHARED
    if not path or path[0] == "[" or path == "/dev/zero":
        return MapClass.ANON
    if is_shmem_object:
        return MapClass.SHMEM_PRIVATE
    writable = "wr" in flags if flags else perms[1:2] == "w"
    return MapClass.FILE_COW_PENDING if writable else MapClass.FILE_PRIVATE


_CLASS_NUMBER = {c: i for i, c in enumerate(MapClass)}  # the order _smaps.c's enum follows

# Accumulator layout: kind index * 4 + (rss, pss, swap, swap_pss), in kB.
_A, _S, _C, _F, _D = (KINDS.index(k) * 4 for k in (Kind.ANONYMOUS, Kind.SHARED, Kind.COW, Kind.FILE, Kind.DEVICE))
_NAMES = ("Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous",
          "KSM", "Swap", "SwapPss", "Shared_Hugetlb", "Private_Hugetlb", "Locked", "LazyFree", "AnonHugePages")
_REQUIRED = ("Size", "Rss", "Pss")


class Classifier:
    """Splits smaps entries into kinds; caches each distinct mapping's class across processes."""

    def __init__(self, shmem_devs: frozenset[str] = frozenset()) -> None:
        self.shmem_devs = shmem_devs
        self._cache: dict[tuple[str, str, str, str], MapClass] = {}
        self._layouts: dict[tuple[str, ...], tuple[tuple[int, ...], bool]] = {}
        self._fast_classes: dict[bytes, int] = {}  # the compiled reader's cache, keyed by raw header bytes

    def mapclass(self, path: str, perms: str, vmflags: str, dev: str) -> MapClass:
        key = (path, perms, vmflags, dev)
        cls = self._cache.get(key)
        if cls is None:
            cls = self._cache[key] = classify_mapping(path, perms, vmflags, dev, self.shmem_devs)
        return cls

    def summarize(self, data: bytes) -> tuple[Totals, dict[Kind, KindUsage], dict[str, int]] | None:
        """The same split as ``split`` straight from smaps bytes, in compiled code, with the process's
        reclaim classes (``memtype.model.reclaim``; "swap" = swappable, before asking for swap room).

        Returns:
            None where the compiled reader is absent or rejects the text (then parse and ``split``).
        """
        fast = _smaps.compiled()
        if fast is None:
            return None
        try:
            totals, kinds, reclaim = fast.summarize(data, self._fast_classes, self._class_number)
        except ValueError:
            return None
        return (Totals(*(x * 1024 for x in totals)), _kinds(list(kinds)),
                dict(zip(("drop", "writeback", "swap", "never"), (x * 1024 for x in reclaim))))

    def compiled_cache(self) -> tuple[dict[bytes, int], Callable[[str, str, str, str], int]]:
        """The class cache and the classify callback the compiled reader takes."""
        return self._fast_classes, self._class_number

    def _class_number(self, path: str, perms: str, vmflags: str, dev: str) -> int:
        return _CLASS_NUMBER[self.mapclass(path, perms, vmflags, dev)]

    def _layout(self, names: tuple[str, ...]) -> tuple[tuple[int, ...], bool]:
        """Positions of the fields memtype uses; a missing optional field reads as 0 (padded slot)."""
        found = self._layouts.get(names)
        if found is None:
            missing = [n for n in _REQUIRED if n not in names]
            if missing:
                raise ValueError(f"smaps lacks {', '.join(missing)}")
            pad = len(names)
            idx = tuple(names.index(n) if n in names else pad for n in _NAMES)
            found = self._layouts[names] = (idx, pad in idx)
        return found

    def split(self, names: tuple[str, ...], vmas: Sequence[RawVma], want_mappings: bool = False
              ) -> tuple[Totals, dict[Kind, KindUsage], list[Mapping] | None]:
        """Split a process's entries into kinds.

        Returns:
            Totals over all entries, the per-kind usage (summing to the totals), and, when asked,
            one Mapping per entry with its own split.
        """
        (iSize, iRss, iPss, iSC, iSD, iPC, iPD, iAnon, iKsm, iSwap, iSwapPss, iSH, iPH, iLocked, iLazy,
         iAHP), padded = self._layout(names)
        acc = [0] * 20
        size = rss_t = pss_t = uss = swap_t = swappss_t = huge = devmap = locked = lazy = ahp = 0
        mappings: list[Mapping] | None = [] if want_mappings else None
        cache = self._cache
        DEVICE_PFN, ANON, SHMEM, FILE_SHARED = MapClass.DEVICE_PFN, MapClass.ANON, MapClass.SHMEM, MapClass.FILE_SHARED
        for v in vmas:
            vals = v[8] + (0,) if padded else v[8]
            key = (v[6], v[2], v[7], v[4])
            cls = cache.get(key)
            if cls is None:
                cls = self.mapclass(*key)
            vsize = vals[iSize]
            size += vsize
            rss, swap, hugetlb = vals[iRss], vals[iSwap], vals[iSH] + vals[iPH]
            if cls is DEVICE_PFN:
                devmap += vsize
            if not (rss or swap or hugetlb):
                if mappings is not None:
                    mappings.append(_mapping(v, cls, vsize, [0] * 20, Totals(size=vsize * 1024,
                                    device_mapped=vsize * 1024 if cls is DEVICE_PFN else 0)))
                continue
            pss, swap_pss = vals[iPss], vals[iSwapPss]
            priv = vals[iPC] + vals[iPD]
            rss_t += rss
            pss_t += pss
            uss += priv
            swap_t += swap
            swappss_t += swap_pss
            huge += hugetlb
            locked += vals[iLocked]
            lazy += vals[iLazy]
            ahp += vals[iAHP]
            part = [0] * 20 if mappings is not None else acc
            if cls is ANON or cls is MapClass.ANON_HUGETLB:
                # Anon pages mapped more than once are still COW-shared after fork (or KSM): A.6.
                anon = vals[iAnon]
                cow = min(anon, max(vals[iSC] + vals[iSD], vals[iKsm]))
                own = rss - cow
                own_pss = pss if pss < own else own
                part[_A] += own
                part[_A + 1] += own_pss
                part[_A + 2] += swap
                part[_A + 3] += swap_pss
                part[_C] += cow
                part[_C + 1] += pss - own_pss
            elif cls is SHMEM or cls is MapClass.SHMEM_HUGETLB:
                part[_S] += rss
                part[_S + 1] += pss
                part[_S + 2] += swap
                part[_S + 3] += swap_pss
            elif cls is FILE_SHARED:
                part[_F] += rss
                part[_F + 1] += pss
                part[_F + 2] += swap
                part[_F + 3] += swap_pss
            elif cls is MapClass.DEVICE or cls is DEVICE_PFN:
                part[_D] += rss
                part[_D + 1] += pss
                part[_D + 2] += swap
                part[_D + 3] += swap_pss
            else:
                # Private file or shmem map: anon pages are the ones already written (COW copies);
                # Private_Dirty anon is this process's own, the rest is still shared (A.6).
                anon = vals[iAnon]
                own = min(anon, vals[iPD])
                cow_anon = anon - own
                cache_pages = rss - anon
                own_pss = pss if pss < own else own
                rest = pss - own_pss
                cow_pss = rest * cow_anon // (cow_anon + cache_pages) if cow_anon + cache_pages else 0
                base = _F if cls is MapClass.FILE_PRIVATE else (_C if cls is MapClass.FILE_COW_PENDING else _S)
                part[_A] += own
                part[_A + 1] += own_pss
                part[_C] += cow_anon
                part[_C + 1] += cow_pss
                part[base] += cache_pages
                part[base + 1] += rest - cow_pss
                # Swap here is anon swap entries (COW copies), plus, in a private view of shmem, the
                # object's own swapped pages; SwapPss counts only the anon entries (spec E.1), so
                # anon swap is at least SwapPss (equal unless fork-shared) and the rest is shmem.
                anon_swap = swap if cls is not MapClass.SHMEM_PRIVATE else min(swap, swap_pss)
                part[_A + 2] += anon_swap
                part[_A + 3] += swap_pss
                part[_S + 2] += swap - anon_swap
            if mappings is not None:
                for i in range(20):
                    acc[i] += part[i]
                mappings.append(_mapping(v, cls, vsize, part, Totals(
                    size=vsize * 1024, rss=rss * 1024, pss=pss * 1024, uss=priv * 1024, swap=swap * 1024,
                    swap_pss=swap_pss * 1024, hugetlb=hugetlb * 1024,
                    device_mapped=vsize * 1024 if cls is DEVICE_PFN else 0, locked=vals[iLocked] * 1024,
                    lazyfree=vals[iLazy] * 1024, anon_huge=vals[iAHP] * 1024)))
        totals = Totals(size * 1024, rss_t * 1024, pss_t * 1024, uss * 1024, swap_t * 1024, swappss_t * 1024,
                        huge * 1024, devmap * 1024, locked * 1024, lazy * 1024, ahp * 1024)
        return totals, _kinds(acc), mappings


def _kinds(acc: list[int]) -> dict[Kind, KindUsage]:
    return {k: KindUsage(acc[i * 4] * 1024, acc[i * 4 + 1] * 1024, acc[i * 4 + 2] * 1024, acc[i * 4 + 3] * 1024)
            for i, k in enumerate(KINDS)}


def _mapping(v: RawVma, cls: MapClass, vsize: int, part: list[int], totals: Totals) -> Mapping:
    return Mapping(v[0], v[1], v[2], v[3], v[4], v[5], v[6], tuple(v[7].split()), cls.value, totals, _kinds(part))
