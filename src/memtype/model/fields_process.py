"""Fields of ``ps`` and ``maps``: a process, a mapping, and a group of either (``--group``).

Kind figures (``cow.rss``) sit under ``categories`` in JSON; ``pages.*`` come with ``--exact``,
``cgroup`` with ``--cgroup``, ``cmdline`` with ``--cmdline`` (``Field.option``).
"""

from __future__ import annotations

from memtype.kinds import KINDS
from memtype.model.fields import (PAGE_HELP, PARTS, Registry, gauge, info, kind_fields, kind_partitions, label,
                                  reclaim_fields, totals_fields)
from memtype.model.fields_freed import FREED_PARTITIONS, freed_fields
from memtype.model.records import KindUsage, Totals

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.fields import Getter


def _pages(name: str) -> Getter:
    return lambda p: p.pages.get(name) if p.pages is not None else None


def _gpu(name: str) -> Getter:
    # getattr: a table's total row (a Group of processes) has no GPU figures of its own
    return lambda p: g.get(name) if (g := getattr(p, "gpu", None)) is not None else None


def _gpu_host(name: str) -> Getter:
    return lambda p: (g.get("host") or {}).get(name) if (g := getattr(p, "gpu", None)) is not None else None


def _reclaim(name: str) -> Getter:
    return lambda p: p.reclaim.get(name) if p.reclaim is not None else None


def _kernel(name: str) -> Getter:
    return lambda p: k.get(name) if (k := getattr(p, "kernel", None)) is not None else None


def _fate(name: str) -> Getter:
    """A mapping's ``fate`` (``maps --freed``); a table's total row (a ``Group``) has none."""
    return lambda m: getattr(f, name) if (f := getattr(m, "fate", None)) is not None else None


_NESTED: dict[str, type] = {"totals": Totals, "categories": KindUsage}
_ALL_KINDS = [f"{k.value}.{p}" for k in KINDS for p in PARTS]
# The CSV's columns as memtype/1 wrote them (with cgroup now, issue 8 item 6).
PROCESS_CSV = ["pid", "comm", "user", "cmdline", "cgroup", "pss", "uss", "rss", "swap", "swap_pss", "hugetlb",
               "device_mapped", *_ALL_KINDS]


# -- process ---------------------------------------------------------------------------------------

def _user(p: Any) -> Any:
    return p.user


