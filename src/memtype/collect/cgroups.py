"""Memory cgroups of a Root: find the memory hierarchy (v1, v2 or hybrid), read every cgroup's
memory.stat, usage, limit, swap, PSI and OOM kills, and sum its processes' own split by kind
(the records: ``memtype.model.cgroups``).

Mapping of memory.stat onto the kinds (kernel-spec.md D.1, D.2):

======================  ========================  =============================================
kind                    cgroup v2                 cgroup v1 (``total_*``: the subtree)
======================  ========================  =============================================
anonymous (incl. cow)   ``anon``                  ``total_rss``
shared                  ``shmem``                 ``total_shmem``
file                    ``file - shmem``          ``total_cache - total_shmem``
kernel                  ``kernel`` (+ ``sock``)   ``memory.kmem.usage_in_bytes``
swap cache              ``swapcached``            ``total_swapcached``
charged                 ``memory.current``        ``memory.usage_in_bytes``
swap                    ``memory.swap.current``   ``total_swap`` (else memsw.usage - usage)
limit                   ``memory.max``            ``memory.limit_in_bytes``
OOM kills               memory.events ``oom_kill``  memory.oom_control ``oom_kill``
======================  ========================  =============================================

Both versions' figures include the descendants (v2 memory.stat is hierarchical; v1 ``total_*`` and
usage are, with use_hierarchy=1, the only mode since 6.x); v1's own-pages-only fields are kept in
``self_categories``. ``other`` is the remainder of ``charged`` (per-CPU charge batches, and any row
the kernel did not report), so the rows add up to it.
"""

from __future__ import annotations

from memtype.errors import AccessDenied, FileMissing, MemtypeError, ParseError, ProcessGone
from memtype.model.cgroups import CgroupMemory, CgroupTree, Hierarchy, effective_limits
from memtype.model.records import ProcessMemory, Scan
from memtype.parse.cgroupfiles import Pressure, parse_bytes, parse_keyed, parse_pressure, parse_procs
from memtype.parse.mountinfo import cgroup_mounts, parse_mountinfo
from memtype.source.root import Root
from memtype.collect.swapinfo import swap_room
from memtype.model.reclaim import reclaim_from_memory_stat

_V2_CANDIDATES = ("sys/fs/cgroup", "sys/fs/cgroup/unified")
_V1_DIR = "sys/fs/cgroup/memory"
_V2_ROOT_PSI = "sys/fs/cgroup/unified/memory.pressure"  # hybrid hosts: v2 beside v1 memory


def find_hierarchy(root: Root) -> Hierarchy:
    """The memory controller's hierarchy: from mountinfo on a live machine, else by the files present.

    Raises:
        MemtypeError: no hierarchy has the memory controller.
    """
    if root.live:
        try:
            mounts = cgroup_mounts(parse_mountinfo(root.read_text("proc/self/mountinfo")))
        except MemtypeError:
            mounts = []
        v2 = [m for m in mounts if m.version == 2]
        for m in v2:
            if "memory" in _words(root, f"{m.mountpoint.lstrip('/')}/cgroup.controllers"):
                return Hierarchy(2, m.mountpoint.strip("/"), False)
        for m in mounts:
            if m.memory:
                return Hierarchy(1, m.mountpoint.strip("/"), bool(v2))
    for rel in _V2_CANDIDATES:  # a capture (or a live machine without mountinfo)
        controllers = _words(root, f"{rel}/cgroup.controllers")
        if "memory" in controllers:
            return Hierarchy(2, rel, False)
    if root.exists(f"{_V1_DIR}/memory.stat"):
        return Hierarchy(1, _V1_DIR, root.exists("sys/fs/cgroup/unified"))
    for rel in _V2_CANDIDATES:  # captures without cgroup.controllers (the GPU-host fixture)
        if root.exists(f"{rel}/memory.stat") and not root.exists(f"{rel}/cgroup.controllers"):
            return Hierarchy(2, rel, False)
    where = "this machine" if root.live else f"the capture {root.source!r}"
    raise MemtypeError(f"no memory cgroup hierarchy in {where} (looked for cgroup v2 with the memory controller "
                       "and cgroup v1 memory under sys/fs/cgroup)")


