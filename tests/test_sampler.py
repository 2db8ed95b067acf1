"""Issue 9, the sampler: which smaps a tick re-reads (collect/refresh.py), fork families, changes
since the start (model/sampling.py), and the Sampler over a capture. Hermetic: the GPU fixture root
holds a DataLoader family (bash 415 -> python3 421 -> workers 450-453, sharing anonymous pages).
The live kernel is in tests/live/test_sampler_live.py."""

from __future__ import annotations

import time

import pytest

import memtype
from conftest import GPU_ROOT
from memtype.collect.refresh import (BIG, CHANGED, FAMILY, NEW, PARENT, REFRESH, RELATIVES, WALK, Links, Tracked,
                                     mark_families, plan, shared_anon)
from memtype.collect.sample import read_sample
from memtype.kinds import KINDS
from memtype.model.derive import EXITED, NEW as NEW_PROCESS, derive
from memtype.model.sample import Sample
from memtype.model.sampling import CARRIED, READ, Baseline, Exited, since_start


@pytest.fixture(scope="module")
def gpu_sample() -> Sample:
    return read_sample(str(GPU_ROOT), jobs=1)


def tracked_from(sample: Sample) -> dict[tuple[int, int | None], Tracked]:
    """Every process as read once at t=10, its stat unchanged since."""
    out = {}
    for key, ps in sample.processes.items():
        c = ps.counters
        t = Tracked(ps.replace(smaps_at=10.0), (c.rss_anon, c.minflt or 0, c.majflt or 0, ps.comm, ps.ppid or 0, "S"),
                    Baseline(True, c))
        t.read_sig = t.stat_sig[:3]
        t.shared = shared_anon(ps.smaps) if ps.smaps is not None else None
        out[key] = t
    return out


def dirty(tracked: dict[tuple[int, int | None], Tracked]) -> set[int]:
    return {key[0] for key, t in tracked.items() if t.dirty}


def test_issue9_shared_anon_tells_fork_families_from_exec_children(gpu_sample: Sample) -> None:
    shared = {key[0]: shared_anon(ps.smaps) for key, ps in gpu_sample.processes.items() if ps.smaps is not None}
    assert {pid for pid, kb in shared.items() if kb > 0} == {421, 450, 451, 452, 453}
    assert shared[409] == shared[415] == shared[471] == 0
    for pid in (450, 451, 452, 453):  # a worker shares at most what it has, and at least its CoW kind's anon part
        ps = next(p for k, p in gpu_sample.processes.items() if k[0] == pid)
        assert 0 < shared[pid] * 1024 <= (ps.counters.rss_anon or 0)


def test_issue9_a_workers_write_dirties_its_parent_and_siblings_only(gpu_sample: Sample) -> None:
    """Worker 450 breaks sharing: 421 and the other workers' CoW move without their counters; bash 415
    (which forked 421 and exec'd) shares nothing, so it and the unrelated shells are left alone."""
    tracked = tracked_from(gpu_sample)
    links = Links(tracked)
    marked = mark_families(tracked, [((450, 3182), links, WALK)], links)
    assert {k[0] for k in marked} == {421, 451, 452, 453} == dirty(tracked)
    assert mark_families(tracked, [((450, 3182), links, WALK)], links) == []  # marked once


def test_issue9_a_fork_dirties_its_parent_even_without_sharing(gpu_sample: Sample) -> None:
    """A new child of bash 415: the fork shared bash's pages (its PSS falls), though bash's last read
    showed no sharing; the walk stops at bash, which shares nothing with python3 421."""
    tracked = tracked_from(gpu_sample)
    shell = tracked[(415, 2489)].sample
    child = Tracked(shell.replace(pid=999, starttime=5000, ppid=415, smaps=None, smaps_at=None),
                    (1, 1, 0, "bash", 415, "S"), Baseline(False, shell.counters))
    tracked[(999, 5000)] = child
    links = Links(tracked)
    mark_families(tracked, [((999, 5000), links, PARENT)], links)
    assert dirty(tracked) == {415}
    tracked = tracked_from(gpu_sample)  # a fork of python3 421 marks 421, not the workers (their PSS
    tracked[(999, 5000)] = Tracked(child.sample.replace(ppid=421), child.stat_sig, child.baseline)  # moves less)
    links = Links(tracked)
    mark_families(tracked, [((999, 5000), links, PARENT)], links)
    assert dirty(tracked) == {421}


def test_issue9_an_exit_dirties_its_parent_and_children(gpu_sample: Sample) -> None:
    tracked = tracked_from(gpu_sample)
    before = Links(tracked)
    tracked.pop((453, 3186))
    mark_families(tracked, [((453, 3186), before, RELATIVES)], Links(tracked))
    assert dirty(tracked) == {421}
    tracked = tracked_from(gpu_sample)
    before = Links(tracked)
    tracked.pop((421, 2490))  # the DataLoader's main process exits: its parent and its workers
    mark_families(tracked, [((421, 2490), before, RELATIVES)], Links(tracked))
    assert dirty(tracked) == {415, 450, 451, 452, 453}


def test_issue9_plan_orders_urgent_then_routine(gpu_sample: Sample) -> None:
    tracked = tracked_from(gpu_sample)
    t = {key[0]: v for key, v in tracked.items()}
    t[409].read_sig = None                       # never read
    t[415].stat_sig = (1,) + t[415].stat_sig[1:]  # its resident pages moved
    t[450].dirty = True                          # a relative moved
    t[421].big = True                            # big, read at 10 s: due at 10 + 300
    t[451].sample = t[451].sample.replace(smaps_at=1.0)  # read at 1 s: oldest, refresh due
    t[452].denied_until = 1e9                    # refused: not asked again yet
    urgent, routine = plan(tracked, 39.0, big_interval=300.0, refresh=30.0)
    assert [(k[0], why) for k, why in urgent] == [(415, CHANGED), (409, NEW), (450, FAMILY)]
    assert [(k[0], why) for k, why in routine] == [(451, REFRESH)]
    urgent, routine = plan(tracked, 320.0, big_interval=300.0, refresh=30.0)
    assert [(k[0], why) for k, why in routine][0] == (421, BIG)  # big first, then the oldest
    assert {k[0] for k, _ in routine} == {421, 451, 453, 471}


