"""Fields of ``memtype files``: one file's page cache (and who maps or holds it), directory totals, and
the machine's file cache split into parts that add up to it."""

from __future__ import annotations

from memtype.model.fields import Registry, counter, gauge, info, label
from memtype.model.files import CacheTotal, FileCache, MachineCache

FILE = Registry("file", "one file and how much of it sits in the page cache (memtype files)", [
    label("path", "Path", "the file", lambda f: f.path),
    gauge("size", "Size", "its size (st_size)", lambda f: f.size),
    gauge("cached", "Cached", "bytes in the page cache (cachestat nr_cache, or mincore's resident pages)",
          lambda f: f.cached),
    gauge("dirty", "Dirty", "dirty bytes (cachestat only)", lambda f: f.dirty),
    gauge("writeback", "Wback", "bytes under writeback (cachestat only)", lambda f: f.writeback),
    counter("evicted", "Evicted", "bytes evicted from the cache (cachestat; shmem: swapped out)", lambda f: f.evicted,
            unit="bytes"),
    gauge("recently_evicted", "Recent", "evicted bytes that would have stayed with a little more memory (cachestat)",
          lambda f: f.recently_evicted),
    label("kind", "Kind", "file (page cache) or shmem (tmpfs, memfd: counted in Shmem)", lambda f: f.kind),
    info("method", "Method", "where the figures come from: cachestat or mincore (null: unknown)", lambda f: f.method),
    info("unknown", "Unknown", "why the figures are null: denied, unsupported, capture...", lambda f: f.why,
         attr="why"),
    info("mapped_by", "Mapped by", "PIDs that map it (null: not looked up)",
         lambda f: None if f.mapped_by is None else list(f.mapped_by)),
    info("open_by", "Open by", "PIDs that hold it open (null: not known, e.g. in a capture)",
         lambda f: None if f.open_by is None else list(f.open_by)),
    gauge("cached_before", "Before", "cached bytes before --evict/--warm", lambda f: f.before, attr="before",
          option="action"),
    gauge("mapped_pss", "Mapped", "a capture: Σ PSS of its mappings (the page cache processes map)",
          lambda f: f.mapped_pss, option="capture"),
    label("cgroup", "Cgroup", "the memory cgroup charged for its mapped pages (kpagecgroup), if known",
          lambda f: f.cgroup, option="top"),
], labels=("path",), exclude={"dev": "identity for hard links, not shown", "ino": "identity for hard links, not shown",
                              "span": "its size in whole pages: what cached can reach (the table's %)"},
    csv=["path", "size", "cached", "dirty", "writeback", "evicted", "recently_evicted", "kind", "method", "unknown",
         "mapped_by", "open_by", "cached_before", "mapped_pss", "cgroup"])

CACHE_TOTAL = Registry("cache_total", "files summed: one directory argument, or all of them", [
    label("path", "Path", "the directory, or total", lambda t: t.path),
    gauge("files", "Files", "regular files measured", lambda t: t.files, unit="count"),
    gauge("size", "Size", "their sizes summed", lambda t: t.size),
    gauge("span", "Span", "sizes in whole pages of the files whose cache is known: what cached can reach",
          lambda t: t.span),
    gauge("cached", "Cached", "cached bytes of the files that report it", lambda t: t.cached),
    gauge("dirty", "Dirty", "dirty bytes of the files that report it", lambda t: t.dirty),
    gauge("writeback", "Wback", "bytes under writeback", lambda t: t.writeback),
    counter("evicted", "Evicted", "evicted bytes", lambda t: t.evicted, unit="bytes"),
    gauge("recently_evicted", "Recent", "recently evicted bytes", lambda t: t.recently_evicted),
    gauge("unknown_files", "Unknown", "files whose cached figure is unknown (not in the sums)", lambda t: t.unknown,
          unit="count", attr="unknown"),
], labels=("path",))

MACHINE_CACHE = Registry("machine_cache", "the machine's file cache, and the part processes map or hold open", [
    gauge("file_cache", "File cache", "Cached - Shmem + Buffers (meminfo)", lambda m: m.file_cache),
    gauge("held", "Held", "page cache of the files processes map or hold open (live only)",
          lambda m: m.held if m.live else None),
    gauge("held_unknown_files", "Unknown", "files processes hold whose cache is unknown (not in held)",
          lambda m: m.held_unknown, unit="count", attr="held_unknown"),
    gauge("buffers", "Buffers", "Buffers: block-device cache (filesystem metadata)", lambda m: m.buffers),
    gauge("unheld", "Unheld", "file cache of files no process maps or holds open (read earlier, closed)",
          lambda m: m.unheld),
    gauge("shmem_files", "Shmem", "resident shmem files processes map or hold (in Shmem, not file cache)",
          lambda m: m.shmem, attr="shmem"),
    gauge("mapped_pss", "Mapped", "a capture: Σ PSS of file mappings", lambda m: m.mapped, attr="mapped"),
    gauge("files", "Files", "files processes map or hold open", lambda m: m.count, unit="count", attr="count"),
    gauge("processes", "Procs", "processes read", lambda m: m.processes, unit="count"),
    gauge("processes_unreadable", "Unreadable", "processes whose maps or fds could not be read", lambda m: m.denied,
          unit="count", attr="denied"),
    gauge("processes_gone", "Gone", "processes that exited while being read", lambda m: m.gone, unit="count",
          attr="gone"),
    info("live", "Live", "this machine (false: a capture, which holds no page-cache state)", lambda m: m.live),
], exclude={"files": "records of their own (file)", "notes": "the envelope's notes"},
    partitions={"file_cache": ("held", "mapped_pss", "buffers", "unheld")})  # held live, mapped_pss in a capture

REGISTRIES = (FILE, CACHE_TOTAL, MACHINE_CACHE)
COVERS: tuple[tuple[Registry, type], ...] = ((FILE, FileCache), (CACHE_TOTAL, CacheTotal), (MACHINE_CACHE, MachineCache))
