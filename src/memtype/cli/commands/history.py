"""``memtype history DB``: what a database of ``memtype record`` holds, and the machine over time;
``--export FROM TO`` dumps a range (JSON, CSV, or OpenMetrics for a Prometheus backfill); ``--cut FROM TO
OUT.db`` writes a smaller database to share."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output, when
from memtype.cli.source import open_store
from memtype.errors import MemtypeError, UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.store import Store, StoreInfo
    from memtype.model.machine import SystemMemory
    from memtype.model.sample import Sample

DESCRIPTION = ("What a database of `memtype record` holds: its time range, samples, size on disk, and the machine "
               "by kind over time (one row per stretch of time, each the sample in its middle). --export FROM TO "
               "dumps every sample's machine figures (json, csv, or openmetrics for `promtool tsdb "
               "create-blocks-from openmetrics`); --cut FROM TO OUT.db writes a smaller database to share.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype history /var/lib/memtype/memtype.db   # time range, samples, size, the machine over time',
    'memtype history m.db --export "1h ago" now --format openmetrics   # every sample of the last hour',
    'memtype history m.db --cut "10:00" "11:00" /tmp/incident.db --redact   # a range to share',
)
DEFAULT_ROWS = 12
COLUMNS = ("anonymous", "shared", "file", "swap_cache", "kernel", "hugetlb", "free", "unaccounted")
SHORT = {"anonymous": "anon", "swap_cache": "swcache", "hugetlb": "huge", "unaccounted": "other"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("db", metavar="DB", help="the database")
    p.add_argument("--rows", type=types.positive, default=DEFAULT_ROWS, metavar="N",
                   help=f"rows of the table over time (default {DEFAULT_ROWS})")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--export", nargs=2, metavar=("FROM", "TO"), help="every sample from FROM to TO (TIME: "
                      f"{when.ACCEPTED})")
    what.add_argument("--cut", nargs=3, metavar=("FROM", "TO", "OUT"), help="write the samples from FROM to TO "
                      "to a new database OUT")
    p.add_argument("--redact", action="store_true", help="with --cut: as snapshot --redact, executables keep "
                   "their names and mapped files' directories are hidden (/.../NAME); the host name is dropped "
                   "(command lines and environments are never recorded; process and user names stay)")
    p.add_argument("--format", choices=("table", "json", "csv", "openmetrics"), default="table",
                   help="table (default), json, csv; openmetrics with --export")
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    if args.redact and not args.cut:
        raise UsageError("--redact goes with --cut FROM TO OUT")
    if args.format == "openmetrics" and not args.export:
        raise UsageError("--format openmetrics goes with --export FROM TO")
    if args.export and args.format == "table":
        raise UsageError("--export writes json, csv or openmetrics: give --format")
    walls = [_time(t) for t in (args.export or args.cut or [])[:2]]
    if len(walls) == 2 and walls[0] > walls[1]:
        raise UsageError(f"FROM ({when.shown(walls[0])}) is after TO ({when.shown(walls[1])})")
    with open_store(args.db) as store:
        info = store.info()
        if args.cut:
            return _cut(args, store, walls)
        if args.export:
            return _export(args, store, walls)
        return _summary(args, store, info)


def _time(text: str) -> float:
    try:
        return when.parse_time(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def system_point(sample: Sample) -> SystemMemory:
    """``memtype system``'s record of a recorded sample, from its meminfo (cow's file part needs the
    processes' PSS: unknown here, in file)."""
    from memtype.model.machine import system_from_meminfo

    pcp = None if sample.zoneinfo is None else sum(z.get("pcp_count") or 0 for z in sample.zoneinfo)
    return system_from_meminfo(sample.host, sample.meminfo, pcp, None)


def _points(store: Store, ids: list[tuple[int, float]]) -> list[tuple[float, SystemMemory, Sample]]:
    out = []
    for sample_id, wall in ids:
        s = store.sample(sample_id)
        if "MemTotal" in s.meminfo and "MemFree" in s.meminfo:
            out.append((wall, system_point(s), s))
    return out


def buckets(times: list[tuple[int, float]], rows: int) -> list[tuple[int, float]]:
    """At most ``rows`` samples, one per equal stretch of the range: the sample in its middle."""
    if len(times) <= rows:
        return times
    first, last = times[0][1], times[-1][1]
    step = (last - first) / rows
    picked: list[tuple[int, float]] = []
    j = 0
    for i in range(rows):
        mid = first + step * (i + 0.5)
        while j + 1 < len(times) and abs(times[j + 1][1] - mid) <= abs(times[j][1] - mid):
            j += 1
        if not picked or picked[-1][0] != times[j][0]:
            picked.append(times[j])
    return picked


def _summary(args: argparse.Namespace, store: Store, info: StoreInfo) -> int:
    times = store.times()
    if not times:
        raise MemtypeError(f"{args.db}: no sample recorded yet")
    points = _points(store, buckets(times, args.rows))
    first, last = times[0][1], times[-1][1]
    head = {"db": args.db, "first": first, "last": last, "samples": len(times), "size_bytes": info.size_bytes,
            "schema_version": info.schema_version, "interval": info.interval,
            "mean_gap": None if len(times) < 2 else (last - first) / (len(times) - 1)}
    if args.format == "json":
        from memtype.cli.formats import write_json

        write_json({"schema": "memtype-history/1", **head, "rows": [_record(w, sm, s) for w, sm, s in points]})
    elif args.format == "csv":
        output.text(_csv([_record(w, sm, s) for w, sm, s in points]))
    else:
        _table(args, head, points)
    return 0


