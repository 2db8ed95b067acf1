"""``memtype maps PID``: one row per mapping (pmap -X style) split by kind; ``--group path`` sums
them by file, and ``--all`` does so across every process (librank)."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.rows import check_fields, check_sort, sort_rows
from memtype.cli.source import Source, add_past, open_source
from memtype.errors import MemtypeError, UsageError
from memtype.kinds import KINDS
from memtype.model.fields import Registry
from memtype.model.fields_process import MAPPING, PROCESS, group_registry
from memtype.model.group import group_mappings, mapping_key
from memtype.output import json as jsonout

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import Mapping, Scan

DESCRIPTION = ("Mappings of PID with their kind; --group path sums them by file; --all covers every process "
               "(which library or file costs how much).")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype maps 1234                      # every mapping of PID 1234 with its kind (pmap -X style)',
    'memtype maps 1234 --group path --sort pss   # the same summed by file, biggest first',
    'memtype maps --all --group path --top 10    # the 10 files and regions using most PSS machine-wide',
)
FIELDS = ["size", "rss", "pss", "swap"] + [f"{k.value}.rss" for k in KINDS]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=types.pid, nargs="?", help="the process")
    p.add_argument("--all", action="store_true", help="every process (use with --group path)")
    p.add_argument("--group", choices=("mapping", "path"), default="mapping",
                   help="one row per mapping (default), or per file and region summed (path)")
    types.suggest(p.add_argument("--sort", default=None, metavar="COLUMN",
                                 help="sort by this field: numbers descending, text ascending (pss, cow, start, "
                                 "path...)"), _sort_columns)
    p.add_argument("--top", type=types.positive, metavar="N", help="only the first N rows")
    add_format_options(p, fields_help="CSV columns (and a table's figures), by field id: start,end,class,path,"
                       "pss,cow.rss... (docs/fields.md lists them)")
    p.add_argument("--exact", action="store_true", help="classify every page (pagemap + kpageflags; root)")
    p.add_argument("--freed", action="store_true",
                   help="per mapping, what killing PID would free and what stays, and why (reads every process's "
                   "fds and maps to know who else holds its shared memory)")
    add_past(p)
    types.add_width(p)


def _sort_columns() -> list[str]:
    """--sort's words for shell completion: a mapping's fields, and a path group's."""
    return list(dict.fromkeys([*MAPPING.tokens(), *group_registry("path").tokens()]))


def run(args: argparse.Namespace) -> int:
    if args.all == (args.pid is not None):
        raise UsageError("give a PID, or --all (with --group path) for every process")
    if args.all and args.group != "path":
        raise UsageError("--all needs --group path (one row per file across all processes)")
    if args.freed and (args.all or args.group != "mapping"):
        raise UsageError("--freed is per mapping of one PID (memtype maps PID --freed)")
    registry = group_registry("path") if args.group == "path" else MAPPING
    if args.sort:
        check_sort(args.sort, registry)
    check_fields(args.fields, registry)
    with open_source(args) as src:
        result = src.scan(None if args.all else [args.pid], mappings=True, jobs=args.jobs, exact=args.exact)
        if not result.processes and not args.all:
            raise MemtypeError(f"cannot read the mappings of PID {args.pid}: {_why(result)}")
        if args.freed:
            result = _freed(src, result)
    src.announce(args.format)
    if args.group == "path":
        _by_path(args, result, src)
    else:
        _mappings(args, result, src)
    notes.scan_notes(result)
    return 0


def _freed(src: Source, result: Scan) -> Scan:
    """``--freed``: the process's ``freed`` and each mapping's ``fate`` (``memtype.model.freed.mapping_fate``)."""
    if src.root is None:
        from memtype.cli.source import NOT_RECORDED

        raise MemtypeError(NOT_RECORDED.format(what="who holds which shared memory (--freed reads fds and maps)"))
    from memtype.collect.freed import read_freed
    from memtype.model.freed import mapping_fate

    result = read_freed(src.root, result)
    procs = []
    for p in result.processes:
        freed = p.freed
        procs.append(p if freed is None else p.replace(
            mappings=[m.replace(fate=mapping_fate(m, freed)) for m in p.mappings or ()]))
    return result.replace(processes=procs)


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


