"""The page-level vocabularies, defined once (style.md rule 7; tools/mm/page-types.c page_flag_names[]).

``/proc/PID/pagemap``: one u64 per virtual page (Documentation/admin-guide/mm/pagemap.rst, spec B.1).
``/proc/kpageflags``: one u64 of KPF_* bits per PFN (include/uapi/linux/kernel-page-flags.h, spec B.2).
Each KPF row: bit, one-letter code, name, and whether the bit is a "kernel hacking" one whose
meaning is not stable ABI (``raw``). Decoding, display and filters all read this table.
"""

from __future__ import annotations

# -- pagemap ----------------------------------------------------------------------------------------
PM_PFN_MASK = (1 << 55) - 1   # bits 0-54: PFN if present (0 without CAP_SYS_ADMIN, since 4.2)
PM_SWAP_TYPE_MASK = 0x1F      # bits 0-4 when swapped
PM_SWAP_OFFSET_SHIFT = 5      # bits 5-54 when swapped
PM_SOFT_DIRTY = 55
PM_EXCLUSIVE = 56             # page exclusively mapped (mapcount == 1), 4.2+
PM_UFFD_WP = 57
PM_GUARD = 58                 # MADV_GUARD_INSTALL region, 6.15+; comes with bit 62 set (spec B.1)
PM_FILE = 61                  # page cache or shared-anon (shmem); also driver pages, huge zero page
PM_SWAP = 62
PM_PRESENT = 63

PAGEMAP_BITS: tuple[tuple[int, str], ...] = (
    (PM_SOFT_DIRTY, "soft_dirty"), (PM_EXCLUSIVE, "exclusive"), (PM_UFFD_WP, "uffd_wp"), (PM_GUARD, "guard"),
    (PM_FILE, "file"), (PM_SWAP, "swapped"), (PM_PRESENT, "present"),
)

# -- kpageflags -------------------------------------------------------------------------------------
# (bit, code, name, raw)
KPF_TABLE: tuple[tuple[int, str, str, bool], ...] = (
    (0, "L", "locked", False), (1, "E", "error", False), (2, "R", "referenced", False),
    (3, "U", "uptodate", False), (4, "D", "dirty", False), (5, "l", "lru", False), (6, "A", "active", False),
    (7, "S", "slab", False), (8, "W", "writeback", False), (9, "I", "reclaim", False), (10, "B", "buddy", False),
    (11, "M", "mmap", False), (12, "a", "anon", False), (13, "s", "swapcache", False),
    (14, "b", "swapbacked", False), (15, "H", "compound_head", False), (16, "T", "compound_tail", False),
    (17, "G", "huge", False), (18, "u", "unevictable", False), (19, "X", "hwpoison", False),
    (20, "n", "nopage", False), (21, "x", "ksm", False), (22, "t", "thp", False), (23, "o", "offline", False),
    (24, "z", "zero_page", False), (25, "i", "idle", False), (26, "g", "pgtable", False),
    (32, "r", "reserved", True), (33, "m", "mlocked", True), (34, "d", "owner_2", True),
    (35, "P", "private", True), (36, "p", "private_2", True), (37, "O", "owner_private", True),
    (38, "h", "arch", True), (39, "c", "uncached", True), (40, "f", "softdirty", True), (41, "H", "arch_2", True),
    (42, "3", "arch_3", True),
)
KPF: dict[str, int] = {name: bit for bit, _, name, _ in KPF_TABLE}


def kpf_mask(*names: str) -> int:
    """The u64 mask of the named KPF bits: ``kpf_mask("slab", "pgtable")``."""
    mask = 0
    for n in names:
        mask |= 1 << KPF[n]
    return mask


def kpf_names(flags: int) -> list[str]:
    """Names of the set bits, in bit order (bits without a name are shown as ``bitN``)."""
    named = {bit for bit, _, _, _ in KPF_TABLE}
    out = [name for bit, _, name, _ in KPF_TABLE if flags >> bit & 1]
    out += [f"bit{b}" for b in range(64) if flags >> b & 1 and b not in named]
    return out
