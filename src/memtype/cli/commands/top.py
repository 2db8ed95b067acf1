"""``memtype top``: the live full-screen view (``memtype.tui``), fed by a sampler on this machine, by
one Sample of a capture (``--root``: a static view, no ticking), or by the samples of a database
(``--replay DB``: step, play, jump; ``tui.replay``)."""

from __future__ import annotations

import argparse
import sys

from memtype.cli import args as types, notes, when
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from collections.abc import Callable

    from memtype.model.cgroups import CgroupTree
    from memtype.model.derive import Model
    from memtype.source.root import Root
    from memtype.tui.feed import Feed

DESCRIPTION = ("A live full-screen view: the machine by kind, swap, memory pressure and reclaim, and every "
               "process's PSS by kind with its change each tick; sort, filter, group, a PSS-correct tree, a "
               "process's mappings and fork family, the cgroups. Needs a terminal (for a table: memtype ps).")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype top                            # live: the machine by kind and every process, each tick',
    'memtype top --interval 2               # a tick every 2 seconds',
    'memtype top --replay /var/lib/memtype/memtype.db --at "1h ago"   # replay a recorded history',
)
# CPU seconds of smaps reading in the first tick (later ticks: the sampler's default budget). New processes
# are read the most resident first (collect/refresh.plan), so the first frame has the top of the table
# split by kind, about 130 processes of 1000, and comes within 1 s; the rest are marked pending until read.
# Measured at 1000 processes (bench_top.py, first frame with data): 0.2 s 0.83-0.90 s, 0.1 s 0.71-0.74 s.
FIRST_BUDGET = 0.1
NOT_A_TERMINAL = "memtype top needs a terminal, and standard output is not one; for a table use `memtype ps`"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=types.seconds, default=None, metavar="SECONDS",
                   help="seconds between samples (default 2; 0.1 to 3600); with --replay, between played samples "
                   "(default 1)")
    p.add_argument("--replay", metavar="DB", help="play back a database of `memtype record` (keys: left/right a "
                   "sample back/on, p play/pause, j jump to a time)")
    p.add_argument("--at", type=when.time_arg, metavar="TIME", help="with --replay: start at the sample nearest "
                   "to TIME (default: the first)")


def run(args: argparse.Namespace) -> int:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise MemtypeError(NOT_A_TERMINAL)
    import importlib.util

    if importlib.util.find_spec("textual") is None:
        raise MemtypeError("memtype top needs Textual (textual is missing): pip install 'memtype[tui]'")
    from memtype.source.root import Root

    if args.at is not None and args.replay is None:
        raise UsageError("--at goes with --replay DB")
    if args.replay is not None and args.root not in (None, "/"):
        raise UsageError("--replay and --root name two sources; give one")
    with Root(args.root) as root:
        # its first tick starts now, in a thread
        feed = (replay_feed(args.replay, args.at, args.interval or 1.0) if args.replay is not None
                else make_feed(root, args.interval or 2.0, args.jobs))
        # Textual only here: `memtype ps` never pays for it (start-up is benchmarked); its import (~0.3 s)
        # runs while the first tick reads the machine.
        from memtype.tui.app import TopApp

        app = TopApp(feed)
        app.run()
    if app.failure is not None:  # the terminal is restored by now
        if args.debug:
            import traceback

            traceback.print_exception(app.failure)
            return 3
        if isinstance(app.failure, MemtypeError):
            raise app.failure
        print(f"memtype: internal error: {type(app.failure).__name__}: {app.failure} (run with --debug for details)",
              file=sys.stderr)
        return 3
    if app.model is not None:
        notes.scan_notes(app.model.scan)
    return app.return_code or 0  # 143 after SIGTERM, 129 after SIGHUP (the app left as on `q`)


def make_feed(root: Root, interval: float, jobs: int | None) -> Feed:
    """A Feed over ``root``: a sampler ticking every ``interval`` live, one Sample of a capture (``jobs``:
    its reader threads; the sampler reads in one thread, within its CPU budget)."""
    from memtype.collect.sample import read_sample
    from memtype.model.derive import derive
    from memtype.tui.feed import Feed

    if not root.live:
        first = ahead(lambda: derive(read_sample(root, exe=True, cgroup=True, cgroups=True, jobs=jobs, gpu=True)))
        models: list[Model] = []

        def same() -> Model:  # one Sample: every tick is the first
            if not models:
                models.append(first())
            return models[0]

        return Feed(same, interval=None, live=False, cgroups=_cgroups(root), notes=tui_notes)
    from memtype.collect.sampler import Sampler

    sampler = Sampler(root, interval=interval, first_budget=FIRST_BUDGET, exe=True, cgroup=True, gpu=True)
    return Feed(ahead(sampler.tick), interval=interval, live=True, cgroups=_cgroups(root), notes=tui_notes,
                freshness=sampler.freshness)


