"""``memtype report OUT.html``: one self-contained HTML file (inline SVG, no network) to read or share.

This module gathers what the report shows (``memtype.report.data.ReportInput``) from this machine, a
capture (``--root``) or a database (``--db``, with ``--from``/``--to`` for the history charts) and
writes the file safely (``source/outfile.py``: a new 0600 file renamed onto OUT, no link followed).

What a shared report holds: PIDs, process names (comm), executables' names, users, cgroups, the names
of driver and shared-memory objects. Never a command line or an environment (they are not read at
all). ``--redact`` also drops the host name and user names (uids stay) and hides directories
(``/.../NAME``) of executables, files and objects, as ``history --cut --redact`` does.
"""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, when
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.records import ProcessMemory
    from memtype.model.sample import ProcessKey, Sample
    from memtype.model.shm import ShmAccount
    from memtype.report.data import DeviceMap, FamilyMember, History, ReportInput
    from memtype.source.root import Root
    from memtype.store import Store

DESCRIPTION = ("Write one self-contained HTML file (inline SVG charts, no network, readable without JavaScript): "
               "the machine by kind and what could be reclaimed, top processes and programs, a treemap cgroup › "
               "program › process › kind, fork families, device and shared memory, cgroups, swap; with --db, the "
               "machine and the programs over time.")
EXAMPLES = (
    "memtype report mem.html  # this machine now, to open in a browser or attach to a ticket",
    "memtype report --db /var/lib/memtype/history.db --from 09:00 --to 12:00 morning.html  # the history charts too",
    "memtype report --root snap.tar.gz --redact --svg charts/ snap.html  # a capture, no host or user names; "
    "each chart also as an .svg",
)
HISTORY_POINTS = 240  # samples drawn over the range, evenly spread: a day at 10 s is 8640 samples
DEVICE_PROCESSES = 50  # processes whose driver mappings are listed by name (the largest device PSS)
DEVICE_MIN = 1 << 20  # of device RSS: a process with only [vdso] (8 KiB) is not worth its mappings' cost
SAME_LAYOUT = 0.5  # share of a child's mapping starts found in its parent's: forked, not exec'd (tui.family)
FAMILY_CLASSIFIED = 64  # children per family whose mappings are classified for their copies
FAMILIES = 8  # fork families drawn (the most still shared); the report's sections draw as many


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT.html", help="the file to write (replaced if it is a regular file)")
    p.add_argument("--db", metavar="DB", help="a database of `memtype record`: the history charts, and the "
                   "moment's charts from the sample at --at (default: the last one in the range)")
    p.add_argument("--from", dest="since", type=when.time_arg, metavar="TIME",
                   help=f"with --db: the history from TIME ({when.ACCEPTED}; default: the first sample)")
    p.add_argument("--to", dest="until", type=when.time_arg, metavar="TIME",
                   help="with --db: the history up to TIME (default: the last sample)")
    p.add_argument("--at", type=when.time_arg, metavar="TIME", help="with --db: the moment's charts from the "
                   "sample nearest to TIME")
    p.add_argument("--svg", metavar="DIR", help="also write each chart as its own SVG file into DIR")
    p.add_argument("--redact", action="store_true", help="no host name, no user names, no directories in paths "
                   "(command lines and environments are never in a report)")
    p.add_argument("--files", type=_count, default=20, metavar="N",
                   help="the N most cached files (live only; 0: skip the walk of open files; default 20)")


def _count(text: str) -> int:
    """0 or a positive number."""
    return 0 if text.strip() == "0" else types.positive(text)


