"""Findings about processes (``model.findings``): fork families breaking copy-on-write, page cache only
one process maps, driver memory mapped in, and swapped memory an active process faults back in.

Copy-on-write after fork (kernel-spec.md A.6): an anon page mapped by more than one process is the
``cow`` kind in each of them; a write copies it into the writer's own ``anonymous`` memory. A child's
anonymous pages in a mapping it inherited (the parent has a mapping at the same address and path)
are therefore pages it copied or wrote after fork(); the ones in mappings of its own it allocated.
"""

from __future__ import annotations

from memtype.kinds import Kind
from memtype.model.classify import MapClass
from memtype.model.findings import Finding, pid_list, size

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.records import Mapping, ProcessMemory

MiB = 1 << 20
COW_MIN_COPIES = 8 * MiB  # below this a forked child's own stack and buffers explain the copies
COW_WARN_COPIES = 64 * MiB  # or a tenth of what is still shared: worth a warning
FILE_CACHE_MIN = 128 * MiB
DEVICE_MIN = 16 * MiB
SWAP_ACTIVE_MIN = 16 * MiB
_INHERITABLE = frozenset({MapClass.ANON.value, MapClass.ANON_HUGETLB.value, MapClass.FILE_COW_PENDING.value,
                          MapClass.SHMEM_PRIVATE.value})
_FILE_CLASSES = frozenset({MapClass.FILE_PRIVATE.value, MapClass.FILE_SHARED.value, MapClass.FILE_COW_PENDING.value})
_PYTHON_REMEDY = ("in the parent, call gc.freeze() just before forking (Python 3.7+: the collector then leaves "
                  "inherited objects alone), and keep large datasets in arrays (numpy, torch tensors, Arrow) "
                  "rather than lists or dicts of Python objects, whose reference counts every read writes; "
                  "for a PyTorch DataLoader, persistent_workers=True forks the workers once, not every epoch")


def inherited_copies(child: ProcessMemory, parent: ProcessMemory) -> tuple[int, int]:
    """(anonymous bytes in mappings the child inherited from ``parent``, anonymous bytes in its own mappings).

    A mapping is inherited when the parent has one of a private class at the same start and path.
    """
    theirs = {(m.start, m.path) for m in parent.mappings or () if m.mapclass in _INHERITABLE}
    copied = own = 0
    for m in child.mappings or ():
        anon = m.categories[Kind.ANONYMOUS].rss
        if (m.start, m.path) in theirs:
            copied += anon
        else:
            own += anon
    return copied, own


def fork_families(model: Model) -> list[Finding]:
    """One ``cow-broken`` finding per parent whose forked children copy inherited pages (module docstring)."""
    procs = {p.pid: p for p in model.scan.processes}
    children: dict[int, list[ProcessMemory]] = {}
    for p in model.scan.processes:
        if p.ppid in procs and p.ppid != p.pid and p.categories[Kind.COW].rss:
            children.setdefault(p.ppid, []).append(p)
    out = []
    for ppid, kids in sorted(children.items()):
        parent = procs[ppid]
        if parent.mappings is None:
            continue
        parts = {k.pid: inherited_copies(k, parent) for k in kids}
        copies = sum(c for c, _ in parts.values())
        shared = max([parent.categories[Kind.COW].rss] + [k.categories[Kind.COW].rss for k in kids])
        if copies < COW_MIN_COPIES or not shared:
            continue
        out.append(_family(model, parent, sorted(kids, key=lambda k: k.pid), parts, copies, shared))
    return out


def _family(model: Model, parent: ProcessMemory, kids: list[ProcessMemory], parts: dict[int, tuple[int, int]],
            copies: int, shared: int) -> Finding:
    names = sorted({k.comm for k in kids})
    n = len(kids)
    each = [parts[k.pid][0] for k in kids]
    spread = (f"{size(min(each))} to {size(max(each))} each" if max(each) - min(each) > MiB else
              f"about {size(copies // n)} each") if n > 1 else "in one child"
    evidence = [
        f"{_count(n, 'child', 'children')} of PID {parent.pid} ({parent.comm}): {pid_list([k.pid for k in kids])} "
        f"({', '.join(names)})",
        f"still shared copy-on-write with the parent: {size(shared)} (cow in every one of them; RSS counts it "
        f"{n + 1} times, PSS divides it)",
        f"copied: {size(copies)} of inherited pages now private anonymous memory in the children ({spread}); "
        "each write to an inherited page copies it",
    ]
    own = sum(o for _, o in parts.values())
    if own:
        evidence.append(f"besides, the children allocated {size(own)} of anonymous memory in mappings of their own")
    growth = _growth(model, kids, parent)
    if growth is not None:
        evidence.append(f"the copies grew by {size(growth[0])} in {growth[1]:.0f} s since the sample before")
    python = parent.comm.startswith("python") or any(c.startswith(("pt_", "python")) for c in names)
    if python:
        evidence.append("in Python, reading an object writes its reference count, so a worker that walks an "
                        "inherited list of objects copies every page that holds them")
    remedy = _PYTHON_REMEDY if python else ("write less to inherited memory in the children (allocate what they "
                                            "change after fork()), or fork fewer of them")
    severity = "warning" if copies >= COW_WARN_COPIES or copies * 10 >= shared else "notice"
    return Finding("cow-broken", severity, copies,
                   f"PID {parent.pid} ({parent.comm}) and {_count(n, 'child', 'children')}: copy-on-write sharing "
                   "is being broken", tuple(evidence), remedy, (parent.pid, *(k.pid for k in kids)),
                   {"shared": shared, "copied": copies, "own": own, "children": n,
                    "growth": growth[0] if growth else None})