def read_cgroups(root: Root, hierarchy: Hierarchy | None = None) -> CgroupTree:
    """Every cgroup of the memory hierarchy, parents first (siblings by name). A cgroup removed while
    being read is skipped and counted (style.md rule 6)."""
    h = hierarchy or find_hierarchy(root)
    tree = CgroupTree(h)
    room = swap_room(root)
    stack = ["/"]
    while stack:
        path = stack.pop()
        rel = h.rel if path == "/" else h.rel + path
        try:
            cg = _read_one(root, rel, path, h.version, room)
        except (FileMissing, ProcessGone):
            if path == "/":
                raise MemtypeError(f"cannot read /{h.rel}/memory.stat") from None
            if not root.exists(rel):
                tree.gone += 1  # removed since its parent was listed
            continue  # else a v2 cgroup without the memory controller: charged to the parent
        except AccessDenied as exc:
            tree.warnings.append(str(exc))
            continue
        except (ParseError, ValueError) as exc:  # one damaged cgroup: that cgroup only (issue 8)
            if path == "/":
                raise ParseError(f"{h.rel}/memory.stat", str(exc)) from None
            tree.warnings.append(f"{rel}/memory.stat: {exc}; cgroup skipped")
            stack.extend(reversed([f"{path.rstrip('/')}/{d}" for d in _subdirs(root, rel)]))
            continue
        if cg is None:
            continue
        tree.cgroups.append(cg)
        stack.extend(reversed([f"{path.rstrip('/')}/{d}" for d in _subdirs(root, rel)]))
    effective_limits(tree.cgroups)
    return tree


def attach_members(tree: CgroupTree, scan: Scan, root: Root) -> None:
    """Sum each cgroup's processes (its own and its descendants') from a scan of the same Root.

    Members come from cgroup.procs; a process listed nowhere (a capture without cgroup.procs, or a v2
    cgroup without the memory controller) joins the nearest cgroup above its ``ProcessMemory.cgroup``.
    """
    index = {cg.path: cg for cg in tree.cgroups}
    by_pid = {p.pid: p for p in scan.processes}
    reasons = {s.pid: "no user memory" if s.reason in ("kernel", "zombie") else s.reason for s in scan.skipped}
    present = set(root.pids())
    listed: set[int] = set()
    for cg in tree.cgroups:
        listed.update(cg.pids)
        for pid in cg.pids:
            p = by_pid.get(pid)
            if p is not None:
                _add_up(index, cg.path, p)
            else:
                why = reasons.get(pid) or ("no user memory" if pid in present else
                                           "gone" if root.live else "not captured")
                for anc in _ancestors(cg.path, index):
                    anc.unread[why] = anc.unread.get(why, 0) + 1
    for p in scan.processes:
        if p.pid not in listed and p.cgroup:
            home = next(iter(_ancestors(p.cgroup, index)), None)
            if home is not None:
                _add_up(index, home.path, p)


def _add_up(index: dict[str, CgroupMemory], path: str, p: ProcessMemory) -> None:
    for cg in _ancestors(path, index):
        cg.members.add(p.totals, p.categories, p.pid)


def _ancestors(path: str, index: dict[str, CgroupMemory]) -> list[CgroupMemory]:
    """``path`` (or the nearest cgroup above it that is in ``index``) and every cgroup above it."""
    out: list[CgroupMemory] = []
    while True:
        cg = index.get(path or "/")
        if cg is not None:
            out.append(cg)
        if path in ("/", ""):
            return out
        path = path.rsplit("/", 1)[0] or "/"


