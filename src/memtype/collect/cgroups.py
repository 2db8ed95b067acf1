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

``CgroupFiles`` is the one reader of cgroup files (``memtype cgroups`` and the pressure model). Its race
policy (style.md rule 4): a cgroup removed between listing and reading (ENOENT, or ENODEV once its
files were opened: kernfs) is skipped and counted; one unreadable or malformed file of a cgroup leaves
that cgroup's figures from it unknown (None) with a warning naming the cgroup, never the whole report.
"""

from __future__ import annotations

from memtype.collect.scan import host_info
from memtype.collect.swapinfo import swap_room
from memtype.errors import AccessDenied, FileMissing, MemtypeError, ProcessGone
from memtype.model.cgroups import CgroupMemory, CgroupTree, Hierarchy, effective_limits
from memtype.model.reclaim import reclaim_from_memory_stat
from memtype.model.records import ProcessMemory, Scan
from memtype.parse.cgroupfiles import (Pressure, parse_bytes, parse_keyed, parse_pressure, parse_procs,
                                       v1_unlimited)
from memtype.parse.mountinfo import cgroup_mounts, parse_mountinfo
from memtype.source.root import Root

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


class CgroupFiles:
    """The one reader of a memory hierarchy's files: a cgroup's directory by its path ("/" or "/a/b"),
    its files parsed, its children. ``page_size`` is the machine's (v1's "no limit" depends on it)."""

    def __init__(self, root: Root, hierarchy: Hierarchy | None = None, page_size: int | None = None) -> None:
        self.root = root
        self.hierarchy = hierarchy or find_hierarchy(root)
        self.page_size = page_size if page_size is not None else host_info(root).page_size

    @property
    def version(self) -> int:
        return self.hierarchy.version

    def rel(self, path: str) -> str:
        """The cgroup's directory inside the Root."""
        return self.hierarchy.rel if path in ("/", "") else self.hierarchy.rel + path.rstrip("/")

    def exists(self, path: str) -> bool:
        return self.root.exists(self.rel(path))

    def text(self, path: str, name: str) -> str:
        """Raises: MemtypeError (FileMissing, AccessDenied, ...) as Root.read_text."""
        return self.root.read_text(f"{self.rel(path)}/{name}")

    def stat(self, path: str) -> dict[str, int]:
        """memory.stat. Raises: MemtypeError as ``text``."""
        return parse_keyed(self.text(path, "memory.stat"))

    def number(self, path: str, name: str, problems: list[str] | None = None) -> int | None:
        """A one-number file in bytes; None where it is absent or unreadable, or means "no limit". A file
        that is there but not a number is added to ``problems``."""
        try:
            return parse_bytes(self.text(path, name), self.page_size)
        except FileMissing as exc:
            if exc.why and problems is not None:  # there, but refused (a capture's symlink, FIFO...)
                problems.append(f"{name}: {exc}")
            return None
        except (MemtypeError, ValueError) as exc:
            if problems is not None:
                problems.append(f"{name}: {exc}")
            return None

    def keyed(self, path: str, name: str, problems: list[str] | None = None) -> dict[str, int]:
        """A ``key value`` file ({} where absent or unreadable)."""
        try:
            return parse_keyed(self.text(path, name))
        except FileMissing as exc:
            if exc.why and problems is not None:
                problems.append(f"{name}: {exc}")
            return {}
        except MemtypeError as exc:
            if problems is not None:
                problems.append(f"{name}: {exc}")
            return {}

    def limit(self, value: int | None) -> int | None:
        """A limit read from memory.stat (v1 ``hierarchical_memory_limit``): None for "no limit"."""
        return None if value is None or v1_unlimited(value, self.page_size) else value

    def children(self, path: str) -> list[str]:
        """The child cgroups' paths, by name; [] once it was removed (its parent was read)."""
        try:
            names = self.root.subdirs(self.rel(path))
        except MemtypeError:
            return []
        return [f"{path.rstrip('/')}/{name}" for name in names]


