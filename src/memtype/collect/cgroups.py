"""Memory cgroups of a Root: find the memory hierarchy (v1, v2 or hybrid) and read every cgroup's
files as they are (``read_cgroups_sample`` -> ``model.sample.CgroupsSample``: memory.stat, usage, limits,
swap, events, PSI, member PIDs). ``model.cgroup_tree`` maps them onto the kinds (kernel-spec.md D.1,
D.2; the table is there) and sums a model's processes in; ``read_cgroups`` and ``attach_members`` are
both steps on a Root, for ``memtype cgroups`` without a Sample.

Cost: 7-9 small files and a directory listing per cgroup, about 0.2 ms of CPU each on a 2-CPU VM (6.18,
v1: 209 cgroups 35-42 ms per read; ``bench/bench_cgroups.py``), most of it the kernel's opening and
printing of the files.

``CgroupFiles`` is the one reader of cgroup files (``memtype cgroups`` and the pressure model). Its race
policy (style.md rule 4): a cgroup removed between listing and reading (ENOENT, or ENODEV once its
files were opened: kernfs) is skipped and counted; one unreadable or malformed file of a cgroup leaves
that cgroup's figures from it unknown (None) with a warning naming the cgroup, never the whole report.
"""

from __future__ import annotations

from memtype.collect.scan import host_info
from memtype.collect.swapinfo import swap_room
from memtype.errors import AccessDenied, FileMissing, MemtypeError, ProcessGone
from memtype.model.cgroup_tree import attach_members as members, cgroup_tree
from memtype.model.cgroups import CgroupTree, Hierarchy
from memtype.model.records import Scan
from memtype.model.sample import CgroupSample, CgroupsSample
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


def read_cgroups_sample(root: Root, hierarchy: Hierarchy | None = None, *, page_size: int | None = None,
                        files: CgroupFiles | None = None) -> CgroupsSample:
    """Every cgroup of the memory hierarchy as read (``model.sample.CgroupsSample``), parents first
    (siblings by name), with the race policy of the module docstring: a removed cgroup is counted in
    ``gone``, a damaged one kept with unknown figures and its ``problems``.

    Files per cgroup: v2 memory.stat, memory.current, memory.swap.current, memory.max, memory.events,
    memory.swap.max, memory.high, memory.pressure, cgroup.procs; v1 memory.stat, memory.kmem.usage_in_bytes
    (not at the root), memory.usage_in_bytes, memory.limit_in_bytes, memory.memsw.limit_in_bytes (and
    memory.memsw.usage_in_bytes where memory.stat has no swap counter), memory.oom_control, cgroup.procs
    (v1 has no memory.pressure but at the root: the machine's).

    Raises:
        MemtypeError: no hierarchy has the memory controller (``hierarchy`` and ``files`` not given).
    """
    files = files or CgroupFiles(root, hierarchy, page_size)
    groups: dict[str, CgroupSample] = {}
    gone = 0
    stack = ["/"]
    while stack:
        path = stack.pop()
        problems: list[str] = []
        stat: dict[str, int] | None
        try:
            stat = files.stat(path)
        except (FileMissing, ProcessGone) as exc:
            if path != "/" and not files.exists(path):
                gone += 1  # removed since its parent was listed
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
                gone += 1
                continue
            stat = None
            problems.append(f"memory.stat: {exc}")
        if stat is not None and not stat:
            continue  # an empty memory.stat: no memory controller here
        cg = _read_one(files, path, stat, problems)
        if path != "/" and not files.exists(path):
            gone += 1  # removed while its files were read: what was read is not kept
            continue
        groups[path] = cg
        stack.extend(reversed(files.children(path)))
    h = files.hierarchy
    return CgroupsSample(h.version, h.rel, h.hybrid, groups, gone)


def read_cgroups(root: Root, hierarchy: Hierarchy | None = None) -> CgroupTree:
    """Every cgroup of the memory hierarchy as records (``read_cgroups_sample`` then
    ``model.cgroup_tree.cgroup_tree``), no members yet (``attach_members``)."""
    return cgroup_tree(read_cgroups_sample(root, hierarchy), swap_room(root))


def attach_members(tree: CgroupTree, scan: Scan, root: Root) -> None:
    """Sum each cgroup's processes from a scan of the same Root (``model.cgroup_tree.attach_members``;
    a PID listed in a cgroup but in no record is "no user memory" while it is still there)."""
    members(tree, scan.processes, scan.skipped, set(root.pids()), root.live)


def _read_one(files: CgroupFiles, path: str, stat: dict[str, int] | None, problems: list[str]) -> CgroupSample:
    """One cgroup's files besides memory.stat (``stat``; None: unreadable); what a file could not give
    is None and named in ``problems``."""
    number = files.number
    if files.version == 2:
        current = number(path, "memory.current", problems)  # absent on the root cgroup
        swap_current = number(path, "memory.swap.current", problems)
        limit = number(path, "memory.max", problems)
        events = _keyed(files, path, "memory.events", problems)
        swap_limit = number(path, "memory.swap.max", problems)
        high = number(path, "memory.high", problems)
        kmem = memsw = memsw_limit = None
    else:
        kmem = None if path == "/" else number(path, "memory.kmem.usage_in_bytes", problems)
        current = number(path, "memory.usage_in_bytes", problems)
        limit = number(path, "memory.limit_in_bytes", problems)
        memsw_limit = number(path, "memory.memsw.limit_in_bytes", problems)  # absent without swap accounting
        has_swap = stat is not None and ("total_swap" in stat or "swap" in stat)
        memsw = None if has_swap else number(path, "memory.memsw.usage_in_bytes", problems)
        events = _keyed(files, path, "memory.oom_control", problems)
        swap_current = swap_limit = high = None
    pressure = None
    if files.version == 2 or path == "/":  # v1 has no per-cgroup PSI
        try:
            pressure = parse_pressure(files.text(path, "memory.pressure"))
        except MemtypeError:
            if path == "/":  # the root cgroup's PSI is the machine's (psi.rst): /proc/pressure, or v2's root
                pressure = _pressure(files.root, "proc/pressure/memory") or _pressure(files.root, _V2_ROOT_PSI)
    procs: tuple[int, ...] | None
    try:
        procs = tuple(parse_procs(files.text(path, "cgroup.procs")))
    except (FileMissing, AccessDenied):
        procs = None
    except (MemtypeError, ValueError) as exc:
        problems.append(f"cgroup.procs: {exc} (its processes are placed by /proc/PID/cgroup)")
        procs = None
    psi = None if pressure is None else {k: v for k, v in pressure.as_dict().items() if v is not None}
    return CgroupSample(path, stat, current, limit, high, swap_current, swap_limit, memsw, memsw_limit, kmem,
                        events, psi, procs, tuple(problems))


def _keyed(files: CgroupFiles, path: str, name: str, problems: list[str]) -> dict[str, int] | None:
    """A ``key value`` file; None where it is absent or could not be read (named in ``problems``)."""
    try:
        return parse_keyed(files.text(path, name))
    except FileMissing as exc:
        if exc.why:  # there, but refused (a capture's symlink, FIFO...)
            problems.append(f"{name}: {exc}")
        return None
    except MemtypeError as exc:
        problems.append(f"{name}: {exc}")
        return None


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