def _record(wall: float, sm: SystemMemory, s: Sample) -> dict[str, Any]:
    """One row over time: when, the machine's rows (``memtype system``'s ids), swap used, available, PSI."""
    from memtype.model.fields_machine import SYSTEM
    from memtype.output.json import record

    some = (s.pressure or {}).get("some", {})
    return {"wall": wall, "time": when.shown(wall), "processes": len(s.processes), **record(SYSTEM, sm),
            "psi_some_avg10": some.get("avg10")}


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            elif not isinstance(v, list):
                out[prefix + k] = v
        return out

    flats = [flat(r) for r in rows]
    buf = io.StringIO()
    if flats:
        w = csv.DictWriter(buf, fieldnames=list(flats[0]), lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r in flats:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def _table(args: argparse.Namespace, head: dict[str, Any], points: list[tuple[float, SystemMemory, Sample]]) -> None:
    from rich.console import Group
    from rich.text import Text

    from memtype.output.human import UNITS_NOTE, size
    from memtype.output.table import SIZE_WIDTH, Column, layout, render_columns

    first, last = head["first"], head["last"]
    lines = [f"{args.db}: {notes.count(head['samples'], 'sample')} from {when.span(first, last)} "
             f"({when.duration(last - first)}"
             + (f", one every {head['mean_gap']:.3g} s" if head["mean_gap"] else "")
             + (f"; recorded every {head['interval']:g} s" if head["interval"] else "") + "), "
             f"{size(head['size_bytes'])} on disk"
             + (f" ({size(head['size_bytes'] // head['samples'])} per sample)" if head["samples"] else "")]
    one_day = when.shown(first)[:10] == when.shown(last)[:10]
    cols = [Column("time", [when.shown(w, date=not one_day) for w, _, _ in points], right=False),
            Column("procs", [str(len(s.processes)) for _, _, s in points], right=True, drop=2)]
    for c in COLUMNS:
        cols.append(Column(SHORT.get(c, c), [size(sm.machine.row(c)) for _, sm, _ in points], right=True,
                           least=SIZE_WIDTH, drop=1 if c in ("hugetlb", "swap_cache") else 0))
    cols.append(Column("swap", [size(sm.swap.get("used")) for _, sm, _ in points], right=True, least=SIZE_WIDTH))
    cols.append(Column("avail", [size(sm.available) for _, sm, _ in points], right=True, least=SIZE_WIDTH, drop=1))
    out = output.console(args)
    kept, dropped, full = layout(cols, out.width)
    table = render_columns(kept, title=f"the machine by kind over time: {len(points)} rows, each the sample in the "
                           "middle of its stretch (--export: every sample)")
    legend = (UNITS_NOTE + " Rows as `memtype system` (meminfo; other = unaccounted); cow's file part needs the "
              "processes' PSS, so file holds it. swap: used.")
    if dropped:
        legend += f" Not shown for want of room: {', '.join(dropped)} ({full}+ columns)."
    output.table(out, Group(*(Text(x) for x in lines), table, Text(legend, style="dim")))


def _overlap(store: Store, walls: list[float]) -> None:
    """FROM-TO must overlap the record; else one line naming the range it covers."""
    info = store.info()
    first, last = info.first_wall, info.last_wall
    if first is None or last is None or walls[1] < first or walls[0] > last:
        raise MemtypeError(f"no sample from {when.shown(walls[0])} to {when.shown(walls[1])}: the database covers "
                           + (when.span(first, last) if first is not None and last is not None else "nothing yet"))


def _export(args: argparse.Namespace, store: Store, walls: list[float]) -> int:
    _overlap(store, walls)
    points: list[tuple[float, SystemMemory, Sample]] = []
    rows: list[dict[str, Any]] = []
    for s in store.between(walls[0], walls[1]):  # streaming: only each sample's machine figures are kept
        if s.wall is None or "MemTotal" not in s.meminfo or "MemFree" not in s.meminfo:
            continue
        sm = system_point(s)
        if args.format == "openmetrics":
            points.append((s.wall, sm, _bare(s)))
        else:
            rows.append(_record(s.wall, sm, s))
    if args.format == "openmetrics":
        from memtype.model.fields_machine import SYSTEM
        from memtype.output.openmetrics import document

        output.text("\n".join(document(SYSTEM, [(w, sm) for w, sm, _ in points])) + "\n")
    elif args.format == "json":
        from memtype.cli.formats import write_json

        write_json({"schema": "memtype-history/1", "db": args.db, "from": walls[0], "to": walls[1], "rows": rows})
    else:
        output.text(_csv(rows))
    return 0


def _bare(s: Sample) -> Sample:
    """The sample without its processes: what an export keeps of it (memory stays flat over a day)."""
    return s.replace(processes={}, users={})


def _cut(args: argparse.Namespace, store: Store, walls: list[float]) -> int:
    import os

    out = args.cut[2]
    if os.path.lexists(out):
        raise MemtypeError(f"{out} exists; --cut writes a new database")
    _overlap(store, walls)
    written = store.cut(out, walls[0], walls[1], redact=args.redact)
    n = written if isinstance(written, int) else None
    what = f"{notes.count(n, 'sample')}" if n is not None else "the samples"
    notes.note(f"wrote {what} from {when.span(walls[0], walls[1])} to {out}"
               + (" (redacted: executables and mapped files by name only, no host name; process and user names kept)"
                  if args.redact else ""))
    return 0
