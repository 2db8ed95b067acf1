"""What a reading command reads: this machine, a capture (``--root``), or a recorded sample
(``--db DB --at TIME``) — one code path for all three.

A command opens ``open_source(args)`` and asks it for what it shows: ``scan`` (the processes by
kind), ``machine`` (meminfo's rows), ``system`` (``memtype system``), ``sample`` (the raw Sample).
A Root (live or captured) answers with the collectors as before (``ps`` streams each smaps through
the compiled classifier and keeps nothing: 0.77 s of CPU at 1000 processes, against 1.27 s for a
Sample and ``derive``); a database answers with ``derive`` of the Sample nearest to TIME. Both give
the same records (``tests/test_replay_source.py`` checks ``derive(read_sample(capture))`` against
``scan(capture)``), so every table, JSON and CSV is the same code. What a database does not hold
(command lines, page flags, /proc/swaps, the page cache's files) is one line saying so.

The output names the sample it shows (``sample of 2026-12-01 14:05:10, nearest to 14:05``): the
first line of a table, ``"recorded"`` in a JSON document, a note on stderr beside a CSV.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from memtype.cli import notes, when
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.derive import Model
    from memtype.model.machine import MachineMemory, SystemMemory
    from memtype.model.records import Scan
    from memtype.model.sample import Sample
    from memtype.source.root import Root

    from memtype.store import Store, StoreInfo

NOT_RECORDED = "a database does not record {what}"


def add_past(p: argparse.ArgumentParser) -> None:
    """``--db DB`` and ``--at TIME``: read a recorded sample instead of this machine."""
    p.add_argument("--db", metavar="DB", help="read a database of `memtype record` instead of this machine "
                   "(with --at)")
    p.add_argument("--at", type=when.time_arg, metavar="TIME",
                   help=f"with --db: the sample nearest to TIME ({when.ACCEPTED}; default: the latest)")


class Stamp:
    """Which recorded sample a command shows: its time, what was asked, the database."""

    __slots__ = ("wall", "asked", "db", "sample_id", "far")

    def __init__(self, wall: float, asked: str | None, db: str, sample_id: int, far: float | None = None) -> None:
        self.wall, self.asked, self.db, self.sample_id, self.far = wall, asked, db, sample_id, far

    @property
    def line(self) -> str:
        """``sample of 2026-12-01 14:05:10, nearest to 14:05`` (``the latest`` without --at); ``far``: the
        seconds between the two, said when the record has a gap there."""
        near = f"nearest to {self.asked}" if self.asked is not None else "the latest"
        if self.far is not None:
            near += f", {when.duration(self.far)} from it (the record has a gap there)"
        return f"sample of {when.shown(self.wall)}, {near} (database {self.db})"

    def as_dict(self) -> dict[str, Any]:
        return {"db": self.db, "sample": self.sample_id, "wall": self.wall, "time": when.shown(self.wall),
                "asked": self.asked}


class Source:
    """A Root (``root``: this machine or a capture) or one recorded ``sample`` with its ``stamp``."""

    def __init__(self, root: Root | None = None, sample: Sample | None = None, stamp: Stamp | None = None) -> None:
        self.root, self._sample, self.stamp = root, sample, stamp
        self._models: dict[bool, Model] = {}

    @property
    def live(self) -> bool:
        return self.root is not None and self.root.live

    def need_root(self, what: str) -> Root:
        """The Root, or one line: a database does not hold ``what``."""
        if self.root is None:
            raise MemtypeError(NOT_RECORDED.format(what=what))
        return self.root

    def sample(self, *, exe: bool = False, cgroup: bool = False, jobs: int | None = None) -> Sample:
        """The raw Sample: the recorded one, or one read from the Root now."""
        if self._sample is not None:
            return self._sample
        from memtype.collect.sample import read_sample

        return read_sample(self.need_root("a sample"), exe=exe, cgroup=cgroup, jobs=jobs)

    def model(self, *, mappings: bool = False) -> Model:
        """``derive`` of the recorded sample (once per ``mappings``)."""
        if self._sample is None:
            raise MemtypeError("no recorded sample")  # a bug: Root sources scan
        if mappings not in self._models:
            from memtype.model.derive import derive

            self._models[mappings] = derive(self._sample, mappings=mappings)
        return self._models[mappings]

    def scan(self, pids: list[int] | None = None, *, exe: bool = False, cmdline: bool = False,
             cgroup: bool = False, mappings: bool = False, exact: bool = False, jobs: int | None = None,
             annotate: bool = False) -> Scan:
        """Every process (or ``pids``) by kind; ``annotate``: its reclaim classes finished (``reclaim.annotate``,
        as ``ps`` shows them).

        Raises:
            NoSuchProcess: a PID asked for that the source does not have.
            MemtypeError: an option whose data a database does not hold.
        """
        from memtype.model import reclaim

        if self.root is not None:
            from memtype.collect.swapinfo import swap_room

            if exact:
                from memtype.collect.scan_exact import scan_exact

                result = scan_exact(self.root, pids, mappings=mappings, exe=exe, cmdline=cmdline, jobs=jobs,
                                    cgroup=cgroup)
            else:
                from memtype.collect.scan import scan

                result = scan(self.root, pids, mappings=mappings, exe=exe, cmdline=cmdline, jobs=jobs, cgroup=cgroup)
            return reclaim.annotate(result, swap_room(self.root)) if annotate else result
        if exact:
            raise MemtypeError(NOT_RECORDED.format(what="page flags (--exact reads /proc/kpageflags live)"))
        if cmdline:
            raise MemtypeError(NOT_RECORDED.format(what="command lines (--cmdline): they may hold secrets"))
        model = self.model(mappings=mappings)
        result = model.scan
        if pids is not None:
            have = {p.pid for p in result.processes} | {s.pid for s in result.skipped}
            for pid in pids:
                if pid not in have:
                    raise MemtypeError(f"no process with PID {pid} in the sample of {when.shown(self._wall())}")
            wanted = set(pids)
            result = result.replace(processes=[p for p in result.processes if p.pid in wanted],
                                    skipped=[s for s in result.skipped if s.pid in wanted])
        if cgroup and self._sample is not None and not any(p.cgroup for p in self._sample.processes.values()):
            notes.note("the database recorded no memory cgroup of its processes")
        ages = [a for a in (model.age(p.key) for p in result.processes) if a]
        if ages:  # a sampler re-reads a process's smaps only when it moved, within a CPU budget
            notes.note(f"{notes.count(len(ages))} as last read before the sample, up to {when.duration(max(ages))} "
                       "earlier (the recorder re-reads a process's smaps when it changes, within its CPU budget)")
        return reclaim.annotate(result, model.swap_room) if annotate else result

    def machine(self, scan: Scan | None = None) -> MachineMemory:
        """meminfo's rows (``memtype system``'s), cow's file part from ``scan``."""
        if self.root is not None:
            from memtype.collect.system import machine_memory

            return machine_memory(self.root, scan)
        from memtype.model.machine import cow_file_of, split_machine

        s = self.sample()
        return split_machine(s.meminfo, s.host.page_size, per_cpu_pages=_pcp(s), cow_file=cow_file_of(scan))

    def system(self, *, exact: bool, processes: bool, jobs: int | None) -> SystemMemory:
        """``memtype system``: the machine's rows, swap, and the reconciliation with the processes."""
        if self.root is not None:
            from memtype.collect.system import system_memory

            return system_memory(self.root, exact=exact, processes=processes, jobs=jobs)
        if exact:
            raise MemtypeError(NOT_RECORDED.format(what="page flags (--exact reads /proc/kpageflags live)"))
        from memtype.model.machine import system_from_meminfo

        s = self.sample()
        return system_from_meminfo(s.host, s.meminfo, _pcp(s), None, None, self.scan() if processes else None)

    def user_names(self) -> set[str] | None:
        """The user names a recorded sample knows (``None``: a Root; it asks the machine)."""
        if self._sample is None:
            return None
        return {n for n in self._sample.users.values() if n}

    def stamped(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A JSON document with ``"recorded"`` (the sample's time) when it comes from a database."""
        return doc if self.stamp is None else {**doc, "recorded": self.stamp.as_dict()}

    def announce(self, fmt: str) -> None:
        """Name the recorded sample: the first line of a table, a note beside CSV (JSON: ``stamped``)."""
        if self.stamp is None:
            return
        if fmt == "table":
            from memtype.cli import output

            output.text(self.stamp.line + "\n")
        elif fmt == "csv":
            notes.note(self.stamp.line)

    def _wall(self) -> float:
        return self.stamp.wall if self.stamp is not None else 0.0


def _pcp(sample: Sample) -> int | None:
    if sample.zoneinfo is None:
        return None
    return sum(z.get("pcp_count") or 0 for z in sample.zoneinfo)  # as derive counts them


@contextmanager
def open_source(args: argparse.Namespace) -> Iterator[Source]:
    """The source ``args`` name: ``--db DB [--at TIME]``, else ``--root`` (default: this machine).

    Raises:
        UsageError: --at without --db, --db with --root.
        MemtypeError: the database cannot be read, or has no sample near TIME (naming its range).
    """
    db, at = getattr(args, "db", None), getattr(args, "at", None)
    if db is None:
        if at is not None:
            raise UsageError("--at needs --db DB (the database of `memtype record` to read)")
        from memtype.source.root import Root

        with Root(args.root) as root:
            yield Source(root)
        return
    if args.root not in (None, "/"):
        raise UsageError("--db and --root name two sources; give one")
    with open_store(db) as store:
        sample_id, wall = nearest(store, at)
        sample = store.sample(sample_id)
        far = None
        if at is not None:
            gap = abs(wall - when.parse_time(at))
            far = gap if gap > 2 * _interval(store.info()) else None
        yield Source(sample=sample, stamp=Stamp(wall, at, db, sample_id, far))


def open_store(path: str) -> Store:
    """The database at ``path``, read-only (never blocks, nor is blocked by, the recorder).

    Raises:
        MemtypeError: no such file; StoreError: not a database memtype reads (one line).
    """
    import os

    from memtype.store import Store  # here, not at module level: `ps` without --db never pays for sqlite3

    if not os.path.exists(path):
        raise MemtypeError(f"no database at {path}")
    return Store.open(path, readonly=True)


def nearest(store: Store, at: str | None) -> tuple[int, float]:
    """``(sample_id, wall)`` of the sample nearest to TIME ``at`` (``None``: the latest).

    Raises:
        MemtypeError: an empty database; TIME outside the recorded range (the range is named).
    """
    info = store.info()
    first, last = info.first_wall, info.last_wall
    if not info.count or first is None or last is None:
        raise MemtypeError(f"{info.path}: no sample recorded yet")
    if at is None:
        times = store.times()
        return times[-1]
    wall = when.parse_time(at)
    slack = _interval(info)
    if wall < first - slack or wall > last + slack:
        raise MemtypeError(f"no sample near {at} ({when.shown(wall)}): the database covers "
                           f"{when.span(first, last)} ({notes.count(info.count, 'sample')})")
    return store.nearest(wall)


def _interval(info: StoreInfo) -> float:
    """How far from the range a TIME may be and still mean its first or last sample: the recorder's
    interval (else the mean gap), at least 1 s."""
    if info.interval is not None:
        return max(1.0, info.interval)
    if info.count < 2 or info.first_wall is None or info.last_wall is None:
        return 60.0
    return max(1.0, (info.last_wall - info.first_wall) / (info.count - 1))
