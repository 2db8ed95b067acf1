"""Findings about the whole machine (``model.findings``): no swap, memory meminfo does not account for,
shmem no process maps, cgroups near their limit, who reclaimed memory, and trends of a recorded history.

Figures come from the Model's meminfo split (``model.machine``: rows that add up to MemTotal), its
cgroup tree (``model.cgroup_tree``: reclaim classes of each cgroup's LRU lists) and vmstat
(``model.reclaimers``: pages stolen per reclaimer since boot, and DAMON's schemes).
"""

from __future__ import annotations

from memtype.kinds import Kind
from memtype.model.damon import damon_state
from memtype.model.findings import Finding, size
from memtype.model.reclaimers import damon_reclaim, machine_reclaim
from memtype.model.shm import describe, sort_objects

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.shm import ShmAccount

MiB = 1 << 20
UNACCOUNTED_MIN = 64 * MiB
SHMEM_UNMAPPED_MIN = 4 * MiB
NEAR_LIMIT = 0.9  # charged at or above 90% of the limit...
LITTLE_RECLAIMABLE = 0.1  # ...and less than 10% of it reclaimable
TREND_MIN = 64 * MiB
TREND_MIN_SECONDS = 600.0
_TREND_ROWS = (("anonymous", "anon"), ("shared", "shmem"), ("file", "file cache"))


def no_swap(model: Model, swappiness: int | None) -> list[Finding]:
    """``no-swap``: no swap device, or every one full: anonymous and shmem pages can only be freed."""
    m = model.machine
    if m is None or (m.swap_total and m.swap_free):
        return []
    anon, shmem = m.raw.get("AnonPages"), m.raw.get("Shmem")
    stuck = None if anon is None or shmem is None else anon + shmem
    full = bool(m.swap_total)
    evidence = [f"swap: {'every device full' if full else 'no swap device is active'} (SwapTotal "
                f"{size(m.swap_total)}, SwapFree {size(m.swap_free)})",
                f"anonymous memory ({size(anon)}) and shmem ({size(shmem)}) therefore stay in RAM until their "
                "owners free them or exit; under pressure the kernel can only drop page cache, then OOM-kill"]
    if m.available is not None:
        evidence.append(f"MemAvailable: {size(m.available)} (free memory plus what could be dropped)")
    if swappiness is not None:
        evidence.append(f"vm.swappiness = {swappiness}: it has no effect without swap")
    remedy = ("add a swapfile or zram if idle anonymous memory should make room for the rest; without swap, "
              "size memory limits for the peak of anonymous memory") if not full else (
              "add swap space, or find what fills it (memtype swap)")
    return [Finding("no-swap", "notice", stuck, "swap is full" if full else "no swap: anonymous memory can never be "
                    "reclaimed", tuple(evidence), remedy, (), {"anon": anon, "shmem": shmem,
                                                             "swap_total": m.swap_total, "swap_free": m.swap_free})]


def unaccounted(model: Model) -> list[Finding]:
    """``unaccounted``: what meminfo's rows leave over, and what it usually is."""
    m = model.machine
    rest = m.row("unaccounted") if m is not None else None
    if m is None or rest is None or rest < UNACCOUNTED_MIN:
        return []
    device = sum(p.categories[Kind.DEVICE].pss for p in model.scan.processes)
    evidence = [f"{size(rest)} of MemTotal ({100 * rest / m.total:.1f}%) is in no /proc/meminfo row"]
    if device:
        evidence.append(f"{size(device)} of it is driver pages that processes map (the device kind, PSS)")
    evidence.append("it is usually driver allocations (GPU drivers' host memory, network and storage buffers), "
                    "memory a hypervisor balloon took back, or pages freed on the per-CPU lists; "
                    "slab, page tables and vmalloc are accounted (the kernel row)")
    severity = "notice" if rest * 20 >= m.total or rest >= 1 << 30 else "info"
    return [Finding("unaccounted", severity, rest, f"{size(rest)} of memory meminfo does not account for",
                    tuple(evidence), "per driver: nvidia-smi (GPU), /sys/kernel/debug/dma_buf/bufinfo, the balloon "
                    "driver's stats; `memtype system --exact` (root) counts driver pages by page flags",
                    (), {"unaccounted": rest, "device_pss": device})]