def replay_feed(db: str, at: str | None, interval: float) -> Feed:
    """A Feed over the samples of a database, paused at the sample nearest to ``at`` (default: the first).
    Each sample is loaded through a store opened for that read: the app's ticks run in worker threads,
    and an SQLite connection belongs to the thread that made it."""
    import os

    from memtype.cli.source import nearest, open_store
    from memtype.model.sample import Sample
    from memtype.tui.feed import Feed
    from memtype.tui.replay import Replay

    with open_store(db) as store:
        times = store.times()
        if not times:
            raise MemtypeError(f"{db}: no sample recorded yet")
        start = times.index(nearest(store, at)) if at is not None else 0

    def load(sample_id: int) -> Sample:
        with open_store(db) as st:
            return st.sample(sample_id)

    replay = Replay(times, load, name=os.path.basename(db), parse_time=when.parse_time, start=start)
    shown: list[CgroupTree] = []

    def cgroups(model: Model) -> CgroupTree:  # as recorded (Sample.cgroups); a sample without: the last tree
        if model.cgroups is not None:
            shown[:] = [model.cgroups]
        if not shown:
            raise MemtypeError("this sample recorded no memory cgroups")
        return shown[0]

    recorded = load(times[start][0]).cgroups is not None
    return Feed(ahead(replay.tick), interval=interval, live=False, notes=tui_notes, replay=replay,
                cgroups=cgroups if recorded else None)


def ahead(tick: Callable[[], Model]) -> Callable[[], Model]:
    """``tick``, whose first call starts now in a thread (the app is not up yet): the first frame comes
    sooner. Later calls run ``tick`` as they come; an error of the first is raised by the first call."""
    import threading

    box: list[Model | BaseException] = []

    def first() -> None:
        try:
            box.append(tick())
        except BaseException as exc:  # handed to the caller of the first tick
            box.append(exc)

    worker = threading.Thread(target=first, name="memtype-first-tick", daemon=True)
    worker.start()

    def next_tick() -> Model:
        if worker.is_alive() or box:
            worker.join()
            got = box.pop()
            if isinstance(got, BaseException):
                raise got
            return got
        return tick()

    return next_tick


def _cgroups(root: Root) -> Callable[[Model], CgroupTree] | None:
    """The cgroups with a Model's processes summed in; ``None`` where the root has no memory hierarchy.

    A Model whose sample holds the cgroups (a capture, read with them; a sampler with ``cgroups=True``)
    has them derived (``Model.cgroups``); else they are read when the view asks, in the same steps
    (``read_cgroups_sample``, ``model.cgroup_tree``), so the sampler does not pay for them every tick."""
    from memtype.collect.cgroups import CgroupFiles, find_hierarchy, read_cgroups_sample
    from memtype.model.cgroup_tree import attach_members, cgroup_tree

    try:
        files = CgroupFiles(root, find_hierarchy(root))
    except MemtypeError:
        return None

    def read(model: Model) -> CgroupTree:
        if model.cgroups is not None:
            return model.cgroups
        tree = cgroup_tree(read_cgroups_sample(root, files=files), model.swap_room)
        # read after the model: a listed PID the model lacks may be new since, not gone (root.pids())
        attach_members(tree, model.scan.processes, model.scan.skipped, set(root.pids()), root.live)
        return tree

    return read


def tui_notes(model: Model) -> list[str]:
    """The notes ``memtype ps`` would print about this Model (what could not be read)."""
    scan = model.scan
    counts = scan.skip_counts()
    pending = counts.pop("not sampled", 0)
    lines = notes.skip_lines(counts, live=scan.host.live,
                             denied_pids=[s.pid for s in scan.skipped if s.reason == "denied"])
    if pending:
        lines.append(f"{notes.count(pending)} not read yet (their smaps comes within a few ticks)")
    return lines
