"""Records of ``memtype files``: one file's page cache, directory totals, what was skipped.

All sizes are bytes. ``None`` means unknown (style.md rule 3): the kernel refused to tell, or would
have lied (kernel-spec.md G.2, surprise 13), or the source cannot know (mincore has no dirty or
evicted figure; a capture has no page cache state).
"""

from __future__ import annotations

FIGURES = ("cached", "dirty", "writeback", "evicted", "recently_evicted")


class FileCache:
    """One regular file and how much of it sits in the page cache.

    ``method`` is "cachestat" or "mincore" (where the figures come from), or None when they are
    unknown; ``why`` then says why ("denied": the kernel would refuse or lie, "unsupported", ...).
    ``kind`` is "file" (page cache) or "shmem" (tmpfs, memfd: counted in Shmem, and "evicted"
    there means swapped out, spec surprise 7).
    """

    __slots__ = ("path", "size", "cached", "dirty", "writeback", "evicted", "recently_evicted", "method", "why",
                 "dev", "ino", "kind", "mapped_by", "open_by", "cgroup", "mapped_pss", "before", "span")

    def __init__(self, path: str, size: int | None, cached: int | None = None, dirty: int | None = None,
                 writeback: int | None = None, evicted: int | None = None, recently_evicted: int | None = None,
                 method: str | None = None, why: str | None = None, dev: int = 0, ino: int = 0,
                 kind: str = "file", span: int | None = None) -> None:
        self.path, self.size = path, size
        self.cached, self.dirty, self.writeback = cached, dirty, writeback
        self.evicted, self.recently_evicted = evicted, recently_evicted
        self.method, self.why, self.dev, self.ino, self.kind = method, why, dev, ino, kind
        self.mapped_by: tuple[int, ...] | None = None  # PIDs that map it; None where not looked up
        self.open_by: tuple[int, ...] | None = None  # PIDs that hold it open; None where not known (captures)
        self.cgroup: str | None = None  # memory cgroup charged for its mapped pages (kpagecgroup), if known
        self.mapped_pss: int | None = None  # captures: Σ PSS of its mappings (file kind)
        self.before: int | None = None  # cached bytes before --evict/--warm
        self.span = span  # its size in whole pages of the machine's page size, once measured

    def __repr__(self) -> str:
        return f"FileCache({self.path!r}, size={self.size}, cached={self.cached}, method={self.method})"


class CacheTotal:
    """Sums over files: each figure sums the files that report it; ``unknown`` counts the others.

    A figure that files have but none reports stays None (rule 3 with the explicit rule: a total
    covers the files whose figure is known, and says how many it leaves out); with no file at all it
    is 0. Hard-linked files count once.
    """

    __slots__ = ("path", "files", "size", "span", "cached", "dirty", "writeback", "evicted", "recently_evicted",
                 "unknown")

    def __init__(self, path: str) -> None:
        self.path = path
        self.files = 0
        self.size = 0
        self.span = 0  # sizes in whole pages of the files whose cache is known: what "cached" can reach
        self.cached: int | None = None
        self.dirty: int | None = None
        self.writeback: int | None = None
        self.evicted: int | None = None
        self.recently_evicted: int | None = None
        self.unknown = 0  # files whose cached figure is unknown

    def add_all(self, files: list[FileCache]) -> None:
        """Add ``files`` (one pass per figure: ~10 ms per 100,000 files)."""
        self.files += len(files)
        sizes = [f.size for f in files if f.size is not None]
        self.size += sum(sizes)
        self.span += sum([f.span for f in files if f.span is not None and f.cached is not None])
        self.unknown += sum([1 for f in files if f.cached is None])
        for name in FIGURES:
            values = [getattr(f, name) for f in files]
            known = [v for v in values if v is not None]
            if known or len(known) == len(values):  # a sum over no file at all is 0, not unknown
                mine = getattr(self, name)
                setattr(self, name, sum(known) + (mine or 0))


class Skip:
    """A path that was not measured, and why: "symlink", "special", "pseudo filesystem", "denied", "gone"..."""

    __slots__ = ("path", "reason")

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason

    def __repr__(self) -> str:
        return f"Skip({self.path!r}, {self.reason!r})"


class FilesReport:
    """``memtype files PATH...``: the files, one total per directory argument, a grand total, the skips."""

    __slots__ = ("files", "dirs", "total", "skipped", "method", "notes", "action", "arguments")

    def __init__(self, method: str) -> None:
        self.files: list[FileCache] = []
        self.dirs: list[CacheTotal] = []
        self.total = CacheTotal("total")
        self.skipped: list[Skip] = []
        self.method = method  # "cachestat" or "mincore"
        self.notes: list[str] = []
        self.action: str | None = None  # "evict" or "warm" once one ran
        self.arguments = 0  # paths given


class MachineCache:
    """``memtype files --top N``: the cached files processes map or hold open, and what they explain.

    ``file_cache`` is Cached − Shmem + Buffers (kernel-spec C.1); ``held`` the page cache of every
    regular, non-shmem file any process maps or holds open; ``buffers`` is Buffers (block-device
    cache: filesystem metadata); ``unheld`` = file_cache − held − buffers: cache of files nobody maps
    or holds open (read earlier and closed). The three add up to file_cache exactly.
    ``held``/``unheld`` are None where the figures are unknown (a capture: see ``mapped``).
    """

    __slots__ = ("files", "count", "file_cache", "buffers", "held", "held_unknown", "shmem", "mapped",
                 "processes", "denied", "gone", "live", "notes")

    def __init__(self, files: list[FileCache], count: int, file_cache: int | None, buffers: int | None) -> None:
        self.files = files  # the top N, most cached first
        self.count = count  # files processes map or hold open (regular files, shmem included)
        self.file_cache, self.buffers = file_cache, buffers
        self.held: int | None = None
        self.held_unknown = 0  # files whose cache figure is unknown (not in ``held``)
        self.shmem: int | None = None  # resident shmem files (tmpfs, memfd): part of Shmem, not file cache
        self.mapped: int | None = None  # captures: Σ PSS of file mappings (the page cache processes map)
        self.processes = 0
        self.denied = 0
        self.gone = 0
        self.live = True
        self.notes: list[str] = []

    @property
    def unheld(self) -> int | None:
        """Page cache of files no process maps or holds open (the rest of the file cache, named)."""
        part = self.held if self.live else self.mapped
        if self.file_cache is None or part is None:
            return None
        return self.file_cache - part - (self.buffers or 0)