PROCESS = Registry("process", "one process's memory by kind, from its smaps (memtype ps)", [
    label("pid", "PID", "process id", lambda p: p.pid, default=True),
    label("comm", "Name", "the process name (/proc/PID/stat comm)", lambda p: p.comm, default=True),
    label("user", "User", "owner's user name (None: no name for the uid)", _user, default=True),
    info("uid", "UID", "real user id (/proc/PID/status Uid)", lambda p: p.uid),
    info("ppid", "PPID", "parent process id", lambda p: p.ppid),
    info("starttime", "Start", "start time in clock ticks after boot (stat field 22): with pid, its identity",
         lambda p: p.starttime),
    label("program", "Program", "the executable's name (ps_mem's grouping key), else argv[0], else comm",
          lambda p: p.program, option="program"),
    info("cmdline", "Command", "the command line (sensitive: only with --cmdline)", lambda p: p.cmdline,
         option="cmdline", default=True),
    *totals_fields(default=("pss", "uss", "rss", "swap", "swap_pss", "hugetlb", "device_mapped")),
    *kind_fields(),
    info("incomplete", "Incomplete", "part of its smaps was unreadable (see warnings)", lambda p: bool(p.problems),
         attr="problems"),
    info("exact", "Exact", "every page was classified (--exact)", lambda p: p.exact),
    # not one metric with a label: the page figures overlap (a dirty page may be mlocked), a sum means nothing
    *[gauge(f"pages.{n}", n, f"--exact: {h}", _pages(n), attr="pages", option="exact") for n, h in PAGE_HELP.items()],
    label("cgroup", "Cgroup", "memory cgroup path (/proc/PID/cgroup; only with --cgroup)", lambda p: p.cgroup,
          option="cgroup", default=True),
    *reclaim_fields(_reclaim, "its resident memory plus hugetlb"),
    gauge("kernel.page_tables", "PageTables", "its page tables (status VmPTE, plus the PGD page(s) it omits)",
          _kernel("page_tables"), attr="kernel", option="freed"),
    gauge("kernel.kernel_stack", "KStack", "its threads' kernel stacks (Threads x meminfo KernelStack per task)",
          _kernel("kernel_stack"), attr="kernel", option="freed"),
    gauge("kernel.threads", "Threads", "its threads (status Threads)", _kernel("threads"), unit="count",
          attr="kernel", option="freed"),
    *freed_fields("it"),
    # GPU memory (issue 14): not a sixth kind, never in RSS/PSS (VRAM is not in MemTotal)
    gauge("gpu.vram", "GPU", "device memory (VRAM) it holds on all GPUs: NVML usedGpuMemory, DRM resident in "
          "vram/local regions (null: not available, as under MIG)", _gpu("vram"), attr="gpu", option="gpu"),
    gauge("gpu.system", "GPU sys", "host RAM a DRM GPU holds for it (gtt/system/cpu regions' resident; NVML "
          "reports none: null)", _gpu("system"), attr="gpu", option="gpu"),
    info("gpu.devices", "GPU devices", "VRAM per device id (nvidia0, nvidia0/gi1/ci0, amdgpu@0000:03:00.0)",
         _gpu("devices"), attr="gpu", option="gpu"),
    info("gpu.types", "GPU type", "C compute, G graphics, M MPS (NVML, joined by +); drm (fdinfo)", _gpu("types"),
         attr="gpu", option="gpu"),
    info("gpu.container_pid", "Ctr PID", "its PID in its own (innermost) PID namespace, from NSpid",
         _gpu("container_pid"), attr="gpu", option="gpu"),
    gauge("gpu.host.pinned_likely", "Pinned?", "resident MAP_SHARED anonymous memory of a process holding "
          "/dev/nvidiactl: likely CUDA pinned host memory (in the shared kind; /proc shows no pin count)",
          _gpu_host("pinned_likely"), attr="gpu", option="gpu"),
    gauge("gpu.host.driver", "GPU drv", "resident pages of its /dev/nvidia* mappings (driver pages; device kind)",
          _gpu_host("driver"), attr="gpu", option="gpu"),
    gauge("gpu.host.uvm_size", "UVM size", "managed (UVM) address space it maps (/dev/nvidia-uvm Size)",
          _gpu_host("uvm_size"), attr="gpu", option="gpu"),
    gauge("gpu.host.uvm_resident", "UVM host", "managed (UVM) memory resident in host RAM (/dev/nvidia-uvm Rss)",
          _gpu_host("uvm_resident"), attr="gpu", option="gpu"),
], labels=("pid", "comm"),
    aliases={"name": "comm", "freed": "freed_if_killed", **{k.value: f"{k.value}.rss" for k in KINDS}},
    exclude={"totals": "read through its fields", "categories": "read through the kinds' fields",
             "mappings": "records of their own (the mapping registry)", "exe": "a full path: program is its name",
             "key": "its identity: pid and starttime"},
    nested=_NESTED, partitions=kind_partitions(), csv=PROCESS_CSV,
    null_objects=("pages", "reclaim", "freed.parts", "freed", "kernel", "gpu", "gpu.host"))
PROCESS.partitions.update(FREED_PARTITIONS)


# -- mapping ---------------------------------------------------------------------------------------

