"""Mapping-level classification: each smaps entry -> a mapping class -> bytes per kind.

Rules: kernel-spec.md A.5 (which class), A.6 (the copy-on-write estimate) and A.4 (path names).
Every entry's resident, proportional and swapped bytes are split so that the kinds add up
exactly to the entry's Rss, Pss, Swap and SwapPss; the estimates only decide *which* kind a byte
goes to, never whether it is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from operator import itemgetter

from memtype.kinds import KINDS, Kind
from memtype.model.records import KindUsage, Mapping, Totals
from memtype.parse import smaps as _smaps
from memtype.parse.smaps import DEV, END, INODE, OFFSET, PATH, PERMS, START, VALUES, VMFLAGS, RawVma

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


# Why a mapping is its class: the rule of spec A.5 that decided (``classify_rule``'s second answer), in
# words for ``memtype explain``. The ids are stable (JSON ``"rule"``).
RULES = {
    "pfnmap": "VmFlags pf/io (VM_PFNMAP/VM_IO): a driver maps memory with no page structs behind it (GPU BARs, "
              "[vvar], perf rings); Rss is 0 by construction and its size is address space, not RAM (A.5 step 1)",
    "driver": "a driver's own pages mapped in: VmFlags mm (VM_MIXEDMAP), an anon_inode: file, or "
              "[vdso]/[vvar]/[vsyscall] (A.5 step 2); the kernel counts them in RssFile, yet they are no page cache",
    "hugetlb-shared": "VmFlags ht (hugetlb) with ms (MAP_SHARED): shared hugetlb pages, outside Rss (A.5 step 3)",
    "hugetlb-private": "VmFlags ht (hugetlb) without ms: private hugetlb pages, outside Rss (A.5 step 3)",
    "shmem-anon": "MAP_SHARED|MAP_ANONYMOUS (path /dev/zero (deleted), VmFlags ms): shmem; also Python's "
                  "mmap.mmap(-1, n) (A.4)",
    "shmem-memfd": "a memfd (path /memfd:NAME, VmFlags ms): shmem that lives while a fd or map holds it (A.4)",
    "shmem-sysv": "a SysV segment attached with shmat (path /SYSV<key>, VmFlags ms): shmem (A.4)",
    "shmem-posix": "a POSIX shm object (path /dev/shm/NAME, VmFlags ms): a tmpfs file, shmem (A.4)",
    "shmem-secret": "memfd_secret (path /secretmem): shmem that is never reclaimed (A.4)",
    "shmem-tmpfs": "MAP_SHARED (VmFlags ms) of a file whose device is a tmpfs/ramfs mount: shmem (A.4)",
    "shmem-object": "MAP_SHARED (VmFlags ms) of a kernel shmem object (a GPU or hugepage object): shmem (A.4)",
    "file-shared": "MAP_SHARED (VmFlags ms) of a regular file: its pages are the file's page cache (A.5 step 4)",
    "anon": "private and no file behind it (no path, [heap], [stack], [anon:*], private /dev/zero): anonymous "
            "memory; pages still mapped by another process after fork() are copy-on-write (A.5 step 5, A.6)",
    "shmem-private": "a private (MAP_PRIVATE) view of a shmem object: reads see the object's pages, a write makes "
                     "a private anonymous copy (A.6)",
    "file-cow": "a private writable map of a regular file (VmFlags wr without ms): pages not yet written are "
                "the file's page cache, copy-on-write; a write copies the page into private anonymous memory "
                "(A.5 step 6)",
    "file-private": "a private read-only map of a regular file (program and library text, read-only data): "
                    "page cache, droppable (A.5 step 6)",
}
_SHMEM_RULES = (("/dev/zero (deleted)", "shmem-anon"), ("/memfd:", "shmem-memfd"), ("/SYSV", "shmem-sysv"),
                ("/dev/shm/", "shmem-posix"), ("/secretmem", "shmem-secret"), ("[anon_shmem:", "shmem-anon"))


def classify_mapping(path: str, perms: str, vmflags: str, dev: str, shmem_devs: frozenset[str]) -> MapClass:
    """The class of one smaps entry (spec A.5, in order).

    Args:
        path: the header's path field ("" for anonymous memory).
        perms: the 4-character permission field; the 4th is "s" for MAP_SHARED.
        vmflags: the VmFlags line ("" where the kernel predates it).
        dev: "major:minor" in hex as printed in the header.
        shmem_devs: devices of tmpfs/ramfs/hugetlbfs mounts.
    """
    return classify_rule(path, perms, vmflags, dev, shmem_devs)[0]


def classify_rule(path: str, perms: str, vmflags: str, dev: str, shmem_devs: frozenset[str]) -> tuple[MapClass, str]:
    """``classify_mapping``'s class and the ``RULES`` id of the step that decided it (the one code path)."""
    flags = vmflags.split()
    if "pf" in flags or "io" in flags:
        return MapClass.DEVICE_PFN, "pfnmap"
    if path.startswith("anon_inode:") or "mm" in flags or path in _SPECIAL_DEVICE_PATHS:
        return MapClass.DEVICE, "driver"
    # VM_MAYSHARE ("ms") is MAP_SHARED; "sh" is missing on read-only shared maps (surprise 3).
    shared = "ms" in flags if flags else perms[3:4] == "s"
    if "ht" in flags:
        return (MapClass.SHMEM_HUGETLB, "hugetlb-shared") if shared else (MapClass.ANON_HUGETLB, "hugetlb-private")
    is_shmem_object = path.startswith(SHMEM_PREFIXES) or (bool(path) and path[0] == "/" and dev in shmem_devs)
    if shared:
        return (MapClass.SHMEM, _shmem_rule(path)) if is_shmem_object else (MapClass.FILE_SHARED, "file-shared")
    if not path or path[0] == "[" or path == "/dev/zero":
        return MapClass.ANON, "anon"
    if is_shmem_object:
        return MapClass.SHMEM_PRIVATE, "shmem-private"
    writable = "wr" in flags if flags else perms[1:2] == "w"
    return (MapClass.FILE_COW_PENDING, "file-cow") if writable else (MapClass.FILE_PRIVATE, "file-private")