def _growth(model: Model, kids: list[ProcessMemory], parent: ProcessMemory) -> tuple[int, float] | None:
    """How much the children's anonymous memory grew since the previous sample, and in how many seconds."""
    changes = model.changes
    if changes is None or not changes.elapsed:
        return None
    deltas = [changes.processes.get(k.key) for k in kids]
    grown = sum(d.kinds[Kind.ANONYMOUS].rss for d in deltas if d is not None and d.change == "changed")
    return (grown, changes.elapsed) if grown > 0 else None


def single_mapper_cache(model: Model) -> list[Finding]:
    """``file-cache-one-process``: a process whose mapped page cache no other process maps is large. A
    file's pages only it maps are those whose PSS is their RSS (mapcount 1, spec A.2): a file counts when
    its mappings' file PSS is at least 99% of their file RSS. Needs the process's mappings only."""
    out = []
    floor = file_cache_floor(model)
    for p in model.scan.processes:
        if p.categories[Kind.FILE].rss < floor:
            continue
        per_file: dict[str, list[int]] = {}
        for m in p.mappings or ():
            if m.mapclass in _FILE_CLASSES and m.inode:
                use = m.categories[Kind.FILE]
                got = per_file.setdefault(m.path, [0, 0])
                got[0] += use.rss
                got[1] += use.pss
        files = {path: rss for path, (rss, pss) in per_file.items() if rss and pss * 100 >= rss * 99}
        total = sum(files.values())
        if total < floor:
            continue
        top = sorted(files.items(), key=lambda kv: -kv[1])[:3]
        evidence = [f"{size(total)} of page cache in {_count(len(files), 'file', 'files')} whose resident pages only "
                    f"PID {p.pid} maps (their PSS is their RSS)"]
        evidence += [f"{path}: {size(b)}" for path, b in top]
        evidence.append("page cache is droppable: the kernel reclaims it when memory runs short (dirty pages are "
                        "written back first), but it counts in the process's RSS and its cgroup until then")
        out.append(Finding("file-cache-one-process", "info", total, f"PID {p.pid} ({p.comm}) alone maps {size(total)} of "
                           "page cache", tuple(evidence),
                           "nothing to do if it is reused; to let it go sooner: posix_fadvise(POSIX_FADV_DONTNEED) or "
                           "munmap after use; to keep it resident under pressure: a cgroup memory.low/min or mlock",
                           (p.pid,), {"file": total, "files": len(files)}))
    return out


def device_memory(model: Model) -> list[Finding]:
    """``device-memory``: driver pages (device kind) the processes map, and the size of their pfn maps."""
    by_path: dict[str, int] = {}
    pids: list[int] = []
    total_pss = mapped = 0
    for p in model.scan.processes:
        dev = p.categories[Kind.DEVICE]
        if dev.rss:
            pids.append(p.pid)
            total_pss += dev.pss
        mapped += p.totals.device_mapped
        for m in p.mappings or ():
            b = m.categories[Kind.DEVICE].rss
            if b:
                by_path[m.path] = by_path.get(m.path, 0) + b
    if total_pss < DEVICE_MIN:
        return []
    big = [p.pid for p in model.scan.processes if p.categories[Kind.DEVICE].rss >= MiB]
    top = sorted(by_path.items(), key=lambda kv: -kv[1])[:3]
    evidence = [f"{size(total_pss)} of driver pages (PSS) mapped by {_count(len(pids), 'process', 'processes')}"
                + (f", {size(MiB)} or more in {pid_list(big)}" if big else "")]
    evidence += [f"{path or '[anon]'}: {size(b)} (RSS, summed over {pid_list(big)})" for path, b in top]
    if mapped:
        evidence.append(f"besides, {size(mapped)} of device address space (VM_PFNMAP/VM_IO maps: GPU BARs, [vvar]) "
                        "with no RAM behind it")
    evidence.append("driver pages are never reclaimable and /proc/meminfo has no row for them: they sit in "
                    "'unaccounted'")
    return [Finding("device-memory", "info", total_pss, f"{size(total_pss)} of device memory mapped into processes",
                    tuple(evidence), "freed when the processes close the device (exit), or the driver frees it",
                    tuple(big), {"device_pss": total_pss, "device_mapped": mapped})]


