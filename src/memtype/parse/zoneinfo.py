"""/proc/zoneinfo: per memory zone, its free pages, watermarks and per-CPU free lists (in pages).

Pure functions on text (style.md rule 2). The layout is mm/vmstat.c zoneinfo_show_print:

    Node 0, zone   Normal
      pages free     5809214
            boost    0
            min      8532
            low      10665
            high     12798
            ...
            managed  5921280
      pagesets
        cpu: 0
                  count:    18754
                  high:     18925
                  batch:    63

The watermarks are ``key value`` (no colon); the per-CPU pageset lines are ``key: value``, so a
pageset's ``high:`` (its list's limit) is never taken for the zone's ``high`` watermark.
"""

from __future__ import annotations


class Zone:
    """One zone; every figure in pages, ``None`` where the kernel did not print it."""

    __slots__ = ("node", "name", "free", "boost", "min", "low", "high", "managed", "pcp_count")

    def __init__(self, node: int, name: str) -> None:
        self.node, self.name = node, name
        self.free: int | None = None
        self.boost: int | None = None
        self.min: int | None = None
        self.low: int | None = None
        self.high: int | None = None
        self.managed: int | None = None
        self.pcp_count = 0  # free pages on the CPUs' pagesets: the ``count:`` lines, summed

    def __repr__(self) -> str:
        return f"Zone({self.node}, {self.name}, free={self.free}, high={self.high}, pcp={self.pcp_count})"


_WATERMARKS = frozenset({"min", "low", "high", "boost", "managed"})


def parse_zoneinfo(text: str) -> list[Zone]:
    """Every zone, in file order; lines it does not use are ignored."""
    zones: list[Zone] = []
    zone: Zone | None = None
    for line in text.splitlines():
        if line.startswith("Node "):
            head, _, name = line.partition(", zone")
            node = head[5:].strip()
            zone = Zone(int(node) if _is_number(node) else -1, name.strip())
            zones.append(zone)
            continue
        if zone is None:
            continue
        words = line.split()
        if len(words) == 3 and words[0] == "pages" and words[1] == "free" and _is_number(words[2]):
            zone.free = int(words[2])
        elif len(words) == 2 and words[0] in _WATERMARKS and _is_number(words[1]):
            setattr(zone, words[0], int(words[1]))
        elif len(words) == 2 and words[0] == "count:" and _is_number(words[1]):
            zone.pcp_count += int(words[1])
    return zones


def _is_number(word: str) -> bool:
    return word.isascii() and word.isdigit()


def pcp_free_pages(zones: list[Zone]) -> int:
    """Free pages on the per-CPU lists, over all zones (they are not in MemFree: NR_FREE_PAGES counts
    the buddy lists only)."""
    return sum(z.pcp_count for z in zones)


def high_watermark_pages(zones: list[Zone]) -> int:
    """The zones' high watermarks, boost included, summed (pages): kswapd, once woken at the low
    watermark, reclaims until free memory is back above them. The kernel's high_wmark_pages() is
    ``_watermark[WMARK_HIGH] + watermark_boost`` (include/linux/mmzone.h).

    Raises:
        ValueError: no zone has a ``high`` line.
    """
    found = [z for z in zones if z.high is not None]
    if not found:
        raise ValueError("zoneinfo has no high watermark lines")
    return sum((z.high or 0) + (z.boost or 0) for z in found)