def run(args: argparse.Namespace) -> int:
    from memtype.report import render
    from memtype.source.outfile import write_file, write_files

    if args.db is None and (args.since or args.until or args.at):
        raise UsageError("--from, --to and --at need --db DB")
    if args.db is not None and args.root not in (None, "/"):
        raise UsageError("--db and --root name two sources; give one")
    data = _from_db(args) if args.db is not None else _from_root(args)
    report = render(data)
    write_file(args.out, report.html.encode())
    notes.note(f"wrote {args.out} ({len(report.html.encode()) / 1024:.0f} KiB, {len(data.scan.processes)} processes)")
    if args.svg:
        names = write_files(args.svg, {f"{name}.svg": svg.encode() for name, svg in report.svgs.items()})
        notes.note(f"wrote {len(names)} charts into {args.svg}")
    notes.scan_notes(data.scan)
    return 0


def _from_root(args: argparse.Namespace) -> ReportInput:
    from memtype.collect.cgroups import find_hierarchy
    from memtype.collect.sample import read_sample
    from memtype.source.root import Root

    with Root(args.root) as root:
        try:
            hierarchy = find_hierarchy(root)
        except MemtypeError:
            hierarchy = None
        sample = read_sample(root, exe=True, cgroup=True, cgroups=hierarchy or False, jobs=args.jobs, gpu=True)
        if args.redact:
            sample = _redacted(sample)
        model = _derive(sample)
        source = ("this machine, " + when.shown(sample.wall) if root.live and sample.wall else
                  f"capture {args.root}" + (f" of {sample.host.captured_at}" if sample.host.captured_at else ""))
        shm, files = _shm(root, model), _files(root, args.files, args.redact)
        if shm is not None:  # what a kill would free (issue 12: page tables from status, shmem's last holders)
            from memtype.collect.freed import read_freed

            model = model.replace(scan=read_freed(root, model.scan, shm))
    return _input(model, source, args.redact, shm=shm, files=files)


def _derive(sample: Sample, previous: Model | None = None) -> Model:
    from memtype.model import reclaim
    from memtype.model.derive import derive

    model = derive(sample, previous)
    return model.replace(scan=reclaim.annotate(model.scan, model.swap_room))


def _redacted(sample: Sample) -> Sample:
    from memtype.store.cut import redacted

    s = redacted(sample)
    return s.replace(users={})


def _input(model: Model, source: str, redact: bool, **more: object) -> ReportInput:
    from memtype.model.machine import system_from_meminfo
    from memtype.report.data import ReportInput

    s = model.sample
    system = None
    if "MemTotal" in s.meminfo and "MemFree" in s.meminfo:
        pcp = None if s.zoneinfo is None else sum(z.get("pcp_count") or 0 for z in s.zoneinfo)
        system = system_from_meminfo(s.host, s.meminfo, pcp, None, None, model.scan)
    scan = model.scan
    if redact:
        scan = scan.replace(processes=[p.replace(user=None) for p in scan.processes],
                            host=scan.host.replace(hostname=None, root=""))
    full = _Mapped(model)
    (fams, fam_count), devices = _families(model, full), _devices(model, full)
    return ReportInput(scan, source=source, system=system, cgroups=model.cgroups, families=fams,
                       families_found=fam_count, devices=devices,
                       gpu=model.gpu, redacted=redact, **more)  # type: ignore[arg-type]


