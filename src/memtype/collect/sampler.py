"""A continuous sampler at a bounded, known cost: ``Sampler(root, interval, budget).tick() -> Model``.

Each tick reads every process's ``stat`` (its identity ``(pid, starttime)``, resident pages and
faults; one read(2), and a stat byte for byte the last tick's is not even parsed), ``status`` only
where stat's figures moved (RssAnon/RssFile/RssShmem/VmSwap and the uid: ``collect.counters``), and
the full smaps only for the processes ``collect.refresh.plan`` says are due (changed, new, their
fork families, big ones every ``big_interval``, the rest every ``refresh``), within a CPU-time budget
per tick: reads stop once ``budget`` seconds of CPU (``time.thread_time``: user and kernel time of
this thread, which is where the kernel formats smaps) have been spent, and what was due is left for
the next tick (``TickReport.left``). metop uses 150 ms per 1 s tick (landscape-next §1.1); the
default is 150 ms per tick. Between reads a process's rows are carried forward (``derive`` does not
classify them again) and ``freshness`` says how old and why.

Big processes (``big_rss``, 4 GiB by default) are read at most every ``big_interval`` seconds:
smaps costs ~11 ns per resident page here (4 GiB of anon: 44 ms of CPU) and holds the mmap lock
meanwhile, so hundreds of GiB take seconds and stall the process (process-exporter#246, htop#1712).
smaps_rollup is no way out: it walks the same page tables (4 GiB: 58 ms, measured on 6.18) and,
though since 5.10 it lets a contended writer in, it costs as much CPU; between reads a big process
shows its counters (RSS split, swap) fresh and its kinds with their age.

Memory stays flat: state is kept only for live processes (an exit drops it, with its last stat;
``SinceStart`` keeps exited processes as sums), smaps headers are interned in one pool that is
rebuilt from the live rows once it doubles, and the user-name cache is pruned with it
(bench/bench_soak.py: RSS after 1,000 ticks of a churning machine against after 10).
"""

from __future__ import annotations

import math
import time

from memtype.collect.cgroups import CgroupFiles, find_hierarchy, read_cgroups_sample
from memtype.collect.counters import StatReader, read_counters
from memtype.collect.process import read_cgroup
from memtype.collect.refresh import (CHANGED, FAMILY, NEW, PARENT, REASONS, RELATIVES, WALK, Links, Tracked,
                                     due_count, mark_families, plan, shared_anon)
from memtype.collect.damon import read_damon, refresh_damon
from memtype.collect.sample import read_sample, read_smaps_rows, read_system
from memtype.collect.scan import open_root, skip_for
from memtype.errors import AccessDenied, MemtypeError, ProcessGone
from memtype.model.derive import Model, derive
from memtype.model.records import Skipped
from memtype.model.sampling import (BIG, CARRIED, PENDING, READ, WAITING, Baseline, Exited, Freshness,
                                    SinceStart, TickReport, since_start)
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from memtype.model.sample import CgroupsSample, ProcessKey, Sample

GIB = 1 << 30
DENIED_TTL = 60.0  # seconds before a refused smaps is asked again (metop caches EACCES for a TTL too)


