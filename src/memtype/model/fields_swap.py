"""Fields of ``memtype swap``: the machine's swap (devices, zswap, zram), who is in it (processes,
shared-memory objects, mappings), and the attribution whose parts add up to the swap used."""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.fields import Registry, gauge, info, label
from memtype.model.swap import ShmemObject, SwapInfo, SwappedMapping, SwapReport, Zram, Zswap, anon_swap, anon_swap_pss
from memtype.parse.swapfiles import SwapDevice

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Getter


def _zswap(name: str) -> Getter:
    return lambda r: getattr(r.info.zswap, name)


def _part(name: str) -> Getter:
    return lambda r: r.attribution.get(name)


_ATTRIBUTION = {"anonymous": "Σ anon SwapPss of processes: the swap slots they hold",
                "shared": "shared-memory objects (memfd, /dev/shm, SysV, tmpfs), each counted once",
                "rest": "used - the others: swap cache of pages back in RAM, unmapped tmpfs, unread processes"}

SWAP = Registry("swap", "the machine's swap and who is in it (memtype swap)", [
    info("swappiness", "Swappiness", "vm.swappiness: 0-200, how readily reclaim swaps rather than drops page cache",
         lambda r: r.info.swappiness, attr="info.swappiness"),
    gauge("total", "Total", "swap space of the active devices (SwapTotal)", lambda r: r.info.total, attr="info.total"),
    gauge("used", "Used", "SwapTotal - SwapFree", lambda r: r.info.used, attr="info.used"),
    gauge("free", "Free", "SwapFree", lambda r: r.info.free, attr="info.free"),
    gauge("cached", "Cached", "SwapCached: pages both in RAM and in swap", lambda r: r.info.cached, attr="info.cached"),
    info("room", "Room", "an active device has a free slot: reclaim could swap now", lambda r: r.info.room,
         attr="info.room"),
    info("zswap.enabled", "Zswap", "zswap is on (module parameter enabled)", _zswap("enabled"),
         attr="info.zswap.enabled"),
    info("zswap.compressor", "Compressor", "zswap's compressor", _zswap("compressor"), attr="info.zswap.compressor"),
    gauge("zswap.max_pool_percent", "Max pool", "the most of RAM zswap's pool may use", _zswap("max_pool_percent"),
          unit="percent", attr="info.zswap.max_pool_percent"),
    gauge("zswap.pool", "Pool", "RAM zswap's pool uses (meminfo Zswap)", _zswap("pool"), attr="info.zswap.pool"),
    gauge("zswap.stored", "Stored", "swapped bytes the pool holds (meminfo Zswapped)", _zswap("stored"),
          attr="info.zswap.stored"),
    *[gauge(f"attribution.{p}", p, h, _part(p), attr="attribution", labels=(("part", p),), metric="attribution")
      for p, h in _ATTRIBUTION.items()],
], exclude={"scan": "the envelope's summary", "objects": "records of their own (shmem_object)",
            "mappings": "records of their own (swapped_mapping)", "top": "how many rows a list shows",
            "processes": "records of their own (swap_process)", "info.devices": "records of their own (swap_device)",
            "info.zram": "records of their own (zram)", "info.shm": "read into the objects"},
    nested={"info": SwapInfo, "info.zswap": Zswap},
    partitions={"used": tuple(f"attribution.{p}" for p in _ATTRIBUTION)})

SWAP_DEVICE = Registry("swap_device", "one active swap area (/proc/swaps)", [
    label("path", "Device", "the swap file or partition", lambda d: d.path),
    label("type", "Type", "file or partition", lambda d: d.type),
    gauge("size", "Size", "its size", lambda d: d.size),
    gauge("used", "Used", "bytes in use", lambda d: d.used),
    gauge("free", "Free", "size - used", lambda d: d.free),
    info("priority", "Prio", "swap priority: higher is used first", lambda d: d.priority),
], labels=("path",), partitions={"size": ("used", "free")})

ZRAM = Registry("zram", "one zram block device (compressed RAM)", [
    label("name", "Device", "the zram device", lambda z: z.name),
    gauge("disksize", "Size", "its capacity", lambda z: z.disksize),
    info("algorithm", "Algorithm", "its compressor", lambda z: z.algorithm),
    gauge("stored", "Stored", "bytes stored (mm_stat orig_data_size)", lambda z: z.stored),
    gauge("compressed", "Compressed", "their compressed size (compr_data_size)", lambda z: z.compressed),
    gauge("pool", "Pool", "RAM its pool uses (mem_used_total)", lambda z: z.pool),
    info("swap", "Swap", "it is an active swap device", lambda z: z.is_swap, attr="is_swap"),
], labels=("name",))

