"""``memtype reclaim [--interval S] [--cgroup PATH] [--damon-refresh]``: who is taking memory back."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import write_csv, write_json

DESCRIPTION = ("Who is taking memory back: each reclaimer (kswapd, direct reclaim with its stalls, khugepaged, "
               "proactive memory.reclaim, and the unattributed rest: they add up to every steal) with what it "
               "took, anon vs file, per second over --interval and since boot; DAMON schemes (action, access "
               "pattern, quotas, watermarks, stats) beside them, as their pages are in no steal counter; swap "
               "traffic, refaults and memory PSI. With --cgroup, the same from that cgroup's memory.stat.")
EXAMPLES: tuple[str, ...] = (
    "memtype reclaim  # who reclaimed in the last second and since boot",
    "memtype reclaim --interval 10 --cgroup /system.slice/nginx.service  # one cgroup's reclaim over 10 s",
    "memtype reclaim --damon-refresh --format json  # with fresh DAMON scheme stats (root: writes to DAMON sysfs)",
)
DEFAULT_INTERVAL = 1.0

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interval", type=types.seconds, default=DEFAULT_INTERVAL, metavar="SECONDS",
                   help=f"seconds between the two reads the rates come from (default {DEFAULT_INTERVAL:g}; a "
                        "capture has one read: since boot only)")
    p.add_argument("--cgroup", metavar="PATH",
                   help="also this memory cgroup's reclaim (path as `memtype cgroups` shows it, from /)")
    p.add_argument("--damon-refresh", action="store_true",
                   help="ask each running kdamond to update its scheme stats first (root; a write of "
                        "update_schemes_stats to its sysfs state file: without it they may be stale)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default), json (one document, schema memtype/2) or csv")
    p.add_argument("--fields", metavar="ID,...", help="CSV columns, by field id (docs/fields.md: reclaim)")
    types.add_width(p)

def run(args: argparse.Namespace) -> int:
    from memtype.collect.reclaimers import reclaim_report
    from memtype.source.root import Root

    with Root(args.root or "/") as root:
        report = reclaim_report(root, interval=args.interval if root.live else None, cgroup=args.cgroup,
                                refresh=args.damon_refresh)
    if args.format == "json":
        from memtype.output.reclaim_table import reclaim_document

        write_json(reclaim_document(report))
    elif args.format == "csv":  # one row since boot, one over the interval
        from memtype.model.fields_activity import RECLAIM

        write_csv(args, RECLAIM, [report.total] + ([report.interval] if report.interval is not None else []))
    else:
        from memtype.output.reclaim_table import render

        output.table(output.console(args), render(report))

    for line in report.notes:
        notes.note(line)
    return 0
