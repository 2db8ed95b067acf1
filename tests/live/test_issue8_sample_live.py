"""Issue 8, Samples on the live kernel: a child's memory grows between two samples; derive sees it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from memhelpers import PAGE, Child
from memtype.collect.sample import read_sample
from memtype.kinds import Kind
from memtype.model.derive import derive

N = 4096  # pages: 16 MiB at 4 KiB


@pytest.fixture
def child() -> Iterator[Child]:
    c = Child()
    try:
        yield c
    finally:
        c.close()


def _starttime(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[19])


def test_issue8_live_sample_and_deltas(child: Child) -> None:
    addr = child.call("map_anon", 2 * N)
    child.call("write", addr, N)
    first = read_sample("/", [child.pid])
    key = (child.pid, _starttime(child.pid))
    assert list(first.processes) == [key]
    p = first.processes[key]
    assert p.smaps is not None and p.smaps_at is not None and first.monotonic is not None
    assert first.monotonic <= p.smaps_at <= first.monotonic + (first.duration or 0)
    assert p.counters.rss_anon is not None and p.counters.rss_anon >= N * PAGE
    assert first.zoneinfo and first.vmstat and first.meminfo["MemTotal"] > 0
    before = derive(first)
    assert before.by_key[key].categories[Kind.ANONYMOUS].rss >= N * PAGE

    child.call("write", addr, N, N)  # the second half: N more private anonymous pages
    after = derive(read_sample("/", [child.pid]), before)
    changes = after.changes
    assert changes is not None and changes.changed == (key,) and changes.elapsed is not None
    assert changes.elapsed > 0
    delta = changes.processes[key]
    grown = delta.kinds[Kind.ANONYMOUS].rss
    assert N * PAGE <= grown <= N * PAGE + 64 * PAGE, grown  # the interpreter moves a few pages too
    assert delta.counters.rss_anon is not None and abs(delta.counters.rss_anon - N * PAGE) <= 64 * PAGE
    assert delta.counters.minflt is not None and delta.counters.minflt > 0
    assert changes.kinds[Kind.ANONYMOUS].rss == grown


def test_issue8_live_sample_of_every_process_tolerates_races() -> None:
    sample = read_sample("/")
    assert (os.getpid(), _starttime(os.getpid())) in sample.processes
    model = derive(sample)
    for proc in model.scan.processes:
        assert sum(u.rss for u in proc.categories.values()) == proc.totals.rss
    assert model.scan.kernel_threads > 0 or not os.path.exists("/proc/2")