class Sampler:
    """Samples a machine tick after tick at a bounded cost (module docstring).

    Args:
        root: "/" (this machine) or a capture (a static view: every tick is the same sample).
        interval: seconds between ticks when iterated (``for model in sampler``), drift-free.
        budget: CPU seconds of smaps reading per tick; ``first_budget`` for the first tick (default:
            the same). routine_share: the part of the budget kept for routine reads (big, refresh).
        big_rss: resident bytes from which a process is big (``None``: none is); big_interval: the
            seconds between two full reads of a big process.
        refresh: seconds after which a process whose counters stood still is re-read anyway (what can
            still move: its PSS, as other processes map or drop the pages it shares). Re-reading every
            process once a minute costs ~0.75 ms (read and classify) x N / 60 s: 1.3% of a core at 1000.
        exe, cgroup: resolve each process's executable (at its start and exec) and memory cgroup (at
            each smaps read), as ``read_sample`` does.
        cgroups: read the memory cgroups every tick (``Sample.cgroups``, ``Model.cgroups``; about 0.2 ms
            of CPU per cgroup, outside ``budget``: ``TickReport.cgroups_cpu``). The hierarchy is found at the first tick;
            where there is none, ``Sample.cgroups`` stays ``None``.
        gpu: read the GPUs every tick (``Sample.gpu``, ``Model.gpu``: ``collect.gpu.read_gpu``; NVML is asked
            only where /dev/nvidiactl exists, DRM fds walked only where /dev/dri does; outside ``budget``).
        damon: read DAMON's sysfs tree every tick (``Sample.damon``; ~1.2 ms for one kdamond with one
            scheme, 75 files); damon_refresh: first ask each kdamond for fresh scheme stats (a root write of
            ``update_schemes_stats``: ``collect.damon.refresh_damon``), implies ``damon``.
    """

    def __init__(self, root: str | Root = "/", interval: float = 2.0, budget: float = 0.15, *,
                 big_rss: int | None = 4 * GIB, big_interval: float = 300.0, refresh: float = 60.0,
                 routine_share: float = 0.25, first_budget: float | None = None, exe: bool = False,
                 cgroup: bool = False, cgroups: bool = False, gpu: bool = False, damon: bool = False,
                 damon_refresh: bool = False) -> None:
        if interval <= 0 or budget < 0 or big_interval < 0 or refresh < 0 or not 0 <= routine_share <= 1:
            raise ValueError("interval must be > 0; budget, big_interval, refresh >= 0; routine_share in [0, 1]")
        self.root = open_root(root)
        self.interval, self.budget, self.first_budget = interval, budget, first_budget
        self.big_rss, self.big_interval, self.refresh, self.routine_share = big_rss, big_interval, refresh, routine_share
        self.exe, self.cgroup, self.cgroups, self.gpu = exe, cgroup, cgroups, gpu
        self.damon, self.damon_refresh = damon or damon_refresh, damon_refresh  # Sample.damon each tick (~1.2 ms)
        self._cgroup_files: CgroupFiles | None = None
        self._cgroups_looked = False  # for the hierarchy (found once: mounts do not move under a sampler)
        self.model: Model | None = None
        self.report: TickReport | None = None
        self._tracked: dict[ProcessKey, Tracked] = {}
        self._links = Links({})
        self._read_now: set[ProcessKey] = set()
        self._interned: dict[Any, Any] = {}
        self._pool_limit = 1 << 14
        self._users: dict[int, str | None] = {}
        self._exited = Exited()
        self._machine_start: dict[str, int | None] | None = None
        self._started: float | None = None
        self._static: Sample | None = None
        self._gone: dict[ProcessKey, Tracked] = {}  # exited since the last family marking
        self._stats: dict[int, tuple[bytes, ProcessKey | Skipped]] = {}  # pid -> last stat, what it was
        self._stat = StatReader(self.root)

    # -- the API --------------------------------------------------------------------------------
    def tick(self) -> Model:
        """Sample now: the model of this tick, with ``changes`` since the previous one."""
        if not self.root.live:
            return self._tick_static()
        cpu0, wall0 = time.thread_time(), time.monotonic()
        now = _boottime()
        first = self.model is None
        system = read_system(self.root)  # meminfo, vmstat, PSI, mounts: as read_sample reads them
        if self.damon:
            if self.damon_refresh:
                refresh_damon(self.root)  # a kdamond that cannot be refreshed keeps stale stats: null figures
            raw = read_damon(self.root)
            if raw is not None and self.damon_refresh:
                raw["refreshed"] = True
            system = system.replace(damon=raw)
        cg_cpu: float | None = None
        if self.cgroups:
            c0 = time.thread_time()
            system = system.replace(cgroups=self._read_cgroups(system.host.page_size))
            cg_cpu = time.thread_time() - c0
        skipped, warnings, new = self._read_counters(system.host.page_size, first)
        self._mark_families(new, first)
        cpu1 = time.thread_time()
        budget = self.first_budget if first and self.first_budget is not None else self.budget
        reads, reads_cpu, left, spent, slowest = self._read_smaps(now, budget, skipped, warnings)
        cpu2 = time.thread_time()
        processes = {}
        for key, t in self._tracked.items():
            if t.denied_until is not None and now < t.denied_until:
                skipped.append(Skipped(key[0], "denied", f"proc/{key[0]}/smaps"))
            else:
                processes[key] = t.sample
        uids = {ps.uid for ps in processes.values()}
        sample = system.replace(monotonic=now, duration=_boottime() - now, processes=processes,
                                users={u: self._users.get(u) for u in uids if u is not None},
                                skipped=tuple(sorted(skipped, key=lambda s: s.pid)),
                                warnings=system.warnings + tuple(warnings))
        if self.gpu:
            from memtype.collect.gpu import read_gpu  # only when asked: NVML's module is not free to import

            sample = sample.replace(gpu=read_gpu(self.root, sorted({k[0] for k in processes})))
        cpu3 = time.thread_time()
        model = derive(sample, self.model)
        self._after_derive(model, first, now)
        cpu4 = time.thread_time()
        self.report = TickReport(0 if self.report is None else self.report.index + 1, len(processes),
                                 budget, (cpu1 - cpu0) + (cpu3 - cpu2) - (cg_cpu or 0.0), spent, slowest, cpu4 - cpu3,
                                 cpu4 - cpu0, time.monotonic() - wall0, reads, reads_cpu, left,
                                 sum(1 for t in self._tracked.values() if t.big), cg_cpu,
                                 None if sample.cgroups is None else len(sample.cgroups.groups))
        self.model = model
        return model

    def __iter__(self) -> Iterator[Model]:
        """Tick every ``interval`` seconds, for ever: tick k starts at start + k * interval (a tick
        that overran skips the starts it missed, it does not catch up in a burst)."""
        due = time.monotonic()
        while True:
            yield self.tick()
            due += self.interval
            late = time.monotonic() - due
            if late > 0:
                due += math.ceil(late / self.interval) * self.interval
            time.sleep(max(0.0, due - time.monotonic()))

    def freshness(self, key: ProcessKey) -> Freshness:
        """How fresh ``key``'s kinds are in the last model (``KeyError``: not in it)."""
        model = self.model
        if model is None or key not in model.sample.processes:
            raise KeyError(key)
        t = self._tracked.get(key)
        ps = model.sample.processes[key]
        age = model.age(key)
        cost = t.cost if t is not None else None
        if ps.smaps is None:
            return Freshness(PENDING, None, None, "not read yet: counters only")
        if t is None or key in self._read_now:
            return Freshness(READ, age, None, "smaps read in this tick", cost)
        if t.big:
            at = ps.smaps_at
            return Freshness(BIG, age, None if at is None else at + self.big_interval,
                             f"resident over {_gib(self.big_rss)}: smaps read at most every "
                             f"{self.big_interval:g} s (counters are fresh)", cost)
        if t.changed or t.dirty:
            why = "changed" if t.changed else "its fork family changed"
            return Freshness(WAITING, age, None, f"{why} since its smaps was read; waiting for the CPU budget", cost)
        return Freshness(CARRIED, age, None, "unchanged since its smaps was read", cost)

    def since_start(self) -> SinceStart:
        """The last model's changes since the first tick (per process, per kind, and the machine's)."""
        if self.model is None:
            raise ValueError("no tick yet")
        return since_start(self.model, {k: t.baseline for k, t in self._tracked.items()}, self._exited,
                           self._machine_start, self._started)

    def close(self) -> None:
        self._stat.close()
        self.root.close()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one tick's steps -----------------------------------------------------------------------
    def _read_cgroups(self, page_size: int) -> CgroupsSample | None:
        """The memory cgroups now; ``None`` where the root has no memory hierarchy."""
        if not self._cgroups_looked:
            self._cgroups_looked = True
            try:
                self._cgroup_files = CgroupFiles(self.root, find_hierarchy(self.root), page_size)
            except MemtypeError:
                self._cgroup_files = None
        files = self._cgroup_files
        return None if files is None else read_cgroups_sample(self.root, files=files)

    def _read_counters(self, page: int, first: bool) -> tuple[list[Skipped], list[str], list[ProcessKey]]:
        """stat of every process, status where stat moved; the live set replaces the tracked one.
        Returns the skipped, the warnings and the new processes.

        A stat byte for byte the one of the last tick is the same process (its starttime is in it)
        with nothing moved: it is not even parsed. Most processes sleep through most ticks."""
        old, last = self._tracked, self._stats
        tracked: dict[ProcessKey, Tracked] = {}
        stats: dict[int, tuple[bytes, ProcessKey | Skipped]] = {}
        skipped: list[Skipped] = []
        warnings: list[str] = []
        new: list[ProcessKey] = []
        for pid in self.root.pids():
            try:
                data = self._stat.read(pid)
            except ProcessGone:
                continue
            except MemtypeError as exc:
                _skip(pid, exc, skipped, warnings)
                continue
            seen = last.get(pid)
            if seen is not None and seen[0] == data:
                stats[pid] = seen
                verdict = seen[1]
                if isinstance(verdict, Skipped):
                    skipped.append(verdict)
                    continue
                t = old.get(verdict)
                if t is not None:
                    tracked[verdict] = t
                    continue
            got = read_counters(self.root, pid, data, old, first, self._users, warnings, big_rss=self.big_rss,
                                page=page, exe=self.exe, cgroup=self.cgroup)
            if isinstance(got, Skipped):
                skipped.append(got)
                if got.reason in ("kernel", "zombie"):
                    stats[pid] = (data, got)
            elif got is not None:
                key, t, is_new = got
                stats[pid] = (data, key)
                tracked[key] = t
                if is_new:
                    new.append(key)
        for gone in old.keys() - tracked.keys():
            self._exited.add(old[gone].baseline)
            self._gone[gone] = old[gone]
        self._tracked, self._stats = tracked, stats
        self._stat.forget(stats)
        return skipped, warnings, new

    def _mark_families(self, new: list[ProcessKey], first: bool) -> None:
        """Dirty the fork relatives of what forked or exited (``collect.refresh``; a copy-on-write break
        is seen when the writer is read, in ``_read_smaps``). At the first tick every process is new."""
        tracked, before = self._tracked, self._links
        links = Links(tracked)
        if not first:
            seeds = [(key, links, PARENT) for key in new]  # its fork shared its parent's pages
            seeds += [(key, before, RELATIVES) for key, t in self._gone.items() if t.shared != 0]
            mark_families(tracked, seeds, links)
        self._gone = {}
        self._links = links

    def _read_smaps(self, now: float, budget: float, skipped: list[Skipped],
                    warnings: list[str]) -> tuple[dict[str, int], dict[str, float], int, float, float]:
        """The due reads within ``budget``: urgent ones up to ``1 - routine_share`` of it, then routine,
        then what is left of the urgent ones. Returns reads and their CPU per reason, reads left, CPU
        spent, and the CPU of the slowest read."""
        urgent, routine = plan(self._tracked, now, big_interval=self.big_interval, refresh=self.refresh)
        done: list[tuple[ProcessKey, str]] = []
        cpu = dict.fromkeys(REASONS, 0.0)
        spent = slowest = 0.0
        self._read_now = set()
        at = {"urgent": 0, "routine": 0}
        for items, name, limit in ((urgent, "urgent", budget * (1 - self.routine_share)), (routine, "routine", budget),
                                   (urgent, "urgent", budget)):
            while at[name] < len(items) and spent < limit:
                key, why = items[at[name]]
                at[name] += 1
                cost, broke = self._read_one(key, now, skipped, warnings)
                if broke and why == CHANGED:  # it broke sharing: its family's split moved too, now
                    urgent += [(k, FAMILY) for k in mark_families(self._tracked, [(key, self._links, WALK)],
                                                                  self._links)]
                spent += cost
                cpu[why] += cost
                slowest = max(slowest, cost)
                done.append((key, why))
        left = len(urgent) - at["urgent"] + len(routine) - at["routine"]
        if len(self._interned) > self._pool_limit:
            self._prune()
        return due_count(done), cpu, left, spent, slowest

    def _read_one(self, key: ProcessKey, now: float, skipped: list[Skipped],
                  warnings: list[str]) -> tuple[float, bool]:
        """Read one process's smaps into its Tracked: the CPU seconds it took, and whether its fork-shared
        anonymous pages fell since its last read (a copy-on-write break)."""
        t = self._tracked.get(key)
        if t is None:  # found gone by an earlier read in this tick (listed again as family)
            return 0.0, False
        pid = key[0]
        cpu0 = time.thread_time()
        try:
            got = read_smaps_rows(self.root, pid, self._interned)
        except ProcessGone:
            got = None
        except AccessDenied:
            t.denied_until = now + DENIED_TTL
            return time.thread_time() - cpu0, False
        except MemtypeError as exc:
            _skip(pid, exc, skipped, warnings)
            t.denied_until = now + DENIED_TTL  # unreadable: not asked again at once either
            return time.thread_time() - cpu0, False
        if got is None:  # exited (or a zombie) since its stat was read
            self._gone[key] = gone = self._tracked.pop(key)
            self._exited.add(gone.baseline)
            return time.thread_time() - cpu0, False
        rows, problems = got
        before, t.shared = t.shared, shared_anon(rows)
        cost = time.thread_time() - cpu0
        t.sample = t.sample.replace(smaps=rows, smaps_at=_boottime(), problems=problems,
                                    cgroup=read_cgroup(self.root, pid) if self.cgroup else t.sample.cgroup)
        t.read_sig, t.dirty, t.cost, t.denied_until = t.stat_sig[:3], False, cost, None
        self._read_now.add(key)
        return cost, before is not None and 0 <= t.shared < before

    def _after_derive(self, model: Model, first: bool, now: float) -> None:
        """Baselines for the processes classified for the first time; the machine's at the first tick."""
        for key in self._read_now:
            t = self._tracked.get(key)
            p = model.by_key.get(key)
            if t is not None and p is not None and t.baseline.totals is None:
                t.baseline = t.baseline.replace(totals=p.totals, kinds=p.categories)
        if first:
            self._started = now
            self._machine_start = None if model.machine is None else {r.id: r.bytes for r in model.machine.rows}

    def _prune(self) -> None:
        """Rebuild the header pool from the live rows (exited processes' headers go) and the user cache."""
        pool: dict[Any, Any] = {}
        for t in self._tracked.values():
            rows = t.sample.smaps
            if rows is not None:
                pool.setdefault(rows.names, rows.names)
                for h in rows.headers:
                    pool.setdefault(h, h)
        self._interned = pool
        self._pool_limit = max(1 << 14, 2 * len(pool))
        live = {t.sample.uid for t in self._tracked.values()}
        self._users = {u: n for u, n in self._users.items() if u in live}

    def _tick_static(self) -> Model:
        """A capture does not change: read it once, then every tick derives the same sample."""
        cpu0, wall0 = time.thread_time(), time.monotonic()
        if self._static is None:
            self._static = read_sample(self.root, exe=self.exe, cgroup=self.cgroup, cgroups=self.cgroups,
                                       gpu=self.gpu)
        model = derive(self._static, self.model)
        self._read_now = set(model.by_key) if self.model is None else set()
        if self.model is None:
            self._started = self._static.monotonic
            self._machine_start = None if model.machine is None else {r.id: r.bytes for r in model.machine.rows}
            for key, ps in self._static.processes.items():
                p = model.by_key.get(key)
                self._tracked[key] = t = Tracked(ps, (None, 0, 0, ps.comm, 0, ""), Baseline(
                    True, ps.counters, p.totals if p else None, p.categories if p else None))
                t.read_sig = t.stat_sig[:3]
        cpu = time.thread_time() - cpu0
        self.report = TickReport(0 if self.report is None else self.report.index + 1, len(self._static.processes),
                                 self.budget, 0.0, 0.0, 0.0, cpu, cpu, time.monotonic() - wall0,
                                 due_count([]) | ({NEW: len(model.by_key)} if self.model is None else {}),
                                 dict.fromkeys(REASONS, 0.0), 0, 0)
        self.model = model
        return model


def _skip(pid: int, exc: MemtypeError, skipped: list[Skipped], warnings: list[str]) -> None:
    skip, warning = skip_for(pid, exc)
    skipped.append(skip)
    if warning:
        warnings.append(warning)


def _boottime() -> float:
    """CLOCK_BOOTTIME: the clock of Sample.monotonic (read_sample's), so ages compare with it."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / GIB:.1f} GiB"

