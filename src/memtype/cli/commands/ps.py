"""``memtype ps``: one row per process (or program, user, memory cgroup), split by kind."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.rows import check_fields, check_sort, check_user, filter_processes, sort_rows, user_label
from memtype.cli.source import Source, add_past, open_source
from memtype.kinds import KINDS
from memtype.model.fields_process import PROCESS, group_registry
from memtype.output import json as jsonout

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import ProcessMemory, Scan

DESCRIPTION = "One row per process: RSS, PSS, USS, swap and resident bytes (RSS) per kind."
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype ps --top 10                    # the 10 biggest processes by PSS, split by kind',
    'memtype ps --group program --sort swap  # one row per program (like ps_mem), most in swap first',
    'memtype ps --name python --format csv --fields pid,comm,pss,cow.pss   # CSV of the python processes',
)
TABLE_FIELDS = ["rss", "pss", "uss", "swap"] + [f"{k.value}.rss" for k in KINDS]
GROUPS = ("process", "program", "user", "cgroup")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=types.pid, action="append", metavar="PID", help="only this PID (repeatable)")
    p.add_argument("--user", metavar="USER", help="only processes of this user (name or uid)")
    p.add_argument("--name", metavar="REGEX", help="only processes whose name or program matches")
    types.suggest(p.add_argument("--sort", default="pss", metavar="COLUMN", help="field to sort by: numbers "
                                 "descending, text ascending (pss, rss, uss, swap, a kind (cow...), cow.pss, "
                                 "reclaim.never, pid, name, user...; default pss)"), PROCESS.tokens)
    p.add_argument("--top", type=types.positive, metavar="N", help="only the first N rows")
    p.add_argument("--group", choices=GROUPS, default="process",
                   help="one row per process (default), per program (same executable, like ps_mem), per user, "
                   "or per memory cgroup (container)")
    add_format_options(p, fields_help="CSV columns (and a table's figures), by field id: pid,comm,pss,cow.rss... "
                       "(docs/fields.md lists them)")
    p.add_argument("--cmdline", action="store_true", help="include command lines (JSON/CSV; sensitive)")
    p.add_argument("--exact", action="store_true", help="classify every page (pagemap + kpageflags; root)")
    p.add_argument("--cgroup", action="store_true",
                   help="show each process's memory cgroup (a column, and \"cgroup\" in JSON/CSV); reading "
                   "/proc/PID/cgroup costs about 15%% more time, so it is not read by default")
    p.add_argument("--freed", action="store_true",
                   help="what the kernel would free if each process exited now (a Freed column; JSON "
                   "freed_if_killed and its parts, what stays and why): reads every process's fds and maps "
                   "and the tmpfs mounts to know who else holds its shared memory, so it is not read by default")
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    registry = PROCESS if args.group == "process" else group_registry(args.group)
    if args.freed and args.group != "process":
        from memtype.errors import UsageError

        raise UsageError("--freed is per process; for a memory cgroup use: memtype cgroups --freed")
    check_sort(args.sort, registry)
    check_fields(args.fields, registry)
    with open_source(args) as src:
        result = src.scan(args.pid, exe=args.group == "program" or bool(args.name), cmdline=args.cmdline,
                          jobs=args.jobs, cgroup=args.group == "cgroup" or args.cgroup, exact=args.exact,
                          annotate=True)
        check_user(src.root, args.user, result.processes, src.user_names())
        if args.freed:
            result = _freed(src, result)
        gpu_view = _gpu(args, src, result)
        if gpu_view is not None:
            result = gpu_view
    procs = filter_processes(result.processes, args.user, args.name)
    src.announce(args.format)
    if args.group == "process":
        _processes(args, result, procs, src)
    else:
        _groups(args, result, procs, src)
    notes.scan_notes(result)
    _kernel_threads(args.pid, result)
    return 0


def _gpu(args: argparse.Namespace, src: Source, result: Scan) -> Scan | None:
    """``result`` with each process's GPU memory (``cli.gpu``), ``None`` where no GPU data exists; sets
    ``args.gpu_data`` (the ``gpu`` option of the fields)."""
    from memtype.cli import gpu  # GPU readers: imported only here, after the scan

    view = gpu.view(src, args.pid)
    gpu.say_why(view)
    args.gpu_data = gpu.has_data(view)
    if not args.gpu_data or view is None:
        return None
    nvidia = sorted({u.pid for u in view.uses if u.regions is None})  # NVML's processes: their host side too
    return gpu.attach(result, view, gpu.host_sides(src, nvidia))


def scan_options(args: argparse.Namespace) -> set[str]:
    """The reading options whose fields a ``ps`` document has (``Field.option``)."""
    found = set()
    if getattr(args, "gpu_data", False):
        found.add("gpu")
    if args.group == "program" or args.name or args.cmdline:
        found.add("program")
    if args.cmdline:
        found.add("cmdline")
    if args.group == "cgroup" or args.cgroup:
        found.add("cgroup")
    if args.exact:
        found.add("exact")
    if getattr(args, "freed", False):
        found.add("freed")
    return found


def _freed(src: Source, result: Scan) -> Scan:
    """``--freed``: what a kill would free (``memtype.collect.freed``); live machines and captures."""
    from memtype.errors import MemtypeError

    if src.root is None:
        from memtype.cli.source import NOT_RECORDED

        raise MemtypeError(NOT_RECORDED.format(what="who holds which shared memory (--freed reads fds and maps)"))
    from memtype.collect.freed import read_freed

    return read_freed(src.root, result)


def _processes(args: argparse.Namespace, result: Scan, procs: list[ProcessMemory], src: Source) -> None:
    rows: Sequence[Any] = sort_rows(procs, args.sort, PROCESS)[: args.top]
    absent, options = result.host.smaps_absent, scan_options(args)
    if args.format == "json":
        write_json(src.stamped(jsonout.scan_document(result, processes=jsonout.records(
            PROCESS, rows, options=options, absent=absent))))
    elif args.format == "csv":
        write_csv(args, PROCESS, rows, options=options, absent=absent)
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
        output.table(out, rows_table(rows, columns, _figures(args, PROCESS), drop={"uss": 2}, trailing=cgroup,
                                     width=out.width, label=2,
                                     title=f"{len(rows)} of {len(procs)} processes, sorted by {args.sort}"))


def _groups(args: argparse.Namespace, result: Scan, procs: list[ProcessMemory], src: Source) -> None:
    from memtype.model.group import group_processes

    by = args.group
    key: Callable[[ProcessMemory], str] = {"program": lambda p: p.program, "user": user_label,
                                           "cgroup": lambda p: _cgroup_label(p.cgroup)}[by]
    registry = group_registry(by)
    groups = sort_rows(group_processes(procs, key), args.sort, registry)[: args.top]
    absent = result.host.smaps_absent
    if args.format == "json":
        write_json(src.stamped(jsonout.scan_document(result, group_by=by,
                                                     groups=jsonout.records(registry, groups, absent=absent))))
    elif args.format == "csv":
        write_csv(args, registry, groups, absent=absent)
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        columns = [Key(by.capitalize(), lambda g: g.key, shrink=8, path=by == "cgroup"),
                   Key("Procs", lambda g: str(g.count), right=True)]
        out = output.console(args)
        output.table(out, rows_table(groups, columns, _figures(args, registry), drop={"uss": 1}, width=out.width,
                                     label=0, registry=registry,
                                     title=f"{len(groups)} {by}s, sorted by {args.sort}"))


def _figures(args: argparse.Namespace, registry: Any) -> list[str]:
    """A table's figures: the numeric fields of ``--fields``, else TABLE_FIELDS."""
    chosen = check_fields(args.fields, registry)
    if chosen is None:
        extra = ["freed_if_killed"] if getattr(args, "freed", False) and "freed_if_killed" in registry else []
        if getattr(args, "gpu_data", False) and registry is PROCESS:
            extra.append("gpu.vram")
        return TABLE_FIELDS + extra
    return [i for i in chosen if registry[i].numeric]


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
