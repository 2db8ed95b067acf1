"""The memory cgroups of a Sample as records: ``CgroupsSample`` (files as read) -> ``CgroupTree`` of
``CgroupMemory`` (figures by kind), and the processes of a model summed into it.

Pure (no Root): ``memtype cgroups``, the live view and ``derive`` all go through here, so a record
derives as a live read does. The mapping of memory.stat onto the kinds (kernel-spec.md D.1, D.2):

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

from memtype.model.cgroups import CgroupMemory, CgroupTree, Hierarchy, effective_limits
from memtype.model.reclaim import reclaim_from_memory_stat
from memtype.parse.cgroupfiles import Pressure

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Iterable

    from memtype.model.records import ProcessMemory, Skipped
    from memtype.model.sample import CgroupSample, CgroupsSample


def hierarchy_of(cgroups: CgroupsSample) -> Hierarchy:
    return Hierarchy(cgroups.version, cgroups.rel, cgroups.hybrid)


def cgroup_tree(cgroups: CgroupsSample, swap_room: bool) -> CgroupTree:
    """Every cgroup of the sample as a record, parents first; no members yet (``attach_members``).

    Args:
        swap_room: a swap device with room is active (the reclaim classes: anon pages can go to swap).
    """
    tree = CgroupTree(hierarchy_of(cgroups))
    tree.gone = cgroups.gone
    for cs in cgroups.groups.values():
        problems: list[str] = []
        tree.cgroups.append(cgroup_memory(cs, cgroups.version, swap_room, problems))
        tree.warnings.extend(f"cgroup {cs.path}: {p}; its figures from that file are unknown" for p in problems)
    effective_limits(tree.cgroups)
    return tree


def cgroup_memory(cs: CgroupSample, version: int, swap_room: bool, problems: list[str]) -> CgroupMemory:
    """One cgroup's record; what could not be read (``cs.problems``, a memory.stat the reclaim split cannot
    use) is added to ``problems``."""
    cg = CgroupMemory(cs.path, version)
    known = cs.stat
    stat = known or {}
    if known is not None:
        try:
            cg.reclaim = reclaim_from_memory_stat(stat, version, swap_room)
        except ValueError as exc:
            problems.append(f"memory.stat: {exc}")
    problems.extend(cs.problems)
    if version == 2:
        file, shmem = stat.get("file"), stat.get("shmem")
        cg.categories = {"anonymous": stat.get("anon"), "shared": shmem, "file": _minus(file, shmem)}
        kernel, sock = stat.get("kernel"), stat.get("sock")
        cg.kernel = None if kernel is None else kernel + (sock or 0)  # both are charged to memory.current
        cg.swapcached = stat.get("swapcached")
        cg.charged, cg.swap, cg.limit = cs.current, cs.swap_current, cs.limit
        swap_max = cs.swap_limit
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
        cg.kernel = None if cs.path == "/" else cs.kmem
        cg.swapcached = stat.get(t + "swapcached")
        cg.charged, cg.limit = cs.current, cs.limit
        # memory.stat's swap counter, shown only with swap accounting (memsw files present). memsw.usage
        # minus usage is NOT swap on a busy cgroup: two reads apart, observed +2 MiB here with no swap at all.
        cg.swap = stat.get(t + "swap")
        if cg.swap is None:
            memsw = cs.memsw
            cg.swap = None if memsw is None or cg.charged is None else max(0, memsw - cg.charged)
    cg.oom_kills = None if cs.events is None else cs.events.get("oom_kill")
    psi = cs.pressure
    cg.pressure = None if psi is None else Pressure(psi.get("some"), psi.get("full"))
    cg.pids = list(cs.procs or ())
    return cg


def attach_members(tree: CgroupTree, processes: Iterable[ProcessMemory], skipped: Iterable[Skipped],
                   present: set[int], live: bool) -> None:
    """Sum each cgroup's processes (its own and its descendants') from the model of the same machine.

    Members come from cgroup.procs; a process listed nowhere (a capture without cgroup.procs, or a v2
    cgroup without the memory controller) joins the nearest cgroup above its ``ProcessMemory.cgroup``.
    A listed PID without a record is counted in ``unread`` by why: its ``skipped`` reason, "no user
    memory" (kernel threads, zombies, or a PID in ``present`` with no record), "gone" (live) or "not
    captured" (a capture).
    """
    index = {cg.path: cg for cg in tree.cgroups}
    procs = list(processes)
    by_pid = {p.pid: p for p in procs}
    reasons = {s.pid: "no user memory" if s.reason in ("kernel", "zombie") else s.reason for s in skipped}
    listed: set[int] = set()
    for cg in tree.cgroups:
        listed.update(cg.pids)
        for pid in cg.pids:
            p = by_pid.get(pid)
            if p is not None:
                _add_up(index, cg.path, p)
            else:
                why = reasons.get(pid) or ("no user memory" if pid in present else "gone" if live else "not captured")
                for anc in _ancestors(cg.path, index):
                    anc.unread[why] = anc.unread.get(why, 0) + 1
    for p in procs:
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


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b