def shmem_unmapped(model: Model, account: ShmAccount | None = None) -> list[Finding]:
    """``shmem-unmapped``: shmem no process maps. With ``account`` (``memtype shm``'s objects, Contract S) the
    objects themselves: resident, and neither mapped nor attached by any process (orphaned, or held only
    by an open fd); without it (a recorded sample) meminfo Shmem beyond the processes' shared PSS."""
    if account is not None:
        return _unmapped_objects(account)
    m = model.machine
    shmem = m.raw.get("Shmem") if m is not None else None
    if shmem is None:
        return []
    mapped = sum(p.categories[Kind.SHARED].pss for p in model.scan.processes)
    rest = shmem - mapped
    if rest < SHMEM_UNMAPPED_MIN:
        return []
    left_out = sum(1 for s in model.scan.skipped if s.reason not in ("kernel", "zombie"))
    evidence = [f"Shmem is {size(shmem)}; the processes read map {size(mapped)} of it (shared PSS)",
                f"{size(rest)} is held by no mapping: files in tmpfs and /dev/shm, SysV segments no one attaches, "
                "memfds a process holds only by a file descriptor"]
    if left_out:
        evidence.append(f"{left_out} process{'es' if left_out != 1 else ''} could not be read: what "
                        f"{'they map' if left_out != 1 else 'it maps'} is in this figure too")
    return [Finding("shmem-unmapped", "notice", rest, f"{size(rest)} of shared memory no process maps",
                    tuple(evidence), "it lives until its name goes (rm the tmpfs file, ipcrm -m the SysV segment) or "
                    "its last fd closes; `memtype shm` names the objects", (), {"shmem": shmem, "mapped": mapped})]


def _unmapped_objects(account: ShmAccount) -> list[Finding]:
    """The objects no process maps or attaches, plus the Shmem no object explains (``memtype shm``'s
    ``unaccounted`` row: objects of processes not read, tmpfs mounts not visible, the kernel's own)."""
    found = [o for o in sort_objects(list(account.objects)) if o.resident
             and not any(h.how in ("map", "attach") for h in o.holders) and not o.attached_unseen]
    objects = sum(o.resident or 0 for o in found)
    rest = max(0, account.unaccounted or 0)
    if objects + rest < SHMEM_UNMAPPED_MIN:
        return []
    evidence = [f"meminfo Shmem is {size(account.shmem)}; " + (
        f"{size(objects)} of it in {len(found)} object{'s' if len(found) != 1 else ''} that no process maps or "
        "attaches" if found else f"every one of the {len(account.objects)} objects found is mapped or attached")]
    pids: set[int] = set()
    for o in found[:5]:
        fds = sorted({h.pid for h in o.holders if h.how == "fd"})
        pids.update(fds)
        keeps = (f"only an open fd of PID {', '.join(map(str, fds))} holds it" if fds else
                 "its name keeps it" if o.named else "nothing holds it")
        evidence.append(f"{describe(o)}: {size(o.resident)} resident, {keeps}")
    if len(found) > 5:
        evidence.append(f"and {len(found) - 5} more (memtype shm --orphaned)")
    if rest:
        evidence.append(f"{size(rest)} of Shmem no object explains: objects of processes not read, tmpfs mounts "
                        "not visible here, the kernel's own shmem (GPU buffers)")
    return [Finding("shmem-unmapped", "notice", objects + rest, f"{size(objects + rest)} of shared memory no "
                    "process maps", tuple(evidence), "a named object lives until its name goes (rm the tmpfs file, "
                    "ipcrm -m SHMID for a SysV segment); one only an fd holds, until that process closes it or "
                    "exits; `memtype shm` lists them", tuple(sorted(pids)),
                    {"shmem": account.shmem, "objects": len(found), "unmapped": objects, "unaccounted": rest})]


def cgroups_near_limit(model: Model) -> list[Finding]:
    """``cgroup-near-limit``: charged at 90% or more of its limit, with under 10% of the limit reclaimable."""
    tree = model.cgroups
    if tree is None:
        return []
    out = []
    for cg in tree.cgroups:
        limit = cg.limit
        if limit is None or cg.charged is None or cg.reclaim is None or cg.charged < NEAR_LIMIT * limit:
            continue
        reclaimable = cg.reclaim.get("drop", 0) + cg.reclaim.get("writeback", 0) + cg.reclaim.get("swap", 0)
        if reclaimable >= LITTLE_RECLAIMABLE * limit:
            continue
        evidence = (f"charged {size(cg.charged)} of its limit {size(limit)} ({100 * cg.charged / limit:.0f}%)",
                    f"reclaimable in it: {size(reclaimable)} (page cache {size(cg.reclaim.get('drop', 0))}, dirty "
                    f"{size(cg.reclaim.get('writeback', 0))}, swappable {size(cg.reclaim.get('swap', 0))}); "
                    f"never: {size(cg.reclaim.get('never', 0))}",
                    "the next allocations past the limit find nothing to reclaim: the kernel OOM-kills in it"
                    + (f" (it has killed {cg.oom_kills} so far)" if cg.oom_kills else ""))
        out.append(Finding("cgroup-near-limit", "warning", cg.charged, f"cgroup {cg.path} is at "
                           f"{100 * cg.charged / limit:.0f}% of its limit with little to reclaim", evidence,
                           "raise the limit, or find what grows in it (memtype cgroups, memtype ps --cgroup)",
                           tuple(cg.pids[:20]), {"charged": cg.charged, "limit": limit, "reclaimable": reclaimable}))
    return out