def _shmem_rule(path: str) -> str:
    for prefix, rule in _SHMEM_RULES:
        if path.startswith(prefix):
            return rule
    return "shmem-object" if path.startswith(SHMEM_PREFIXES) else "shmem-tmpfs"


# The compiled reader numbers the classes in the order of its MAP_CLASSES (tests/test_parity.py
# asserts that it is MapClass's); its callback answers by name, so the two cannot drift apart.
_compiled = _smaps.compiled()
_CLASS_NUMBER = {MapClass(name): i for i, name in enumerate(_compiled.MAP_CLASSES)} if _compiled else {}

# The accumulator of a split: four slots (rss, pss, swap, swap_pss) per kind, in KINDS order, kB.
_SLOTS = 4 * len(KINDS)
(ANON_RSS, ANON_PSS, ANON_SWAP, ANON_SWAP_PSS, SHARED_RSS, SHARED_PSS, SHARED_SWAP, SHARED_SWAP_PSS, COW_RSS,
 COW_PSS, COW_SWAP, COW_SWAP_PSS, FILE_RSS, FILE_PSS, FILE_SWAP, FILE_SWAP_PSS, DEVICE_RSS, DEVICE_PSS,
 DEVICE_SWAP, DEVICE_SWAP_PSS) = range(_SLOTS)
assert KINDS == (Kind.ANONYMOUS, Kind.SHARED, Kind.COW, Kind.FILE, Kind.DEVICE)  # the slot names above
# Two more slots after the kinds': the file-backed part of cow (Totals.cow_file, cow_file_pss).
COW_FILE_RSS, COW_FILE_PSS = _SLOTS, _SLOTS + 1
_PARTS = _SLOTS + 2
# Classes whose pages all go to one kind: that kind's first slot.
_WHOLE = {MapClass.SHMEM: SHARED_RSS, MapClass.SHMEM_HUGETLB: SHARED_RSS, MapClass.FILE_SHARED: FILE_RSS,
          MapClass.DEVICE: DEVICE_RSS, MapClass.DEVICE_PFN: DEVICE_RSS}
# Where the page cache of a private view goes: unwritten private file pages stay file or become cow.
_VIEW_CACHE = {MapClass.FILE_PRIVATE: FILE_RSS, MapClass.FILE_COW_PENDING: COW_RSS, MapClass.SHMEM_PRIVATE: SHARED_RSS}

# The fields a split reads, in the order of the locals ``split`` unpacks them into (_smaps.SMAPS_FIELDS).
_NAMES = ("Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous",
          "KSM", "Swap", "SwapPss", "Shared_Hugetlb", "Private_Hugetlb", "Locked", "LazyFree", "AnonHugePages",
          "FilePmdMapped")
