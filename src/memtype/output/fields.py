"""One table of the numeric fields every front end shows (style.md rule 8).

The id is the JSON key (``pss``, or ``categories.cow.rss`` in JSON / ``cow.rss`` in CSV), the CSV
header and the ``--sort`` token; the title is for tables only.
"""

from __future__ import annotations

from collections.abc import Callable

from memtype.kinds import KINDS, Kind
from memtype.model.records import KindUsage, Totals


TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Protocol

    class HasMemory(Protocol):
        totals: Totals
        categories: dict[Kind, KindUsage]


class Field:
    """A numeric column: stable id, table title, how to read it from a record, and its help."""

    __slots__ = ("id", "title", "get", "help")

    def __init__(self, id: str, title: str, get: Callable[[HasMemory], int], help: str) -> None:
        self.id, self.title, self.get, self.help = id, title, get, help


def _total(name: str) -> Callable[[HasMemory], int]:
    return lambda x: int(getattr(x.totals, name))


def _kind(kind: Kind, part: str) -> Callable[[HasMemory], int]:
    return lambda x: int(getattr(x.categories[kind], part))


TOTAL_FIELDS: tuple[Field, ...] = (
    Field("size", "Size", _total("size"), "virtual size of the mappings"),
    Field("rss", "RSS", _total("rss"), "resident bytes (smaps Rss)"),
    Field("pss", "PSS", _total("pss"), "proportional share: each page divided by its mappers (smaps Pss)"),
    Field("uss", "USS", _total("uss"), "pages only this process maps (Private_Clean + Private_Dirty)"),
    Field("swap", "Swap", _total("swap"), "bytes in swap, anon and shmem (smaps Swap)"),
    Field("swap_pss", "SwapPSS", _total("swap_pss"), "proportional swap (anon only; shmem swap counts 0)"),
    Field("hugetlb", "Huge", _total("hugetlb"), "hugetlb pages (outside Rss)"),
    Field("device_mapped", "DevMap", _total("device_mapped"), "size of pf/io device mappings (not RAM)"),
    Field("locked", "Locked", _total("locked"), "locked (mlock) bytes"),
    Field("lazyfree", "LazyFree", _total("lazyfree"), "MADV_FREE'd pages the kernel may drop"),
)

KIND_FIELDS: tuple[Field, ...] = tuple(
    Field(f"{k.value}.{part}", k.label if part == "rss" else f"{k.label} {part}", _kind(k, part), k.help)
    for k in KINDS for part in ("rss", "pss", "swap", "swap_pss"))

FIELDS: dict[str, Field] = {f.id: f for f in TOTAL_FIELDS + KIND_FIELDS}

# `--sort` accepts a kind name for its resident bytes (``--sort cow``).
SORT_ALIASES = {k.value: f"{k.value}.rss" for k in KINDS}