def gpu_memory(model: Model) -> list[Finding]:
    """``gpu-memory``: memory on the GPUs (Contract G: NVML or DRM fdinfo), per device and the processes
    holding it; VRAM is no kind and not in MemTotal."""
    view = model.gpu
    if view is None:
        return []
    out = []
    comm = {p.pid: p.comm for p in model.scan.processes}
    for d in view.devices:
        if d.parent is not None or not d.used:
            continue
        uses = sorted((u for u in view.uses if u.device == d.id and u.vram), key=lambda u: -(u.vram or 0))
        evidence = [f"{d.id} ({d.name or 'GPU'}): {size(d.used)} used of {size(d.total)}"]
        evidence += [f"PID {u.pid} ({comm.get(u.pid, '?')}): {size(u.vram)}" for u in uses[:5]]
        if d.unattributed:
            evidence.append(f"{size(d.unattributed)} used by no process listed (the driver's own, other PID "
                            "namespaces, or MIG instances whose per-process figure is not available)")
        evidence.append("device memory is not RAM: it is in no kind and not in MemTotal; the driver's host-side "
                        "pages are the device kind (/dev/nvidiactl)")
        out.append(Finding("gpu-memory", "info", d.used, f"{size(d.used)} of GPU memory in use on {d.id}",
                           tuple(evidence), "freed when the processes free it or exit (nvidia-smi shows the same)",
                           tuple(u.pid for u in uses), {"used": d.used, "total": d.total,
                                                       "unattributed": d.unattributed}))
    return out


def swap_active(model: Model, faults: dict[int, int] | None = None, seconds: float | None = None) -> list[Finding]:
    """``swap-active``: a process with swapped memory whose major faults rose: ``faults`` (PID -> major faults
    in ``seconds``, a second look at the live machine), else ``model.changes`` (the sample before)."""
    changes = model.changes
    if faults is None and changes is not None:
        seconds = changes.elapsed
        faults = {}
        for p in model.scan.processes:
            delta = changes.processes.get(p.key)
            if delta is not None and delta.change == "changed" and delta.counters.majflt:
                faults[p.pid] = delta.counters.majflt
    if not faults:
        return []
    out = []
    for p in model.scan.processes:
        swapped = sum(u.swap for u in p.categories.values())
        n = faults.get(p.pid)
        if swapped < SWAP_ACTIVE_MIN or not n:
            continue
        span = f" in {seconds:.0f} s" if seconds else ""
        out.append(Finding("swap-active", "warning", swapped, f"PID {p.pid} ({p.comm}) has {size(swapped)} in swap "
                           "and is reading it back", (f"{size(swapped)} of its memory is in swap",
                                                      f"{n} major faults{span}: each one waits for a page to "
                                                      "come back from swap (or a file)"),
                           "if it is the working set, it does not fit: give the process (or its cgroup) more memory, "
                           "lower vm.swappiness to favour dropping page cache, or use zswap/zram to make swap-ins "
                           "cheap", (p.pid,), {"swap": swapped, "major_faults": n}))
    return out


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def file_cache_floor(model: Model) -> int:
    """``file-cache-one-process`` from 128 MiB, or 1% of MemTotal on a larger machine."""
    total = model.machine.total if model.machine is not None else 0
    return max(FILE_CACHE_MIN, total // 100)


def needs_mappings(model: Model) -> set[int]:
    """The processes whose mappings the finders read: fork families (a parent and its children that share
    copy-on-write pages), processes with 128 MiB or more of file pages, and those mapping driver pages."""
    pids = {p.pid for p in model.scan.processes}
    out: set[int] = set()
    for p in model.scan.processes:
        if p.ppid in pids and p.ppid != p.pid and p.categories[Kind.COW].rss:
            out.update((p.pid, p.ppid))
        if p.categories[Kind.FILE].rss >= file_cache_floor(model) or p.categories[Kind.DEVICE].rss >= MiB:
            out.add(p.pid)
    return out


def mapping_at(p: ProcessMemory, addr: int) -> Mapping | None:
    """The mapping of ``p`` that holds address ``addr``."""
    for m in p.mappings or ():
        if m.start <= addr < m.end:
            return m
    return None
