"""The vocabulary: the five resident kinds of memory memtype reports, once, for every front end.

Spec: shared/docs/kernel-spec.md section 0 (categories and precedence). Swap is reported per kind
(the ``swap`` of each kind), not as a kind of its own, because only the origin decides where a
swapped page came back from.
"""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    """A resident kind of memory. The value is the stable id used in JSON, CSV and column names."""

    ANONYMOUS = "anonymous"
    SHARED = "shared"
    COW = "cow"
    FILE = "file"
    DEVICE = "device"

    @property
    def label(self) -> str:
        """Short column title: Anon, Shared, CoW, File, Device."""
        return _TITLES[self]

    @property
    def help(self) -> str:
        return _HELP[self]


KINDS: tuple[Kind, ...] = tuple(Kind)

_TITLES = {
    Kind.ANONYMOUS: "Anon",
    Kind.SHARED: "Shared",
    Kind.COW: "CoW",
    Kind.FILE: "File",
    Kind.DEVICE: "Device",
}

_HELP = {
    Kind.ANONYMOUS: "private anonymous pages only this process maps: heap, stack, private mmap (swappable)",
    Kind.SHARED: "shmem: MAP_SHARED anonymous, memfd, /dev/shm, SysV, tmpfs files (swappable, never dropped)",
    Kind.COW: "copy-on-write: anon pages still shared after fork, KSM, unwritten private writable file pages",
    Kind.FILE: "page cache of regular files (droppable: the file is the source of truth)",
    Kind.DEVICE: "driver pages mapped into the process ([vdso], /dev/nvidiactl, anon_inode:*): never reclaimable",
}


# -- the palette ------------------------------------------------------------------------------------
# One colour per kind, the same in every front end (the report's SVG, the tables' rich styles, top).
# Okabe & Ito's "Color Universal Design" set (jfly.uni-koeln.de/color, 2008): eight colours chosen to
# stay distinct under protanopia, deuteranopia and tritanopia, the palette Wong recommends in Nature
# Methods 8:441 (2011) and that ggplot2/matplotlib ship as their colour-blind-safe qualitative set.
# The six kinds take six of its colours; the rows of `memtype system` that are not kinds (kernel, free...)
# are greys or the remaining yellow, so they never read as a kind. Each kind also has a pattern-free
# label in every chart, so colour is never the only cue (WCAG 1.4.1).
KIND_COLOURS: dict[str, str] = {
    "anonymous": "#D55E00",  # vermillion
    "cow": "#E69F00",  # orange: next to anonymous, as cow pages become anonymous when written
    "shared": "#CC79A7",  # reddish purple
    "file": "#56B4E9",  # sky blue
    "device": "#009E73",  # bluish green
    "swap": "#0072B2",  # blue
}
# The other rows of `memtype system` (model.machine.ROW_IDS), drawn beside the kinds.
ROW_COLOURS: dict[str, str] = {
    **KIND_COLOURS,
    "swap_cache": "#F0E442",  # yellow, Okabe-Ito's eighth
    "kernel": "#6E6E6E",
    "hugetlb": "#9A9A9A",
    "free": "#E4E4E4",
    "unaccounted": "#BDBDBD",
}


def kind_colour(kind: str) -> str:
    """The colour of a kind or `memtype system` row id (``Kind.value``, "swap", "kernel"...); grey if unknown."""
    return ROW_COLOURS.get(kind, "#BDBDBD")
