"""Synthetic /proc/PID/smaps text for the C-against-Python parity tests (tests/test_parity.py).

Entries are built the way fs/proc/task_mmu.c would print them (kernel-spec.md A.1, A.2): one header,
the kB fields in the kernel's order, ``THPeligible`` and ``VmFlags``. Within an entry the numbers keep
the kernel's own relations (Shared_* + Private_* = Rss, Pss <= Rss, Anonymous <= Rss, KSM, LazyFree
and AnonHugePages within Anonymous, SwapPss <= Swap and 0 for shmem swap, Locked = Pss of a ``lo``
mapping, hugetlb pages outside Rss), except in the ``wild`` entries, whose values are anything
within bounds: the two implementations must agree on those too.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

# (path, perms, VmFlags, dev) per mapping class, as the kernel prints them (spec A.3, A.4).
TEMPLATES: dict[str, list[tuple[str, str, str, str]]] = {
    "anon": [("", "rw-p", "rd wr mr mw me ac", "00:00"), ("[heap]", "rw-p", "rd wr mr mw me ac", "00:00"),
             ("[stack]", "rw-p", "rd wr mr mw me gd ac", "00:00"), ("/dev/zero", "rw-p", "rd wr mr mw me ac", "00:05"),
             ("", "r--p", "rd mr mw me ac", "00:00")],
    "anon-hugetlb": [("/anon_hugepage (deleted)", "rw-p", "rd wr mr mw me de ht", "00:10")],
    "shmem": [("/dev/zero (deleted)", "rw-s", "rd wr sh mr mw me ms", "00:01"),
              ("/memfd:pool (deleted)", "rw-s", "rd wr sh mr mw me ms", "00:01"),
              ("/SYSV0000abcd (deleted)", "rw-s", "rd wr sh mr mw me ms", "00:01"),
              ("/dev/shm/torch_1_2", "rw-s", "rd wr sh mr mw me ms", "00:19"),
              ("/secretmem (deleted)", "rw-s", "rd wr sh mr mw ms lo dd", "00:0d"),
              ("/run/tmpfs-file", "r--s", "rd mr me ms", "00:2a")],
    "shmem-hugetlb": [("/anon_hugepage (deleted)", "rw-s", "rd wr sh mr mw me ms de ht", "00:10"),
                      ("/memfd:huge (deleted)", "rw-s", "rd wr sh mr mw me ms ht", "00:10")],
    "shmem-private": [("/memfd:pool (deleted)", "r--p", "rd mr mw me", "00:01"),
                      ("/memfd:pool (deleted)", "rw-p", "rd wr mr mw me ac", "00:01"),
                      ("/dev/shm/torch_1_2", "rw-p", "rd wr mr mw me ac", "00:19")],
    "file-shared": [("/data/train.bin", "rw-s", "rd wr sh mr mw me ms", "fe:01"),
                    ("/data/train.bin", "r--s", "rd mr me ms", "fe:01")],
    "file-private": [("/usr/lib/x86_64-linux-gnu/libc.so.6", "r-xp", "rd ex mr mw me", "fe:01"),
                     ("/usr/lib/x86_64-linux-gnu/libc.so.6", "r--p", "rd mr mw me", "fe:01")],
    "file-cow": [("/usr/lib/x86_64-linux-gnu/libc.so.6", "rw-p", "rd wr mr mw me ac", "fe:01"),
                 ("/data/memmap c mode.npy", "rw-p", "rd wr mr mw me ac", "fe:01")],
    "device-pfn": [("[vvar]", "r--p", "rd mr pf io de dd", "00:00"),
                   ("/dev/nvidia0", "rw-s", "rd wr sh mr mw me ms pf io de dd", "00:05")],
    "device": [("[vdso]", "r-xp", "rd ex mr mw me de", "00:00"),
               ("anon_inode:[io_uring]", "rw-s", "rd wr sh mr mw me ms de mm", "00:0e"),
               ("/dev/nvidiactl", "rw-s", "rd wr sh mr mw me ms de dd mm", "00:05")],
}
SHMEM_DEVS = frozenset({"00:2a"})  # the tmpfs of /run/tmpfs-file above (spec A.4: resolved by mountinfo)
HUGETLB_CLASSES = ("anon-hugetlb", "shmem-hugetlb")
ANON_CLASSES = ("anon", "anon-hugetlb")
SHMEM_CLASSES = ("shmem", "shmem-hugetlb", "shmem-private")

# What an entry can carry (issue 8: every mapping class x these, and their combinations).
FEATURES = ("swap", "swap_pss", "locked", "lazyfree", "ksm", "hugetlb", "thp", "file_pmd")

# The kB fields in the order of 6.18's __show_smap, and the shorter lists of older kernels (a field
# missing there reads as 0 in both implementations).
FIELDS_6_18 = ("Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty",
               "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
               "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked")
FIELDS_4_19 = ("Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Shared_Clean", "Shared_Dirty",
               "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "LazyFree", "AnonHugePages",
               "ShmemPmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked")
FIELDS_3_10 = ("Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced",
               "Anonymous", "AnonHugePages", "Swap", "KernelPageSize", "MMUPageSize", "Locked")
LAYOUTS = (FIELDS_6_18, FIELDS_4_19, FIELDS_3_10)


@dataclass
class Entry:
    start: int
    end: int
    path: str
    perms: str
    vmflags: str
    dev: str
    mapclass: str
    features: frozenset[str]
    values: dict[str, int] = field(default_factory=dict)
    inode: int = 0
    offset: int = 0

    def text(self, names: tuple[str, ...], protection_key: bool = False) -> str:
        width = 25 if self.path else 0
        head = f"{self.start:x}-{self.end:x} {self.perms} {self.offset:08x} {self.dev} {self.inode:<{width}d}"
        lines = [(head + " " + self.path) if self.path else head.rstrip() + " "]
        for n in names:  # "Name:" padded with at least one space, the value right-aligned to column 24
            label = f"{n + ':':<15} "
            lines.append(f"{label}{self.values.get(n, 0):>{24 - len(label)}} kB")
        lines.append(f"THPeligible:    {int('hg' in self.vmflags)}")
        if protection_key:
            lines.append("ProtectionKey:         0")
        lines.append(f"VmFlags: {self.vmflags} " if self.vmflags else "VmFlags: ")
        return "\n".join(lines) + "\n"


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` pages in ``parts`` random non-negative parts."""
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