_REQUIRED = ("Size", "Rss", "Pss")


class Classifier:
    """Splits smaps entries into kinds; caches each distinct mapping's class across processes."""

    def __init__(self, shmem_devs: frozenset[str] = frozenset()) -> None:
        self.shmem_devs = shmem_devs
        self._cache: dict[tuple[str, str, str, str], MapClass] = {}
        self._layouts: dict[tuple[str, ...], tuple[Callable[[tuple[int, ...]], tuple[int, ...]], bool]] = {}
        self._compiled_classes: dict[bytes, int] = {}  # the compiled reader's cache, keyed by raw header bytes

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
        c_reader = _smaps.compiled()
        if c_reader is None:
            return None
        try:
            totals, kinds, reclaim = c_reader.summarize(data, self._compiled_classes, self._class_number)
        except ValueError:
            return None
        return (Totals(*(x * 1024 for x in totals)), _kinds(kinds),
                dict(zip(c_reader.RECLAIM_CLASSES, (x * 1024 for x in reclaim))))

    def compiled_cache(self) -> tuple[dict[bytes, int], Callable[[str, str, str, str], int]]:
        """The class cache and the classify callback the compiled reader takes."""
        return self._compiled_classes, self._class_number

    def _class_number(self, path: str, perms: str, vmflags: str, dev: str) -> int:
        return _CLASS_NUMBER[self.mapclass(path, perms, vmflags, dev)]

    def _layout(self, names: tuple[str, ...]) -> tuple[Callable[[tuple[int, ...]], tuple[int, ...]], bool]:
        """A function picking the fields of ``_NAMES`` from an entry's values, and whether the values
        need a 0 appended first (a field this kernel does not print reads as 0 from that slot)."""
        found = self._layouts.get(names)
        if found is None:
            missing = [n for n in _REQUIRED if n not in names]
            if missing:
                raise ValueError(f"smaps lacks {', '.join(missing)}")
            pad = len(names)
            idx = tuple(names.index(n) if n in names else pad for n in _NAMES)
            found = self._layouts[names] = (itemgetter(*idx), pad in idx)
        return found

    def split(self, names: tuple[str, ...], vmas: Sequence[RawVma], want_mappings: bool = False
              ) -> tuple[Totals, dict[Kind, KindUsage], list[Mapping] | None]:
        """Split a process's entries into kinds.

        Returns:
            Totals over all entries, the per-kind usage (summing to the totals), and, when asked,
            one Mapping per entry with its own split.
        """
        pick, padded = self._layout(names)
        acc = [0] * _PARTS
        all_size = all_rss = all_pss = all_uss = all_swap = all_swap_pss = all_hugetlb = device_mapped = 0
        all_locked = all_lazyfree = all_anon_huge = all_file_huge = 0
        mappings: list[Mapping] | None = [] if want_mappings else None
        cache, whole = self._cache, _WHOLE
        ANON, ANON_HUGETLB, DEVICE_PFN = MapClass.ANON, MapClass.ANON_HUGETLB, MapClass.DEVICE_PFN
        for v in vmas:
            key = (v[PATH], v[PERMS], v[VMFLAGS], v[DEV])
            cls = cache.get(key)
            if cls is None:
                cls = self.mapclass(*key)
            (size, rss, pss, shared_clean, shared_dirty, private_clean, private_dirty, anon, ksm, swap, swap_pss,
             shared_hugetlb, private_hugetlb, locked, lazyfree, anon_huge, file_huge) = pick(
                 v[VALUES] + (0,) if padded else v[VALUES])
            all_size += size
            hugetlb = shared_hugetlb + private_hugetlb
            if cls is DEVICE_PFN:
                device_mapped += size
            if not (rss or swap or hugetlb):
                if mappings is not None:
                    mappings.append(_mapping(v, cls, [0] * _PARTS, Totals(
                        size=size * 1024, device_mapped=size * 1024 if cls is DEVICE_PFN else 0)))
                continue
            all_rss += rss
            all_pss += pss
            all_uss += private_clean + private_dirty
            all_swap += swap
            all_swap_pss += swap_pss
            all_hugetlb += hugetlb
            all_locked += locked
            all_lazyfree += lazyfree
            all_anon_huge += anon_huge
            all_file_huge += file_huge
            part = [0] * _PARTS if mappings is not None else acc
            if cls is ANON or cls is ANON_HUGETLB:
                # Anon pages mapped more than once are still COW-shared after fork (or KSM): A.6.
                cow = min(anon, max(shared_clean + shared_dirty, ksm))
                own = rss - cow
                own_pss = pss if pss < own else own
                part[ANON_RSS] += own
                part[ANON_PSS] += own_pss
                part[ANON_SWAP] += swap
                part[ANON_SWAP_PSS] += swap_pss
                part[COW_RSS] += cow
                part[COW_PSS] += pss - own_pss
            else:
                base = whole.get(cls)
                if base is None:
                    _split_private_view(part, cls, rss, pss, swap, swap_pss, anon, private_dirty)
                else:
                    part[base] += rss
                    part[base + 1] += pss
                    part[base + 2] += swap
                    part[base + 3] += swap_pss
            if mappings is not None:
                for i in range(_PARTS):
                    acc[i] += part[i]
                mappings.append(_mapping(v, cls, part, Totals(
                    size=size * 1024, rss=rss * 1024, pss=pss * 1024, uss=(private_clean + private_dirty) * 1024,
                    swap=swap * 1024, swap_pss=swap_pss * 1024, hugetlb=hugetlb * 1024,
                    device_mapped=size * 1024 if cls is DEVICE_PFN else 0, locked=locked * 1024,
                    lazyfree=lazyfree * 1024, anon_huge=anon_huge * 1024, file_huge=file_huge * 1024,
                    cow_file=part[COW_FILE_RSS] * 1024, cow_file_pss=part[COW_FILE_PSS] * 1024)))
        totals = Totals(all_size * 1024, all_rss * 1024, all_pss * 1024, all_uss * 1024, all_swap * 1024,
                        all_swap_pss * 1024, all_hugetlb * 1024, device_mapped * 1024, all_locked * 1024,
                        all_lazyfree * 1024, all_anon_huge * 1024, all_file_huge * 1024, acc[COW_FILE_RSS] * 1024,
                        acc[COW_FILE_PSS] * 1024)
        return totals, _kinds(acc), mappings