def test_issue9_new_processes_are_read_the_most_resident_first(gpu_sample: Sample) -> None:
    """The first tick's budget reads a part of a big machine: the top of a view sorted by size first."""
    tracked = tracked_from(gpu_sample)
    for rss, (key, t) in zip((10, 500, None, 70, 3000, 1), tracked.items()):
        t.read_sig, t.stat_sig = None, (rss,) + t.stat_sig[1:]  # never read; stat's rss pages
    urgent, _ = plan(tracked, 0.0, big_interval=300.0, refresh=30.0)
    sizes = [tracked[k].stat_sig[0] or 0 for k, why in urgent if why == NEW]
    assert sizes[:6] == sorted(sizes, reverse=True)[:6] and sizes[0] == 3000


def test_issue9_a_changed_big_process_waits_for_its_interval(gpu_sample: Sample) -> None:
    tracked = tracked_from(gpu_sample)
    big = tracked[(421, 2490)]
    big.big, big.stat_sig = True, (0,) + big.stat_sig[1:]
    urgent, routine = plan(tracked, 100.0, big_interval=300.0, refresh=1e9)
    assert (421, 2490) not in {k for k, _ in urgent + routine}


def test_issue9_reused_pid_since_start(gpu_sample: Sample) -> None:
    """PID 450 exits and another process gets PID 450: an exit and a new process, since the previous
    tick and since the start."""
    first_ps = gpu_sample.processes[(450, 3182)]
    reborn = first_ps.replace(starttime=9999, comm="other")
    others = {k: p for k, p in gpu_sample.processes.items() if k[0] != 450}
    start = derive(gpu_sample.replace(monotonic=100.0))
    now = derive(gpu_sample.replace(monotonic=130.0, processes={**others, (450, 9999): reborn}), start)
    assert now.changes is not None
    assert now.changes.processes[(450, 3182)].change == EXITED
    assert now.changes.processes[(450, 9999)].change == NEW_PROCESS
    baselines = {p.key: Baseline(True, gpu_sample.processes[p.key].counters, p.totals, p.categories)
                 for p in start.scan.processes if p.pid != 450}
    baselines[(450, 9999)] = Baseline(False, reborn.counters)
    exited = Exited()
    old = start.by_key[(450, 3182)]
    exited.add(Baseline(True, first_ps.counters, old.totals, old.categories))
    since = since_start(now, baselines, exited, None, 100.0)
    assert since.elapsed == 30.0 and since.exited == 1
    assert since.processes[(450, 9999)].change == NEW_PROCESS
    assert since.processes[(450, 9999)].counters.minflt == reborn.counters.minflt  # from 0: it started later
    for k in KINDS:  # the same memory left and came back: nothing moved in sum
        assert since.kinds[k].rss == 0
        assert since.exited_kinds[k].rss == -old.categories[k].rss
    assert since.totals.pss == sum(p.totals.pss for p in now.scan.processes) - \
        sum(p.totals.pss for p in start.scan.processes)


def test_issue9_sampler_over_a_capture_is_a_static_view() -> None:
    with memtype.Sampler(str(GPU_ROOT)) as sampler:
        first = sampler.tick()
        second = sampler.tick()
        key = (421, 2490)
        assert sampler.freshness(key).state == CARRIED and sampler.freshness(key).fresh
        assert second.by_key[key] is first.by_key[key]
        assert second.changes is not None and second.changes.processes == {}
        since = sampler.since_start()
        assert since.totals.rss == 0 and since.exited == 0 and set(since.processes) == set(first.by_key)
        assert sampler.report is not None and sampler.report.index == 1


def test_issue9_freshness_of_the_first_tick() -> None:
    sampler = memtype.Sampler(str(GPU_ROOT))
    model = sampler.tick()
    assert {sampler.freshness(k).state for k in model.by_key} == {READ}
    with pytest.raises(KeyError):
        sampler.freshness((1, 1))
    sampler.close()


def test_issue9_bad_settings_are_refused() -> None:
    for kwargs in ({"interval": 0}, {"budget": -1}, {"routine_share": 2}):
        with pytest.raises(ValueError):
            memtype.Sampler(str(GPU_ROOT), **kwargs)  # type: ignore[arg-type]


def test_issue9_iteration_is_drift_free() -> None:
    """Tick k starts at start + k * interval, however long each tick takes (here a capture: ~ms)."""
    # On a loaded machine a tick may start late or skip a start it missed (it does not catch up): each
    # start must still sit on the grid start + k * interval, never drift off it (seen: a 40 ms total
    # tolerance failed under a load of 8 on 2 CPUs).
    interval = 0.1
    sampler = memtype.Sampler(str(GPU_ROOT), interval=interval)
    starts = []
    for i, _ in enumerate(sampler):
        starts.append(time.monotonic())
        if i == 6:
            break
    sampler.close()
    # measured from the second start: the first tick also pays for the first derive (~30 ms here)
    steps = [(s - starts[1]) / interval for s in starts[1:]]
    assert steps[-1] >= 5 - 0.2
    late = [round(k - round(k), 3) for k in steps if not -0.3 <= k - round(k) <= 0.45]
    assert not late, f"starts off the grid by {late} intervals: {steps}"