def _by_path(args: argparse.Namespace, result: Scan, src: Source) -> None:
    registry = group_registry("path")
    groups = sort_rows(group_mappings(result.processes), args.sort or "pss", registry)[: args.top]
    absent = result.host.smaps_absent
    if args.format == "json":
        write_json(src.stamped(jsonout.scan_document(result, group_by="path", groups=jsonout.records(
            registry, groups, absent=absent))))
    elif args.format == "csv":
        write_csv(args, registry, groups, absent=absent)
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        keys = [Key("Procs", lambda g: str(len(set(g.pids))), right=True)]
        path = [Key("Mapping", lambda g: g.key, shrink=20, path=True)]
        what = "all processes" if args.all else f"PID {args.pid} ({result.processes[0].comm})"
        out = output.console(args)
        output.table(out, rows_table(groups, keys, _figures(args, registry, FIELDS[1:]), drop={"swap": 1},
                                     trailing=path, width=out.width, totals="sum" if args.all else "total",
                                     registry=registry,
                                     title=f"{len(groups)} files and regions of {what}, sorted by "
                                           f"{args.sort or 'pss'}"))


def _mappings(args: argparse.Namespace, result: Scan, src: Source) -> None:
    proc = result.processes[0]
    ms: list[Mapping] = list(proc.mappings or [])
    if args.sort:
        ms = sort_rows(ms, args.sort, MAPPING)
    ms = ms[: args.top]
    absent = result.host.smaps_absent
    freed = {"freed"} if getattr(args, "freed", False) else set()
    from memtype.model.gpu_host import pinned_detail  # small; only the mapping view asks

    pinned = pinned_detail(proc.mappings or [])
    if pinned is not None and pinned["pinned_maps"] and args.format != "json":
        notes.note(f"{len(pinned['pinned_maps'])} /dev/zero (deleted) mappings ({pinned['pinned_likely'] / 2**20:.1f} "
                   f"MiB) are likely CUDA pinned host memory: {pinned['why']}")
    if args.format == "json":
        options = ({"exact"} if getattr(args, "exact", False) else set()) | freed
        extra: dict[str, Any] = {"gpu_host": pinned} if pinned is not None else {}  # likely pinned (issue 14)
        write_json(src.stamped(jsonout.scan_document(
            result, process=jsonout.record(PROCESS, proc, options=options, absent=absent),
            mappings=jsonout.records(MAPPING, ms, options=freed, absent=absent), **extra)))
    elif args.format == "csv":
        write_csv(args, MAPPING, ms, options=freed, absent=absent)
    else:
        from memtype.output.table import Key, rows_table  # rich: only for tables

        keys = [Key("Address", lambda m: f"{m.start:012x}", drop=3), Key("Perm", lambda m: m.perms, drop=1),
                Key("Class", lambda m: m.mapclass, drop=2)]
        path = [Key("Mapping", lambda m: mapping_key(m), shrink=24, path=True)]
        figures = _figures(args, MAPPING, FIELDS)
        if freed and args.fields is None:
            figures = figures + ["freed", "stays"]
            path = [Key("Why", lambda m: m.fate.why if m.fate else "", drop=1, shrink=16)] + path
        out = output.console(args)
        output.table(out, rows_table(ms, keys, figures, drop={"size": 5, "swap": 4},
                                     trailing=path, width=out.width, totals="total", registry=MAPPING,
                                     title=f"PID {proc.pid} ({proc.comm}): {len(ms)} mappings"))


def _figures(args: argparse.Namespace, registry: Registry, default: list[str]) -> list[str]:
    """A table's figures: the numeric fields of ``--fields``, else ``default``."""
    chosen = check_fields(args.fields, registry)
    return default if chosen is None else [i for i in chosen if registry[i].numeric]