# The field that shows each feature (hugetlb: either hugetlb field; locked: the "lo" VmFlag).
FEATURE_FIELDS = {"swap": "Swap", "swap_pss": "SwapPss", "locked": "Locked", "lazyfree": "LazyFree", "ksm": "KSM",
                  "hugetlb": "Private_Hugetlb", "thp": "AnonHugePages", "file_pmd": "FilePmdMapped"}


def fill(rng: random.Random, e: Entry, wild: bool = False) -> None:
    """The kB fields of ``e`` from its class and features (see the module docstring)."""
    pages = (e.end - e.start) // 4096
    v = e.values
    v["Size"], v["KernelPageSize"], v["MMUPageSize"] = pages * 4, 4, 4
    if wild:  # any value within bounds, no relation kept: both sides must still agree
        top = rng.choice((16, 1 << 20, 1 << 40, 1 << 46))
        for name in FIELDS_6_18[3:]:
            v[name] = rng.choice((0, rng.randint(0, top), rng.randint(0, top)))
        for f in e.features:
            v[FEATURE_FIELDS[f]] = v[FEATURE_FIELDS[f]] or rng.randint(1, top)
        return
    feats = e.features
    if e.mapclass in HUGETLB_CLASSES:
        v["KernelPageSize"] = v["MMUPageSize"] = 2048
        huge = rng.randint(1 if "hugetlb" in feats else 0, max(1, pages // 512)) * 2048
        shared = rng.randint(0, huge // 2048) * 2048 if e.mapclass == "shmem-hugetlb" else 0
        v["Shared_Hugetlb"], v["Private_Hugetlb"] = shared, huge - shared
        return  # hugetlb pages are outside Rss, never swapped (spec A.2, A.7)
    if e.mapclass == "device-pfn":
        return  # VM_PFNMAP: the walker skips it, Rss 0 (spec A.3)
    resident = rng.randint(1 if rng.random() < 0.9 else 0, pages)
    sc, sd, pc, pd = _split(rng, resident, 4)
    mappers = rng.choice((2, 2, 3, 4, 8, 256))
    v["Rss"] = resident * 4
    v["Shared_Clean"], v["Shared_Dirty"], v["Private_Clean"], v["Private_Dirty"] = sc * 4, sd * 4, pc * 4, pd * 4
    v["Pss"] = (pc + pd) * 4 + (sc + sd) * 4 // mappers
    v["Pss_Dirty"] = pd * 4 + sd * 4 // mappers
    v["Referenced"] = rng.randint(0, resident) * 4
    if e.mapclass == "anon":
        anon = resident  # PageAnon, COW-shared and KSM pages included
    elif e.mapclass in ("file-private", "file-cow", "shmem-private"):
        anon = rng.randint(0, resident)  # the written (COW) copies of a private view
    else:
        anon = 0
    v["Anonymous"] = anon * 4
    if "ksm" in feats and anon:  # KSM merges anon pages of private mappings only (mm/ksm.c)
        v["KSM"] = rng.randint(1, anon) * 4
    if "lazyfree" in feats and e.mapclass == "anon" and anon:  # MADV_FREE: private anon only
        v["LazyFree"] = rng.randint(1, anon) * 4
    if "thp" in feats and anon >= 512:
        v["AnonHugePages"] = rng.randint(1, anon // 512) * 2048
    if "thp" in feats and e.mapclass in SHMEM_CLASSES and resident - anon >= 512:
        v["ShmemPmdMapped"] = rng.randint(1, (resident - anon) // 512) * 2048
    if "file_pmd" in feats and e.mapclass.startswith("file") and resident - anon >= 512:
        v["FilePmdMapped"] = rng.randint(1, (resident - anon) // 512) * 2048
    absent = pages - resident
    if ("swap" in feats or "swap_pss" in feats) and absent:
        # anon swap entries (private mappings) and, for shmem, the object's swapped pages
        anon_swap = rng.randint(1, absent) if e.mapclass in ("anon", "file-private", "file-cow", "shmem-private") else 0
        shmem_swap = rng.randint(0, absent - anon_swap) if e.mapclass in SHMEM_CLASSES else 0
        v["Swap"] = (anon_swap + shmem_swap) * 4
        if "swap_pss" in feats:  # 4K / swap count per anon entry; shmem swap counts 0 (spec A.2)
            v["SwapPss"] = anon_swap * 4 // rng.choice((1, 1, 2, 3))
    if "locked" in feats:
        v["Locked"] = v["Pss"]


SIZES = (1, 2, 16, 33, 256, 513, 1024, 4096, 262144)  # pages per mapping


def entries(rng: random.Random, count: int, *, cover: bool = False, wild_share: float = 0.0,
            max_pages: int = SIZES[-1]) -> Iterator[Entry]:
    """``count`` entries at ascending addresses; with ``cover``, first one entry per mapping class x
    feature (and one with all features, and one with none), as the kernel would print it and with
    wild values, then random classes and feature sets."""
    combos: list[tuple[str, frozenset[str], bool]] = []
    if cover:  # each class x feature as the kernel would print it, and with any values (wild)
        for cls in TEMPLATES:
            for wild in (False, True):
                combos += [(cls, frozenset({f}), wild) for f in FEATURES]
                combos += [(cls, frozenset(FEATURES), wild), (cls, frozenset(), wild)]
    addr = 0x5555_5555_4000 + rng.randrange(1 << 20) * 4096
    for i in range(max(count, len(combos))):
        if i < len(combos):
            cls, feats, wild = combos[i]
        else:
            cls = rng.choice(list(TEMPLATES))
            feats = frozenset(f for f in FEATURES if rng.random() < 0.3)
            wild = rng.random() < wild_share
        path, perms, flags, dev = rng.choice(TEMPLATES[cls])
        if "locked" in feats and " lo" not in flags:
            flags += " lo"
        if "thp" in feats and cls in ANON_CLASSES:
            flags += " hg"
        if "ksm" in feats and cls not in SHMEM_CLASSES:
            flags += " mg"
        size = rng.choice([n for n in SIZES if n <= max_pages]) * 4096
        if cls in HUGETLB_CLASSES:
            size = max(size, 2 << 20) // (2 << 20) * (2 << 20)
        addr += rng.choice((0, 4096, 1 << 21))
        e = Entry(addr, addr + size, path, perms, flags, dev, cls, feats, inode=rng.randint(1, 1 << 24) if path else 0,
                  offset=rng.randrange(1 << 16) * 4096 if path.startswith("/") else 0)
        fill(rng, e, wild)
        addr += size
        yield e


def smaps_text(es: list[Entry], names: tuple[str, ...] = FIELDS_6_18, protection_key: bool = False) -> bytes:
    return "".join(e.text(names, protection_key) for e in es).encode()