def reclaimers(model: Model) -> list[Finding]:
    """``reclaim``: who took memory back since boot (Contract R, ``model.reclaimers.machine_reclaim``: the
    agents of vmstat ``pgsteal_*`` with the unattributed rest, the swap-out no steal counts, and the DAMON
    schemes that reclaim, whose pages are in no steal counter)."""
    vmstat = model.sample.vmstat
    if not vmstat:
        return []
    page = model.scan.host.page_size
    damon = damon_reclaim(damon_state(model.sample.damon), page)
    r = machine_reclaim(vmstat, pressure=model.sample.pressure, damon=damon)
    known = {name: a.stolen for name, a in r.agents.items() if a.stolen is not None}
    if not known and r.stolen_total is None:
        return []
    everything = (r.stolen_total or sum(known.values())) + (r.swapout_unscanned or 0) + (r.damon_stolen or 0)
    evidence = ["since boot, by reclaimer: " + ", ".join(f"{name} {size(n * page)}" for name, n in known.items())]
    if known.get("unattributed"):
        evidence.append("unattributed: reclaim aimed at a cgroup (its limit, memory.high, memory.reclaim) counts "
                        "machine-wide only in pgsteal_anon/file (mm/vmscan.c, before Linux 7.1)")
    if r.stolen["anon"] is not None and r.stolen["file"] is not None:
        evidence.append(f"of it {size(r.stolen['anon'] * page)} anonymous (to swap) and "
                        f"{size(r.stolen['file'] * page)} page cache")
    if r.swapout_unscanned:
        evidence.append(f"at least {size(r.swapout_unscanned * page)} went to swap outside LRU reclaim "
                        "(MADV_PAGEOUT, DAMON pageout: swap-outs no pgsteal counts)")
    for d in r.damon:
        took = f"took {size(d.stolen * page)}" if d.stolen is not None else (
            "its stats are stale (memtype reclaim --damon-refresh asks DAMON to update them)")
        evidence.append(f"DAMON scheme {d.label} reclaims idle memory: {took}; in no steal counter")
    if not everything:
        evidence.append("nothing was reclaimed: memory has never run short here")
    if r.allocstall:
        evidence.append(f"{r.allocstall} direct-reclaim stalls: allocating tasks waited for memory")
    some = None if r.pressure is None else r.pressure.get("some", {}).get("avg60")
    if some is not None:
        evidence.append(f"memory pressure (PSI some avg60): {some:.2f}% of the time a task waited for memory")
    title = "no reclaim since boot" if not everything else f"{size(everything * page)} reclaimed since boot: by whom"
    return [Finding("reclaim", "info", None, title, tuple(evidence), "memtype reclaim --interval 10 shows who "
                    "reclaims now" if everything else None, (),
                    {**{f"stolen_{name}": n for name, n in known.items()}, "swapout_unscanned": r.swapout_unscanned,
                     "damon_stolen": r.damon_stolen})]


def trends(first: Model, last: Model) -> list[Finding]:
    """``trend``: a machine kind (anonymous, shmem, file cache) that grew by 64 MiB or more between two
    recorded samples at least 10 minutes apart, per hour; with the process that grew most."""
    a, b = first.machine, last.machine
    t0, t1 = first.sample.wall, last.sample.wall
    if a is None or b is None or t0 is None or t1 is None or t1 - t0 < TREND_MIN_SECONDS:
        return []
    hours = (t1 - t0) / 3600
    out = []
    for row, word in _TREND_ROWS:
        before, after = a.row(row), b.row(row)
        if before is None or after is None or after - before < TREND_MIN:
            continue
        grown = after - before
        kind = Kind.FILE if row == "file" else Kind.SHARED if row == "shared" else Kind.ANONYMOUS
        top = _top_grower(first, last, kind)
        evidence = [f"{word} {size(before)} -> {size(after)} in {hours:.1f} h: +{size(int(grown / hours))}/h"]
        pids: tuple[int, ...] = ()
        if top is not None:
            evidence.append(f"the most: PID {top[0]} ({top[1]}), +{size(top[2])}")
            pids = (top[0],)
        out.append(Finding("trend", "warning" if row != "file" else "info", grown,
                           f"{word} +{size(int(grown / hours))}/h", tuple(evidence),
                           None if row == "file" else "a steady climb that is not freed is a leak until proven "
                           "otherwise: memtype diff --db DB --from T0 --to T1 shows what grew", pids,
                           {"before": before, "after": after, "seconds": t1 - t0, "per_hour": int(grown / hours)}))
    return out


def _top_grower(first: Model, last: Model, kind: Kind) -> tuple[int, str, int] | None:
    best: tuple[int, str, int] | None = None
    for key, p in last.by_key.items():
        q = first.by_key.get(key)
        if q is None:
            continue
        grew = p.categories[kind].rss - q.categories[kind].rss
        if grew > 0 and (best is None or grew > best[2]):
            best = (p.pid, p.comm, grew)
    return best
