"""Which processes a sampler re-reads the smaps of in a tick, and in what order (pure: no Root).

Every tick reads every process's stat (and status where stat moved); smaps, which costs the kernel
a page-table walk (~11 ns per resident page here, plus ~16 µs per mapping), only for:

* ``changed``: its stat moved since its last smaps read (resident pages, minor or major faults:
  an allocation, a free, a copy-on-write break, a swap-in or -out all move one of them);
* ``new``: never read (no kinds yet; its counters are shown meanwhile). After the changed ones: a
  machine that spawns short-lived processes by the hundred must not starve the ones being watched;
* ``family``: a process it may share anonymous pages with changed, forked or exited (below);
* ``big``: a process at or above the big threshold whose last read is ``big_interval`` old: its
  changes do not trigger reads (process-exporter#246, htop#1712: walking hundreds of GiB takes
  seconds and holds its mmap lock);
* ``refresh``: the rest, oldest first, once their kinds are ``refresh`` seconds old (what moves the
  kinds of a process whose counters stand still: other processes mapping or dropping pages it
  shares, so its PSS, or KSM merging).

The first three are urgent; the last two are routine. The sampler spends its CPU budget on the urgent
ones first, but keeps a share of it for the routine ones, so a busy machine cannot starve them: every
process is re-read within about ``refresh`` seconds plus the ticks its share needs.

Fork family. Anonymous pages are shared between processes only by fork (and KSM), so only a fork
relative can move a process's copy-on-write split without moving its counters. Three events do:

* a fork: the child maps its parent's pages, so the parent's PSS falls: the parent is marked;
* an exit: the pages it shared are mapped once less: its parent and children are marked;
* a copy-on-write break: the writer faults (it is ``changed``) and gets its own copy, and the
  processes it shared the page with now map it once less, with no fault of theirs. The sampler sees
  it when the writer is re-read: its fork-shared anonymous pages (``shared_anon``) fell. Then its
  family is marked, in the same tick: everyone reachable through ppid links (the only record of who
  forked whom; a reparented orphan loses it, and the routine refresh covers it) and through
  processes whose last read showed fork-shared anonymous pages or that were never read. A shell
  that forks and execs its commands shares nothing, so its other children are not dragged along;
  and a process that faults on new memory of its own (its shared pages unchanged) marks no one.

What is left to the routine refresh: the small PSS moves of siblings at a fork or exit (a page
shared by n becomes shared by n + 1), and sharing that ppid links do not show.
"""

from __future__ import annotations

from memtype.model.sample import ProcessSample, SmapsRows

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Iterable

    from memtype.model.sample import ProcessKey
    from memtype.model.sampling import Baseline

    StatSig = tuple[int | None, int, int, str, int, str]  # rss pages, minflt, majflt, comm, ppid, state

NEW, CHANGED, FAMILY, BIG, REFRESH = "new", "changed", "family", "big", "refresh"
REASONS = (NEW, CHANGED, FAMILY, BIG, REFRESH)
_URGENT_ORDER = {CHANGED: 0, NEW: 1, FAMILY: 2}


class Tracked:
    """The sampler's memory of one live process (mutable; dropped when the process exits).

    ``sample``: its latest ProcessSample (this tick's counters, the rows of its last smaps read);
    ``stat_sig``: its last stat's figures (unchanged: the sample is reused as is); ``read_sig``: the
    stat figures when its smaps was last read (``None``: never); ``dirty``: a fork relative moved since;
    ``cost``: CPU seconds of its last smaps read; ``shared``: kB of fork-shared anonymous pages at its
    last read (``shared_anon``; ``None``: not read); ``big``: resident at or above the threshold;
    ``denied_until``: its smaps was refused, not asked again before then.
    """

    __slots__ = ("sample", "stat_sig", "read_sig", "dirty", "cost", "shared", "big", "baseline", "denied_until")

    def __init__(self, sample: ProcessSample, stat_sig: StatSig, baseline: Baseline) -> None:
        self.sample = sample
        self.stat_sig = stat_sig
        self.read_sig: tuple[int | None, int, int] | None = None
        self.dirty = False
        self.cost: float | None = None
        self.shared: int | None = None
        self.big = False
        self.baseline = baseline
        self.denied_until: float | None = None

    @property
    def changed(self) -> bool:
        """Its resident pages or faults moved since its smaps was read (or it was never read)."""
        return self.read_sig is None or self.stat_sig[:3] != self.read_sig

    def read_at(self) -> float:
        at = self.sample.smaps_at
        return float("-inf") if at is None else at


class Links:
    """One tick's ppid links: each process's parent and children among the live ones."""

    __slots__ = ("parent", "children")

    def __init__(self, tracked: dict[ProcessKey, Tracked]) -> None:
        by_pid = {key[0]: key for key in tracked}
        self.parent: dict[ProcessKey, ProcessKey] = {}
        self.children: dict[ProcessKey, list[ProcessKey]] = {}
        for key, t in tracked.items():
            ppid = t.sample.ppid
            up = by_pid.get(ppid) if ppid is not None else None
            if up is not None and up != key:
                self.parent[key] = up
                self.children.setdefault(up, []).append(key)

    def relatives(self, key: ProcessKey) -> list[ProcessKey]:
        up = self.parent.get(key)
        return ([up] if up is not None else []) + self.children.get(key, [])