def _read_one(root: Root, rel: str, path: str, version: int, swap_room: bool) -> CgroupMemory | None:
    stat_text = root.read_text(f"{rel}/memory.stat")
    stat = parse_keyed(stat_text)
    if not stat:
        return None
    cg = CgroupMemory(path, version)
    cg.reclaim = reclaim_from_memory_stat(stat, version, swap_room)
    if version == 2:
        file, shmem = stat.get("file"), stat.get("shmem")
        cg.categories = {"anonymous": stat.get("anon"), "shared": shmem, "file": _minus(file, shmem)}
        kernel, sock = stat.get("kernel"), stat.get("sock")
        cg.kernel = None if kernel is None else kernel + (sock or 0)  # both are charged to memory.current
        cg.swapcached = stat.get("swapcached")
        cg.charged = _number(root, f"{rel}/memory.current")  # absent on the root cgroup
        cg.swap = _number(root, f"{rel}/memory.swap.current")
        cg.limit = _number(root, f"{rel}/memory.max")
        cg.oom_kills = _keyed(root, f"{rel}/memory.events").get("oom_kill")
        swap_max = _number(root, f"{rel}/memory.swap.max")
        if swap_room and swap_max is not None and cg.swap is not None and swap_max <= cg.swap:
            cg.reclaim = reclaim_from_memory_stat(stat, version, False)  # its swap limit is reached
    else:
        t = "total_" if "total_rss" in stat else ""  # total_*: the subtree (spec D.1)
        cg.hierarchical = bool(t)
        cache, shmem = stat.get(t + "cache"), stat.get(t + "shmem")
        cg.categories = {"anonymous": stat.get(t + "rss"), "shared": shmem, "file": _minus(cache, shmem)}
        cg.self_categories = {"anonymous": stat.get("rss"), "shared": stat.get("shmem"),
                              "file": _minus(stat.get("cache"), stat.get("shmem"))}
        # The v1 root's usage_in_bytes is rss + cache (+ swap) summed from its stats, without kernel
        # memory (mem_cgroup_usage() in mm/memcontrol-v1.c): its kmem is no part of its charged figure.
        cg.kernel = None if path == "/" else _number(root, f"{rel}/memory.kmem.usage_in_bytes")
        cg.swapcached = stat.get(t + "swapcached")
        cg.charged = _number(root, f"{rel}/memory.usage_in_bytes")
        cg.limit = _number(root, f"{rel}/memory.limit_in_bytes")
        # memory.stat's swap counter, shown only with swap accounting (memsw files present). memsw.usage
        # minus usage is NOT swap on a busy cgroup: two reads apart, observed +2 MiB here with no swap at all.
        cg.swap = stat.get(t + "swap")
        if cg.swap is None:
            memsw = _number(root, f"{rel}/memory.memsw.usage_in_bytes")
            cg.swap = None if memsw is None or cg.charged is None else max(0, memsw - cg.charged)
        cg.oom_kills = _keyed(root, f"{rel}/memory.oom_control").get("oom_kill")
    try:
        cg.pressure = parse_pressure(root.read_text(f"{rel}/memory.pressure"))
    except MemtypeError:
        if path == "/":  # the root cgroup's PSI is the machine's (psi.rst): /proc/pressure, or v2's root
            cg.pressure = _pressure(root, "proc/pressure/memory") or _pressure(root, _V2_ROOT_PSI)
    try:
        cg.pids = parse_procs(root.read_text(f"{rel}/cgroup.procs"))
    except (FileMissing, AccessDenied):
        cg.pids = []
    return cg


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def _number(root: Root, rel: str) -> int | None:
    try:
        return parse_bytes(root.read_text(rel))
    except (MemtypeError, ValueError):
        return None


def _keyed(root: Root, rel: str) -> dict[str, int]:
    try:
        return parse_keyed(root.read_text(rel))
    except MemtypeError:
        return {}


def _pressure(root: Root, rel: str) -> Pressure | None:
    try:
        return parse_pressure(root.read_text(rel))
    except MemtypeError:
        return None


def _words(root: Root, rel: str) -> list[str]:
    try:
        return root.read_text(rel).split()
    except MemtypeError:
        return []


def _subdirs(root: Root, rel: str) -> list[str]:
    """Child cgroups: the sub-directories, by name."""
    try:
        return root.subdirs(rel)
    except MemtypeError:
        return []  # removed meanwhile: its parent was read, so report what we have