def _split_private_view(part: list[int], cls: MapClass, rss: int, pss: int, swap: int, swap_pss: int, anon: int,
                        private_dirty: int) -> None:
    """A private file or shmem map: its anon pages are the ones already written (COW copies); the
    Private_Dirty ones are this process's own, the rest still shared (A.6). The other resident pages
    are the object's page cache: file, cow (private writable file: COW-pending) or shared (shmem)."""
    own = min(anon, private_dirty)
    cow_anon = anon - own
    cache_pages = rss - anon
    own_pss = pss if pss < own else own
    rest = pss - own_pss
    cow_pss = rest * cow_anon // (cow_anon + cache_pages) if cow_anon + cache_pages else 0
    cache = _VIEW_CACHE[cls]
    part[ANON_RSS] += own
    part[ANON_PSS] += own_pss
    part[COW_RSS] += cow_anon
    part[COW_PSS] += cow_pss
    part[cache] += cache_pages
    part[cache + 1] += rest - cow_pss
    if cache == COW_RSS:  # unwritten page cache under a private writable map: cow's file-backed part
        part[COW_FILE_RSS] += cache_pages
        part[COW_FILE_PSS] += rest - cow_pss
    # Swap here is anon swap entries (COW copies), plus, in a private view of shmem, the object's own
    # swapped pages; SwapPss counts only the anon entries (spec E.1), so anon swap is at least SwapPss
    # (equal unless fork-shared) and the rest is shmem.
    anon_swap = swap if cls is not MapClass.SHMEM_PRIVATE else min(swap, swap_pss)
    part[ANON_SWAP] += anon_swap
    part[ANON_SWAP_PSS] += swap_pss
    part[SHARED_SWAP] += swap - anon_swap


def _kinds(acc: Sequence[int]) -> dict[Kind, KindUsage]:
    return {k: KindUsage(acc[i * 4] * 1024, acc[i * 4 + 1] * 1024, acc[i * 4 + 2] * 1024, acc[i * 4 + 3] * 1024)
            for i, k in enumerate(KINDS)}


def _mapping(v: RawVma, cls: MapClass, part: list[int], totals: Totals) -> Mapping:
    return Mapping(v[START], v[END], v[PERMS], v[OFFSET], v[DEV], v[INODE], v[PATH], tuple(v[VMFLAGS].split()),
                   cls.value, totals, _kinds(part))