PARENT, RELATIVES, WALK = "parent", "relatives", "walk"  # what a seed marks: see mark_families


def mark_families(tracked: dict[ProcessKey, Tracked], seeds: Iterable[tuple[ProcessKey, Links, str]],
                  links: Links) -> list[ProcessKey]:
    """Mark dirty the processes the seeds may have moved (module docstring); return the newly marked.

    Each seed is ``(key, seed_links, scope)``: ``seed_links`` gives its own relatives (the previous
    tick's for one that exited); ``scope`` is ``PARENT`` (it forked: its parent), ``RELATIVES`` (it
    exited: its parent and children) or ``WALK`` (it broke sharing: everyone reachable through
    relatives that may share). One walk for all seeds: each process is visited once a tick."""
    marked: list[ProcessKey] = []
    seen: set[ProcessKey] = set()

    def mark(key: ProcessKey) -> None:
        t = tracked[key]
        if not t.dirty and t.read_sig is not None:
            t.dirty = True
            marked.append(key)

    for seed, seed_links, scope in seeds:
        if scope == PARENT:
            up = seed_links.parent.get(seed)
            if up is not None and up in tracked:
                mark(up)
            continue
        near = [r for r in seed_links.relatives(seed) if r in tracked]
        if scope == RELATIVES:
            for r in near:
                mark(r)
            continue
        seen.add(seed)
        queue = [r for r in near if r not in seen and _may_share(tracked[r])]
        while queue:
            key = queue.pop()
            if key in seen:
                continue
            seen.add(key)
            mark(key)
            queue.extend(r for r in links.relatives(key) if r not in seen and _may_share(tracked[r]))
    return marked


def _may_share(t: Tracked) -> bool:
    return t.shared != 0  # None: never read; -1: unknown


def plan(tracked: dict[ProcessKey, Tracked], now: float, *, big_interval: float,
         refresh: float) -> tuple[list[tuple[ProcessKey, str]], list[tuple[ProcessKey, str]]]:
    """The smaps reads due now: ``(urgent, routine)``, each ``(key, reason)`` in the order to read them.

    Urgent: changed, then new (the most resident first: a view sorted by size shows its top rows split
    in its first frame, the rest as they come), then family, each oldest read first. Routine: big processes
    whose read is ``big_interval`` old, then the ones whose read is ``refresh`` old, oldest first.
    A process whose smaps was refused is not due until its ``denied_until``.
    """
    urgent: list[tuple[int, float, int, ProcessKey, str]] = []
    routine: list[tuple[int, float, int, ProcessKey, str]] = []
    for key, t in tracked.items():
        if t.denied_until is not None and now < t.denied_until:
            continue
        at = t.read_at()
        if t.big:
            if now - at >= big_interval:
                routine.append((0, at, 0, key, BIG))
            continue
        reason = NEW if t.read_sig is None else CHANGED if t.changed else FAMILY if t.dirty else None
        if reason is not None:
            size = -(t.stat_sig[0] or 0) if reason == NEW else 0  # stat's rss pages (None: unknown)
            urgent.append((_URGENT_ORDER[reason], at, size, key, reason))
        elif now - at >= refresh:
            routine.append((1, at, 0, key, REFRESH))
    urgent.sort(key=lambda item: (item[0], item[1], item[2], item[3][0]))
    routine.sort(key=lambda item: (item[0], item[1], item[2], item[3][0]))
    return [(key, why) for *_, key, why in urgent], [(key, why) for *_, key, why in routine]


def shared_anon(rows: SmapsRows) -> int:
    """kB of anonymous pages that another process maps too: per entry, ``Anonymous`` beyond its private
    pages (``Private_Clean + Private_Dirty``: pages mapped once). Only fork (or KSM) shares anonymous
    pages (kernel-spec A.6). A lower bound where file pages share the entry; ``-1`` (unknown: may
    share) for an smaps without these fields."""
    names = rows.names
    try:
        anon, clean, dirty = names.index("Anonymous"), names.index("Private_Clean"), names.index("Private_Dirty")
    except ValueError:
        return -1
    n, w, base = rows.numbers, rows.width, rows.width - len(names)
    total = 0
    for i in range(base, len(n), w):
        extra = n[i + anon] - n[i + clean] - n[i + dirty]
        if extra > 0:
            total += extra
    return total


def due_count(items: Iterable[tuple[ProcessKey, str]]) -> dict[str, int]:
    """How many reads of each reason."""
    counts = dict.fromkeys(REASONS, 0)
    for _, why in items:
        counts[why] += 1
    return counts
