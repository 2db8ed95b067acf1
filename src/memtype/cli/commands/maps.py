"""``memtype maps PID``: one row per mapping (pmap -X style) split by kind; ``--group path`` sums
them by file, and ``--all`` does so across every process (librank)."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.rows import GROUP_KEYS, check_sort, scanner, sort_rows
from memtype.errors import MemtypeError, UsageError
from memtype.kinds import KINDS
from memtype.model.group import group_mappings, mapping_key
from memtype.output import formats
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import Mapping, Scan

DESCRIPTION = ("Mappings of PID with their kind; --group path sums them by file; --all covers every process "
               "(which library or file costs how much).")
FIELDS = ["size", "rss", "pss", "swap"] + [f"{k.value}.rss" for k in KINDS]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=types.pid, nargs="?", help="the process")
    p.add_argument("--all", action="store_true", help="every process (use with --group path)")
    p.add_argument("--group", choices=("mapping", "path"), default="mapping")
    p.add_argument("--sort", default=None, metavar="COLUMN", help="sort by this column, descending")
    p.add_argument("--top", type=types.positive, metavar="N", help="only the first N rows")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--exact", action="store_true", help="classify every page (pagemap + kpageflags; root)")
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    if args.all == (args.pid is not None):
        raise UsageError("give a PID, or --all (with --group path) for every process")
    if args.all and args.group != "path":
        raise UsageError("--all needs --group path (one row per file across all processes)")
    if args.sort:
        check_sort(args.sort, GROUP_KEYS if args.group == "path" else {})
    with Root(args.root) as root:
        result = scanner(args)(root, None if args.all else [args.pid], mappings=True, jobs=args.jobs)
    if not result.processes and not args.all:
        raise MemtypeError(f"cannot read the mappings of PID {args.pid}: {_why(result)}")
    if args.group == "path":
        _by_path(args, result)
    else:
        _mappings(args, result)
    notes.scan_notes(result)
    return 0


def _why(result: Scan) -> str:
    from memtype.model.records import SKIP_REASONS

    if not result.skipped:
        return "it has no user memory"
    s = result.skipped[0]
    if s.reason == "denied":
        import os

        if result.host.live and os.geteuid() == 0:
            return notes.ROOT_REFUSED
        return f"{SKIP_REASONS['denied']}; run as root"
    return SKIP_REASONS.get(s.reason, s.reason)


def _by_path(args: argparse.Namespace, result: Scan) -> None:
    groups = sort_rows(group_mappings(result.processes), args.sort or "pss", GROUP_KEYS)[: args.top]
    if args.format == "json":
        output.text(formats.document(result, group_by="path",
                                     groups=[formats.group_dict(g, "path") for g in groups]) + "\n")
    elif args.format == "csv":
        output.text(formats.csv_text(groups, [("path", lambda g: g.key), ("mappings", lambda g: g.count),
                                              ("processes", lambda g: len(set(g.pids)))], FIELDS + ["pss", "uss"]))
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        keys = [Key("Procs", lambda g: str(len(set(g.pids))), right=True)]
        path = [Key("Mapping", lambda g: g.key, shrink=20, path=True)]
        what = "all processes" if args.all else f"PID {args.pid} ({result.processes[0].comm})"
        out = output.console(args)
        output.table(out, rows_table(groups, keys, FIELDS[1:], drop={"swap": 1}, trailing=path, width=out.width,
                                     totals="sum" if args.all else "total",
                                     title=f"{len(groups)} files and regions of {what}, sorted by "
                                           f"{args.sort or 'pss'}"))


def _mappings(args: argparse.Namespace, result: Scan) -> None:
    proc = result.processes[0]
    ms: list[Mapping] = list(proc.mappings or [])
    if args.sort:
        ms = sort_rows(ms, args.sort, {})
    ms = ms[: args.top]
    if args.format == "json":
        output.text(formats.document(result, process=formats.process_dict(proc),
                                     mappings=[formats.mapping_dict(m) for m in ms]) + "\n")
    elif args.format == "csv":
        output.text(formats.csv_text(ms, [("start", lambda m: f"{m.start:x}"), ("perms", lambda m: m.perms),
                                          ("class", lambda m: m.mapclass), ("path", lambda m: m.path)],
                                     FIELDS + ["pss", "uss", "swap_pss", "device_mapped"]))
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        keys = [Key("Address", lambda m: f"{m.start:012x}", drop=3), Key("Perm", lambda m: m.perms, drop=1),
                Key("Class", lambda m: m.mapclass, drop=2)]
        path = [Key("Mapping", lambda m: mapping_key(m), shrink=24, path=True)]
        out = output.console(args)
        output.table(out, rows_table(ms, keys, FIELDS, drop={"size": 5, "swap": 4}, trailing=path, width=out.width,
                                     totals="total", title=f"PID {proc.pid} ({proc.comm}): {len(ms)} mappings"))