SWAP_PROCESS = Registry("swap_process", "a process with pages in swap (memtype swap)", [
    label("pid", "PID", "process id", lambda p: p.pid),
    label("comm", "Name", "the process name", lambda p: p.comm),
    gauge("swap", "Swap", "smaps Swap: anon and the shmem it maps (shmem is counted in every mapper)",
          lambda p: p.totals.swap),
    gauge("swap_pss", "SwapPSS", "smaps SwapPss: anon swap divided among sharers (shmem counts 0)",
          lambda p: p.totals.swap_pss, needs=("SwapPss",)),
    gauge("anonymous", "Anon", "swap of its private pages (anonymous and cow)", anon_swap),
    gauge("anonymous_pss", "AnonPSS", "their proportional swap", anon_swap_pss, needs=("SwapPss",)),
    gauge("shared", "Shared", "swap of the shmem it maps (the objects', counted in every mapper)",
          lambda p: p.categories[Kind.SHARED].swap),
], labels=("pid", "comm"), partitions={"swap": ("anonymous", "shared")})

SHMEM_OBJECT = Registry("shmem_object", "a shared-memory object with pages in swap, counted once", [
    label("object", "Object", "memfd, /dev/shm file, SysV segment or MAP_SHARED region", lambda o: o.name,
          attr="name"),
    info("dev", "Dev", "its device (major:minor, hex)", lambda o: o.dev),
    info("inode", "Inode", "its inode (SysV: the shmid)", lambda o: o.inode),
    gauge("swap", "Swap", "its bytes in swap (the largest of its mappings', or /proc/sysvipc/shm)", lambda o: o.swap),
    info("exact", "Exact", "the figure is the kernel's (/proc/sysvipc/shm), not from the mappings", lambda o: o.exact),
    info("mapped_by", "Mapped by", "PIDs that map it", lambda o: [pid for pid, _, _ in o.mappers], attr="mappers"),
    info("mappers", "Mappers", "who maps it: pid, comm, and the swap its mappings show",
         lambda o: [{"pid": pid, "comm": comm, "swap": sw} for pid, comm, sw in o.mappers]),
], labels=("object",))


def _kind_swap(k: Kind) -> Getter:
    return lambda s: s.mapping.categories[k].swap


SWAPPED_MAPPING = Registry("swapped_mapping", "a mapping with pages in swap", [
    label("pid", "PID", "process id", lambda s: s.pid),
    label("comm", "Name", "the process name", lambda s: s.comm),
    label("start", "Address", "start address (hex)", lambda s: f"{s.mapping.start:x}", attr="mapping"),
    label("end", "End", "end address (hex)", lambda s: f"{s.mapping.end:x}", attr="mapping"),
    label("class", "Class", "mapping class", lambda s: s.mapping.mapclass, attr="mapping"),
    label("path", "Mapping", "the file or region", lambda s: s.mapping.path, attr="mapping"),
    gauge("swap", "Swap", "smaps Swap", lambda s: s.mapping.totals.swap, attr="mapping"),
    gauge("swap_pss", "SwapPSS", "smaps SwapPss", lambda s: s.mapping.totals.swap_pss, attr="mapping",
          needs=("SwapPss",)),
    *[gauge(f"kinds.{k.value}", k.label, f"its swap of kind {k.value}", _kind_swap(k), attr="mapping",
            labels=(("kind", k.value),), metric="kinds") for k in KINDS],
], labels=("pid", "start"), partitions={"swap": tuple(f"kinds.{k.value}" for k in KINDS)})

REGISTRIES = (SWAP, SWAP_DEVICE, ZRAM, SWAP_PROCESS, SHMEM_OBJECT, SWAPPED_MAPPING)
COVERS: tuple[tuple[Registry, type], ...] = (
    (SWAP, SwapReport), (SWAP_DEVICE, SwapDevice), (ZRAM, Zram), (SHMEM_OBJECT, ShmemObject),
    (SWAPPED_MAPPING, SwappedMapping))
