"""``memtype ps``: one row per process (or program, user, memory cgroup), split by kind."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from memtype.cli import args as types, notes, output
from memtype.cli.rows import GROUP_KEYS, PROCESS_KEYS, check_sort, check_user, filter_processes, scanner, sort_rows
from memtype.cli.rows import user_label
from memtype.collect.swapinfo import swap_room
from memtype.kinds import KINDS
from memtype.model import reclaim
from memtype.output import formats
from memtype.output.fields import FIELDS
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import ProcessMemory, Scan

DESCRIPTION = "One row per process: RSS, PSS, USS, swap and resident bytes (RSS) per kind."
TABLE_FIELDS = ["rss", "pss", "uss", "swap"] + [f"{k.value}.rss" for k in KINDS]
GROUPS = ("process", "program", "user", "cgroup")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=types.pid, action="append", metavar="PID", help="only this PID (repeatable)")
    p.add_argument("--user", metavar="USER", help="only processes of this user (name or uid)")
    p.add_argument("--name", metavar="REGEX", help="only processes whose name or program matches")
    p.add_argument("--sort", default="pss", metavar="COLUMN", help="column to sort by, descending "
                   "(pid, name, user, rss, pss, uss, swap, anonymous, shared, cow, file, device; default pss)")
    p.add_argument("--top", type=types.positive, metavar="N", help="only the first N rows")
    p.add_argument("--group", choices=GROUPS, default="process",
                   help="one row per process (default), per program (same executable, like ps_mem), per user, "
                   "or per memory cgroup (container)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--cmdline", action="store_true", help="include command lines (JSON/CSV; sensitive)")
    p.add_argument("--exact", action="store_true", help="classify every page (pagemap + kpageflags; root)")
    p.add_argument("--cgroup", action="store_true",
                   help="show each process's memory cgroup (a column, and \"cgroup\" in JSON/CSV); reading "
                   "/proc/PID/cgroup costs about 15%% more time, so it is not read by default")
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    check_sort(args.sort, PROCESS_KEYS if args.group == "process" else GROUP_KEYS)
    with Root(args.root) as root:
        result = scanner(args)(root, args.pid, exe=args.group == "program" or bool(args.name),
                               cmdline=args.cmdline, jobs=args.jobs, cgroup=args.group == "cgroup" or args.cgroup)
        reclaim.annotate(result, swap_room(root))
        check_user(root, args.user, result.processes)
    procs = filter_processes(result.processes, args.user, args.name)
    if args.group == "process":
        _processes(args, result, procs)
    else:
        _groups(args, result, procs)
    notes.scan_notes(result)
    _kernel_threads(args.pid, result)
    return 0


def _processes(args: argparse.Namespace, result: Scan, procs: list[ProcessMemory]) -> None:
    rows: Sequence[Any] = sort_rows(procs, args.sort, PROCESS_KEYS)[: args.top]
    if args.format == "json":
        output.text(formats.document(result, processes=[formats.process_dict(p, cmdline=args.cmdline)
                                                        for p in rows]) + "\n")
    elif args.format == "csv":
        keys: list[tuple[str, Callable[[Any], Any]]] = [
            ("pid", lambda p: p.pid), ("comm", lambda p: p.comm), ("user", lambda p: p.user)]
        if args.cmdline:
            keys.append(("cmdline", lambda p: " ".join(p.cmdline or [])))
        output.text(formats.csv_text(rows, keys, ["pss", "uss", "rss", "swap", "swap_pss", "hugetlb",
                                                  "device_mapped"] + [f.id for f in FIELDS.values() if "." in f.id]))
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        columns = [Key("PID", lambda p: str(p.pid), right=True),
                   Key("User", lambda p: p.user or str(p.uid), drop=3, shrink=6),
                   Key("Name", lambda p: p.comm, shrink=15)]
        # The memory cgroup's readable name, last: it gets the room left (cut in the middle).
        cgroup = [Key("Cgroup", lambda p: _cgroup_label(p.cgroup) if p.cgroup else "", drop=1, shrink=12,
                      path=True)] \
            if any(p.cgroup for p in rows) else []
        out = output.console(args)
        output.table(out, rows_table(rows, columns, TABLE_FIELDS, drop={"uss": 2}, trailing=cgroup, width=out.width,
                                     label=2, title=f"{len(rows)} of {len(procs)} processes, sorted by {args.sort}"))


def _groups(args: argparse.Namespace, result: Scan, procs: list[ProcessMemory]) -> None:
    from memtype.model.group import group_processes

    by = args.group
    key: Callable[[ProcessMemory], str] = {"program": lambda p: p.program, "user": user_label,
                                           "cgroup": lambda p: _cgroup_label(p.cgroup)}[by]
    groups = sort_rows(group_processes(procs, key), args.sort, GROUP_KEYS)[: args.top]
    if args.format == "json":
        output.text(formats.document(result, group_by=by, groups=[formats.group_dict(g, by) for g in groups]) + "\n")
    elif args.format == "csv":
        output.text(formats.csv_text(groups, [(by, lambda g: g.key), ("processes", lambda g: g.count)],
                                     ["pss", "uss", "rss", "swap", "swap_pss"] +
                                     [f.id for f in FIELDS.values() if "." in f.id]))
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        columns = [Key(by.capitalize(), lambda g: g.key, shrink=8, path=by == "cgroup"),
                   Key("Procs", lambda g: str(g.count), right=True)]
        out = output.console(args)
        output.table(out, rows_table(groups, columns, TABLE_FIELDS, drop={"uss": 1}, width=out.width, label=0,
                                     title=f"{len(groups)} {by}s, sorted by {args.sort}"))


def _cgroup_label(path: str | None) -> str:
    if not path:
        return "?"
    from memtype.model.cgroups import cgroup_label  # only with --cgroup or --group cgroup

    return cgroup_label(path)


def _kernel_threads(asked: list[int] | None, result: Scan) -> None:
    """``ps --pid 2``: say why a PID asked for has no row when no other note does (a kernel thread or a
    zombie has no user memory)."""
    from memtype.model.records import SKIP_REASONS

    for s in result.skipped:
        if asked and s.pid in asked and s.reason in notes.SILENT:
            notes.note(f"PID {s.pid}: {SKIP_REASONS.get(s.reason, s.reason)}")