def read_cgroups(root: Root, hierarchy: Hierarchy | None = None) -> CgroupTree:
    """Every cgroup of the memory hierarchy, parents first (siblings by name), with the race policy of
    the module docstring: a removed cgroup is counted in ``gone``, a damaged one kept with unknown
    figures and a warning."""
    files = CgroupFiles(root, hierarchy)
    tree = CgroupTree(files.hierarchy)
    room = swap_room(root)
    stack = ["/"]
    while stack:
        path = stack.pop()
        problems: list[str] = []
        stat: dict[str, int] | None
        try:
            stat = files.stat(path)
        except (FileMissing, ProcessGone) as exc:
            if path != "/" and not files.exists(path):
                tree.gone += 1  # removed since its parent was listed
                continue
            if isinstance(exc, FileMissing) and exc.why:  # there, but refused (a directory, a link...)
                stat = None
                problems.append(f"memory.stat: {exc}")
            elif path != "/":
                continue  # a v2 cgroup without the memory controller: charged to its parent
            else:
                stat = None  # a root without memory.stat (v2 before 5.x, a capture)
                problems.append("memory.stat: missing")
        except MemtypeError as exc:  # ENODEV (removed after open), a directory in its place, denied, ...
            if not files.exists(path):
                tree.gone += 1
                continue
            stat = None
            problems.append(f"memory.stat: {exc}")
        if stat is not None and not stat:
            continue  # an empty memory.stat: no memory controller here
        cg = _read_one(files, path, stat, room, problems)
        if path != "/" and not files.exists(path):
            tree.gone += 1  # removed while its files were read: what was read is not kept
            continue
        tree.warnings.extend(f"cgroup {path}: {p}; its figures from that file are unknown" for p in problems)
        tree.cgroups.append(cg)
        stack.extend(reversed(files.children(path)))
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


def _read_one(files: CgroupFiles, path: str, known: dict[str, int] | None, swap_room: bool,
              problems: list[str]) -> CgroupMemory:
    """One cgroup from its memory.stat (``known``; None: unreadable, its figures unknown) and other files;
    what a file could not give is None and named in ``problems``."""
    version = files.version
    cg = CgroupMemory(path, version)
    stat = known or {}
    if known is not None:
        try:
            cg.reclaim = reclaim_from_memory_stat(stat, version, swap_room)
        except ValueError as exc:
            problems.append(f"memory.stat: {exc}")
    if version == 2:
        file, shmem = stat.get("file"), stat.get("shmem")
        cg.categories = {"anonymous": stat.get("anon"), "shared": shmem, "file": _minus(file, shmem)}
        kernel, sock = stat.get("kernel"), stat.get("sock")
        cg.kernel = None if kernel is None else kernel + (sock or 0)  # both are charged to memory.current
        cg.swapcached = stat.get("swapcached")
        cg.charged = files.number(path, "memory.current", problems)  # absent on the root cgroup
        cg.swap = files.number(path, "memory.swap.current", problems)
        cg.limit = files.number(path, "memory.max", problems)
        cg.oom_kills = files.keyed(path, "memory.events", problems).get("oom_kill")
        swap_max = files.number(path, "memory.swap.max", problems)
        if swap_room and swap_max is not None and cg.swap is not None and swap_max <= cg.swap and cg.reclaim:
            cg.reclaim = reclaim_from_memory_stat(stat, version, False)  # its swap limit is reached
    else:
        t = "total_" if "total_rss" in stat else ""  # total_*: the subtree (spec D.1)
        cg.hierarchical = bool(t) or known is None
        cache, shmem = stat.get(t + "cache"), stat.get(t + "shmem")
        cg.categories = {"anonymous": stat.get(t + "rss"), "shared": shmem, "file": _minus(cache, shmem)}
        own_shmem = stat.get("shmem")
        cg.self_categories = None if known is None else {
            "anonymous": stat.get("rss"), "shared": own_shmem, "file": _minus(stat.get("cache"), own_shmem)}
        # The v1 root's usage_in_bytes is rss + cache (+ swap) summed from its stats, without kernel
        # memory (mem_cgroup_usage() in mm/memcontrol-v1.c): its kmem is no part of its charged figure.
        cg.kernel = None if path == "/" else files.number(path, "memory.kmem.usage_in_bytes", problems)
        cg.swapcached = stat.get(t + "swapcached")
        cg.charged = files.number(path, "memory.usage_in_bytes", problems)
        cg.limit = files.number(path, "memory.limit_in_bytes", problems)
        # memory.stat's swap counter, shown only with swap accounting (memsw files present). memsw.usage
        # minus usage is NOT swap on a busy cgroup: two reads apart, observed +2 MiB here with no swap at all.
        cg.swap = stat.get(t + "swap")
        if cg.swap is None:
            memsw = files.number(path, "memory.memsw.usage_in_bytes", problems)
            cg.swap = None if memsw is None or cg.charged is None else max(0, memsw - cg.charged)
        cg.oom_kills = files.keyed(path, "memory.oom_control", problems).get("oom_kill")
    try:
        cg.pressure = parse_pressure(files.text(path, "memory.pressure"))
    except MemtypeError:
        if path == "/":  # the root cgroup's PSI is the machine's (psi.rst): /proc/pressure, or v2's root
            cg.pressure = _pressure(files.root, "proc/pressure/memory") or _pressure(files.root, _V2_ROOT_PSI)
    try:
        cg.pids = parse_procs(files.text(path, "cgroup.procs"))
    except (FileMissing, AccessDenied):
        cg.pids = []
    except (MemtypeError, ValueError) as exc:
        problems.append(f"cgroup.procs: {exc} (its processes are placed by /proc/PID/cgroup)")
        cg.pids = []
    return cg


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


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