MAPPING = Registry("mapping", "one mapping (VMA) of a process with its class and split (memtype maps)", [
    label("start", "Address", "start address (hex)", lambda m: f"{m.start:x}", default=True),
    label("end", "End", "end address (hex, exclusive)", lambda m: f"{m.end:x}", default=True),
    info("perms", "Perm", "permissions (r, w, x; p private or s shared)", lambda m: m.perms, default=True),
    info("offset", "Offset", "offset into the file", lambda m: m.offset, unit="bytes"),
    info("dev", "Dev", "device of the file (major:minor, hex)", lambda m: m.dev),
    info("inode", "Inode", "inode of the file (0: anonymous)", lambda m: m.inode),
    label("path", "Mapping", "the file or region ([heap], [stack], /memfd:...; empty: anonymous)",
          lambda m: m.path, default=True),
    info("vmflags", "VmFlags", "the kernel's VmFlags (proc(5))", lambda m: list(m.vmflags)),
    label("class", "Class", "mapping class: anon, shmem, file-private, file-cow, device, device-pfn...",
          lambda m: m.mapclass, attr="mapclass", default=True),
    *totals_fields(default=("size", "rss", "pss", "uss", "swap", "swap_pss", "device_mapped")),
    *kind_fields(),
    gauge("freed", "Freed", "what killing its process frees of it: its own anon pages and private swap, the "
          "shmem it maps where the object goes too (None: unknown)", _fate("freed"), attr="fate", option="freed",
          default=True),
    gauge("stays", "Stays", "what stays after the kill: cow-shared pages, shared swap, page cache, shmem "
          "someone else holds or a name keeps, hugetlb, driver pages", _fate("stays"), attr="fate",
          option="freed", default=True),
    info("why", "Why", "why what stays stays", _fate("why"), attr="fate", option="freed", default=True),
], labels=("start", "path"), aliases={"address": "start", "mapclass": "class", **{k.value: f"{k.value}.rss" for k in KINDS}},
    exclude={"totals": "read through its fields", "categories": "read through the kinds' fields"},
    nested=_NESTED, partitions=kind_partitions(),
    csv=["start", "end", "perms", "class", "path", "size", "rss", "pss", "uss", "swap", "swap_pss", "device_mapped",
         *_ALL_KINDS])


# -- groups ------------------------------------------------------------------------------------------

GROUP_KEYS = {"program": "the executable's name (ps --group program)", "user": "user name (ps --group user)",
              "cgroup": "memory cgroup, by readable name (ps --group cgroup)",
              "path": "the mapped file or region (maps --group path)"}
_GROUPS: dict[str, Registry] = {}


def group_registry(by: str) -> Registry:
    """The fields of a sum of processes (``ps --group BY``) or of mappings (``maps --group path``)."""
    found = _GROUPS.get(by)
    if found is None:
        members = "mappings" if by == "path" else "processes"
        found = _GROUPS[by] = Registry(f"group_{by}", f"a sum of {members} by {by}", [
            label(by, by.capitalize(), GROUP_KEYS[by], lambda g: g.key, attr="key", default=True),
            gauge("count", "Count", f"{members} summed in the group", lambda g: g.count, unit="count", default=True,
                  metric="members"),  # a metric named *_count would read as a summary's (promtool lints it)
            gauge("processes", "Procs", "distinct processes in the group", lambda g: len(set(g.pids)), unit="count",
                  attr="pids", default=by == "path"),
            info("pids", "PIDs", "their process ids", lambda g: g.pids),
            *totals_fields(default=("pss", "uss", "rss", "swap", "swap_pss")),
            *kind_fields(),
        ], labels=(by,), aliases={"name": by, "key": by, **{k.value: f"{k.value}.rss" for k in KINDS}},
            exclude={"totals": "read through its fields", "categories": "read through the kinds' fields"},
            nested=_NESTED, partitions=kind_partitions(),
            csv=[by, "count", *(["processes"] if by == "path" else []), "pss", "uss", "rss", "swap", "swap_pss",
                 *_ALL_KINDS])
    return found