class _Mapped:
    """Processes with their mappings classified again from the sample's smaps rows (no read), once each."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.done: dict[ProcessKey, ProcessMemory] = {}

    def __call__(self, p: ProcessMemory) -> ProcessMemory:
        from memtype.tui.family import with_mappings  # pure model code (no Textual)

        found = self.done.get(p.key)
        if found is None:
            found = self.done[p.key] = with_mappings(self.model, p.key) or p
        return found


def _families(model: Model, full: _Mapped) -> tuple[list[list[FamilyMember]], int]:
    """Fork families sharing copy-on-write anon memory, the most still shared first; each member's copied and
    own anonymous memory (``model.find_process.inherited_copies``, against its parent's mappings).

    A family is as in ``tui.family``: a child whose mappings mostly start where its parent's do was
    forked without exec (exec and ASLR move them); its root is the highest such ancestor. Only children
    with anon copy-on-write (cow less its unwritten-file part) are candidates, and only the families
    drawn have their members' mappings classified (the copies need them; at most FAMILY_CLASSIFIED each,
    the children with the most anonymous memory, which holds the copies)."""
    from memtype.kinds import Kind
    from memtype.model.find_process import inherited_copies
    from memtype.report.data import FamilyMember

    procs = {p.pid: p for p in model.scan.processes}
    starts: dict[int, frozenset[int]] = {}

    def layout(p: ProcessMemory) -> frozenset[int]:
        if p.pid not in starts:
            ps = model.sample.processes.get(p.key)
            rows = ps.smaps if ps is not None else None
            starts[p.pid] = frozenset(rows.numbers[0::rows.width]) if rows is not None else frozenset()
        return starts[p.pid]

    def forked(child: ProcessMemory) -> bool:
        parent = procs.get(child.ppid or -1)
        if parent is None or parent.pid == child.pid:
            return False
        mine = layout(child)
        return bool(mine) and len(mine & layout(parent)) >= SAME_LAYOUT * len(mine)

    def cow_anon(p: ProcessMemory) -> int:
        return p.categories[Kind.COW].rss - p.totals.cow_file

    children: dict[int, list[ProcessMemory]] = {}
    roots: set[int] = set()
    for p in model.scan.processes:
        if cow_anon(p) > 0 and p.ppid in procs and forked(p):
            root = procs[p.ppid or -1]
            while forked(root):
                root = procs[root.ppid or -1]
            roots.add(root.pid)
    for p in model.scan.processes:
        if p.ppid is not None and p.ppid != p.pid:
            children.setdefault(p.ppid, []).append(p)

    def members(p: ProcessMemory, depth: int, out: list[tuple[ProcessMemory, int]]) -> None:
        out.append((p, depth))
        for c in sorted(children.get(p.pid, ()), key=lambda c: c.pid):
            if forked(c):
                members(c, depth + 1, out)

    found = []
    for pid in roots:
        fam: list[tuple[ProcessMemory, int]] = []
        members(procs[pid], 0, fam)
        if len(fam) >= 2:
            found.append(fam)
    found.sort(key=lambda f: (-max(p.categories[Kind.COW].rss for p, _ in f), f[0][0].pid))
    out = []
    for fam in found[:FAMILIES]:
        by_pid = {p.pid: p for p, _ in fam}
        measured = {p.pid for p, _ in sorted(fam[1:], key=lambda m: -m[0].categories[Kind.ANONYMOUS].rss)
                    [:FAMILY_CLASSIFIED]}
        drawn = []
        for p, depth in fam:
            copied = own = None
            if not depth:
                own = p.categories[Kind.ANONYMOUS].rss
            elif p.pid in measured and p.ppid in by_pid:
                me, parent = full(p), full(by_pid[p.ppid or -1])
                if me.mappings is not None and parent.mappings is not None:
                    copied, own = inherited_copies(me, parent)
            drawn.append(FamilyMember(p, depth, p.categories[Kind.COW].rss, copied, own))
        out.append(drawn)
    return out, len(found)


def _devices(model: Model, mapped: _Mapped) -> list[DeviceMap]:
    """Driver memory by mapped name, over the processes with the most device PSS (beyond the [vdso] page
    every process maps)."""
    from memtype.kinds import Kind
    from memtype.report.data import DeviceMap

    ranked = sorted((p for p in model.scan.processes if p.categories[Kind.DEVICE].rss >= DEVICE_MIN),
                    key=lambda p: -p.categories[Kind.DEVICE].pss)[:DEVICE_PROCESSES]
    found: dict[str, DeviceMap] = {}
    for p in ranked:
        for m in mapped(p).mappings or []:
            dev = m.categories[Kind.DEVICE]
            if not dev.rss and not m.totals.device_mapped:
                continue
            d = found.setdefault(m.path or "[anonymous]", DeviceMap(m.path or "[anonymous]", 0, 0, 0, []))
            d.rss += dev.rss
            d.pss += dev.pss
            d.size += m.end - m.start
            if p.pid not in d.pids:
                d.pids.append(p.pid)
    return sorted(found.values(), key=lambda d: (-d.rss, -d.size, d.path))


def _shm(root: Root, model: Model) -> ShmAccount | None:
    try:
        from memtype.collect.shm import read_shm
    except ImportError:  # an older memtype without issue 12's shared-memory reader
        return None
    try:
        return read_shm(root)
    except MemtypeError as exc:
        notes.note(f"shared-memory objects not read: {exc}")
        return None


def _files(root: Root, top: int, redact: bool) -> list[tuple[str, int]] | None:
    if not top or not root.live:
        return None
    from memtype.collect.cached_files import cached_files
    from memtype.source.redact import redact_path

    try:
        cache = cached_files(root, top)
    except MemtypeError as exc:
        notes.note(f"the page cache's files not read: {exc}")
        return None
    out = []
    for f in cache.files:
        if f.cached is None:
            continue
        path = redact_path(f.path.encode()).decode() if redact else f.path
        out.append((path, f.cached))
    return out


def _from_db(args: argparse.Namespace) -> ReportInput:
    from memtype.cli.source import open_store

    with open_store(args.db) as store:
        times = store.times()
        if not times:
            raise MemtypeError(f"{args.db} holds no sample yet")
        lo = when.parse_time(args.since) if args.since else times[0][1]
        hi = when.parse_time(args.until) if args.until else times[-1][1]
        if lo > hi:
            raise UsageError(f"--from ({when.shown(lo)}) is after --to ({when.shown(hi)})")
        chosen = [(sid, wall) for sid, wall in times if lo <= wall <= hi]
        if not chosen:
            raise MemtypeError(f"no sample from {when.shown(lo)} to {when.shown(hi)}: the database covers "
                               + when.span(times[0][1], times[-1][1]))
        history = _history(store, args.db, chosen, args.redact)
        if args.at:
            at = when.parse_time(args.at)
            sid, wall = min(times, key=lambda t: abs(t[1] - at))
        else:
            sid, wall = chosen[-1]
        sample = store.sample(sid)
    if args.redact:
        sample = _redacted(sample)
    model = _derive(sample)
    return _input(model, f"database {args.db}, sample of {when.shown(wall)}", args.redact, history=history)


def _history(store: Store, db: str, chosen: list[tuple[int, float]], redact: bool) -> History:
    """At most HISTORY_POINTS samples of ``chosen``, evenly spread, each reduced to a HistoryPoint as it is
    read (one Sample and one Model in memory at a time)."""
    from memtype.model.group import group_processes
    from memtype.model.machine import split_machine
    from memtype.kinds import KINDS
    from memtype.report.data import History, HistoryPoint

    step = max(1, -(-len(chosen) // HISTORY_POINTS))
    picked = chosen[::step]
    if picked[-1] != chosen[-1]:
        picked.append(chosen[-1])
    points = []
    previous: Model | None = None
    for sid, wall in picked:
        s = store.sample(sid)
        if redact:
            s = _redacted(s)
        model = _derive(s, previous)
        previous = model
        rows: dict[str, int | None] = {}
        swap_used = None
        if "MemTotal" in s.meminfo and "MemFree" in s.meminfo:
            pcp = None if s.zoneinfo is None else sum(z.get("pcp_count") or 0 for z in s.zoneinfo)
            mm = split_machine(s.meminfo, s.host.page_size, per_cpu_pages=pcp)
            rows = {r.id: r.bytes for r in mm.rows}
            swap_used = mm.swap_used
        programs = {g.key: tuple(g.categories[k].pss for k in KINDS) for g in
                    group_processes(model.scan.processes, lambda p: p.program)}
        points.append(HistoryPoint(s.wall or wall, rows, swap_used, programs))
    return History(db, points, len(chosen), chosen[0][1], chosen[-1][1])
