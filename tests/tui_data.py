"""Deterministic input for ``memtype top``'s tests: Models of the captured GPU host (tests/fixtures/roots/
gpu-dataloader: a PyTorch trainer, PID 421, and four forked DataLoader workers 450-453), and a second tick
made from it in which worker 450 wrote 100 MiB of its heap, reclaim stole pages and PSI rose.
No clock, no live /proc: the same pixels every run."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

from textual.pilot import Pilot

from memtype.collect.sample import read_sample
from memtype.model.derive import Model, derive
from memtype.model.sample import ENTRY_COLUMNS, Sample
from memtype.tui.app import TopApp
from memtype.tui.feed import Feed

GPU_ROOT = Path(__file__).parent / "fixtures" / "roots" / "gpu-dataloader"
GROWN_KIB = 100 * 1024  # what worker 450 wrote in the second tick
PSI = {"some": {"avg10": 1.25, "avg60": 0.5, "avg300": 0.1, "total": 123456},
       "full": {"avg10": 0.5, "avg60": 0.2, "avg300": 0.05, "total": 23456}}


def first_sample() -> Sample:
    return read_sample(str(GPU_ROOT), exe=True, cgroup=True, jobs=1)


def grown(sample: Sample, pid: int, kib: int, path: str = "[heap]") -> Sample:
    """``sample`` with ``kib`` more private dirty anonymous memory in PID's ``path`` mapping."""
    key = next(k for k in sample.processes if k[0] == pid)
    ps = sample.processes[key]
    rows = ps.smaps
    assert rows is not None
    width = rows.width
    numbers = array("Q", rows.numbers)
    entry = next(i for i, h in enumerate(rows.headers) if h[2] == path)
    for name in ("Rss", "Pss", "Pss_Dirty", "Private_Dirty", "Anonymous"):
        if name in rows.names:
            numbers[entry * width + len(ENTRY_COLUMNS) + rows.names.index(name)] += kib
    return sample.replace(processes={**sample.processes, key: ps.replace(smaps=rows.replace(numbers=numbers))})


def second_sample(first: Sample, *, stale_pid: int = 451) -> Sample:
    """Two seconds later: worker 450 grew, 4096 pages were stolen, PSI rose; ``stale_pid``'s smaps was
    carried forward from 30 s before (as a sampler does between refreshes)."""
    s = grown(first, 450, GROWN_KIB)
    assert first.monotonic is not None and first.vmstat is not None
    now = first.monotonic + 2.0
    vmstat = dict(first.vmstat)
    vmstat["pgsteal_file"] = vmstat.get("pgsteal_file", 0) + 4096
    vmstat["pgsteal_kswapd"] = vmstat.get("pgsteal_kswapd", 0) + 4096
    processes = dict(s.processes)
    key = next(k for k in processes if k[0] == stale_pid)
    processes[key] = processes[key].replace(smaps_at=now - 30.0)
    return s.replace(monotonic=now, vmstat=vmstat, pressure=PSI, processes=processes)


def models() -> tuple[Model, Model]:
    one = first_sample()
    first = derive(one)
    return first, derive(second_sample(one), first)


def ticking(sequence: list[Model]) -> Callable[[], Model]:
    """A tick that gives each Model in turn, then the last one again."""
    it: Iterator[Model] = iter(sequence)
    last: list[Model] = []

    def tick() -> Model:
        model = next(it, None)
        if model is not None:
            last[:] = [model]
        return last[0]

    return tick


class Fresh:
    """What the sampler's ``freshness`` says (``memtype.model.sampling.Freshness``'s fields)."""

    def __init__(self, state: str, age: float | None, why: str) -> None:
        self.state, self.age, self.why = state, age, why


def freshness(key: tuple[int, int | None]) -> Fresh:
    """451 changed since its smaps was read 30 s ago (waiting for the budget); 421 is big, read 2 min ago."""
    if key[0] == 451:
        return Fresh("waiting", 30.0, "changed since its smaps was read; waiting for the CPU budget")
    if key[0] == 421:
        return Fresh("big", 120.0, "resident over 1.0 GiB: smaps read at most every 300 s (counters are fresh)")
    return Fresh("read", 0.0, "smaps read in this tick")


def app(*, ticks: int = 2, marks: bool = True) -> TopApp:
    """The app over the fixture's Models (it does not tick by itself: ``autotick=False``; ``settle``
    shows the first ``ticks`` of them)."""
    sequence = list(models())[:ticks]
    feed = Feed(ticking(sequence), interval=2.0, live=False, notes=lambda m: [],
                freshness=freshness if marks else None)
    return TopApp(feed, autotick=False)


async def settle(pilot: Pilot[int], ticks: int = 2) -> None:
    """Wait for the first tick, run ``ticks - 1`` more, and let the screen catch up."""
    app = pilot.app
    assert isinstance(app, TopApp)
    await app.workers.wait_for_complete()
    await pilot.pause()
    for _ in range(ticks - 1):
        app.fetch()
        await app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.pause()
