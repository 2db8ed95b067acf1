"""``memtype files``: which files sit in the page cache, and who holds them.

* ``memtype files PATH... [-R]``: each file's size and its bytes cached, dirty, under writeback,
  evicted and recently evicted (cachestat(2); mincore(2) before Linux 6.5), with directory totals.
  ``--evict`` / ``--warm`` act on them first.
* ``memtype files [--top N]``: the most cached files that processes map or hold open, with the PIDs
  and the cgroup charged, and how much of the machine's file cache they explain.
"""

from __future__ import annotations

import argparse
import sys

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv
from memtype.cli.source import add_past
from memtype.errors import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.records import HostInfo
    from memtype.source.root import Root

TABLE_ROWS = 25  # files shown in a table when --top is not given
MACHINE_TOP = 20
DESCRIPTION = ("With PATHs: each file's page cache (cached, dirty, writeback, evicted, recently evicted) from "
               "cachestat(2), with directory totals; 'unknown' where the kernel would refuse or lie. Without: the "
               "most cached files that processes map or hold open, and how much of the machine's file cache they "
               "explain.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype files --top 10                 # the 10 files with most page cache, and who maps them',
    'memtype files -R /usr/lib --top 10     # page cache of the files under /usr/lib',
    'memtype files --table directories      # page cache summed per directory',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (symlinks named here are followed)")
    p.add_argument("-R", "--recursive", action="store_true",
                   help="walk directories all the way down (never following symlinks)")
    p.add_argument("--top", type=types.positive, metavar="N",
                   help=f"only the N most cached files (default without PATH: {MACHINE_TOP}; tables show "
                   f"{TABLE_ROWS})")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--evict", action="store_true",
                        help="drop the files' clean page cache (POSIX_FADV_DONTNEED); reports what stayed")
    action.add_argument("--warm", action="store_true", help="read the files into the page cache (up to MemAvailable)")
    p.add_argument("--mincore", action="store_true",
                   help="use mincore(2) instead of cachestat(2): resident pages only, like vmtouch")
    add_format_options(p, tables=("files", "directories", "split"))
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.cli.source import open_source

    method = "mincore" if args.mincore else "auto"
    with open_source(args) as src:
        root = src.need_root("the page cache's files (cachestat and mincore read them live)")
        if args.paths:
            if not root.live:
                raise UsageError("files PATH reads this machine's page cache; a capture holds no file contents or "
                                 "cache state (use `memtype files --top N --root DIR` for the files it maps)")
            return _paths(args, root, method)
        if args.evict or args.warm:
            raise UsageError(f"--{'evict' if args.evict else 'warm'} needs the files or directories to act on")
        if args.recursive:
            raise UsageError("-R needs a directory")
        return _machine(args, root, method)


def _paths(args: argparse.Namespace, root: Root, method: str) -> int:
    from memtype.collect.files import measure_paths
    from memtype.collect.holders import scan_holders
    from memtype.output.files_table import notes as report_notes

    action = "evict" if args.evict else "warm" if args.warm else None
    limit = None
    if action == "warm":
        from memtype.collect.system import machine_memory

        limit = machine_memory(root).available
    report = measure_paths(args.paths, recursive=args.recursive, method=method, action=action, warm_limit=limit)
    holders = scan_holders(root)
    holders.attach(report.files)
    if args.format == "json":
        from memtype.output.files_json import write_report

        files = _most_cached(report.files)[: args.top] if args.top else sorted(report.files, key=lambda f: f.path)
        with output.writing():
            write_report(sys.stdout, _host(root), report, files, denied=holders.denied, notes=report.notes)
    elif args.format == "csv":
        from memtype.model.fields_files import CACHE_TOTAL, FILE

        if args.table == "split":
            raise UsageError("--table split is the machine's file cache: `memtype files --top N` (no PATH)")
        files = _most_cached(report.files)[: args.top] if args.top else sorted(report.files, key=lambda f: f.path)
        if args.table == "files":
            write_csv(args, FILE, files, options={"action"} if report.action else ())
        else:
            write_csv(args, CACHE_TOTAL, [*report.dirs, report.total])
    else:
        from memtype.output.files_table import report_table

        out = output.console(args)
        rows = _most_cached(report.files)[: args.top or TABLE_ROWS]
        output.table(out, report_table(report, rows, out.width))
    for line in report_notes(report):
        notes.note(line)
    notes.skips({"denied": holders.denied}, what=" (Mapped by and Open by list the others)")
    return 0


def _machine(args: argparse.Namespace, root: Root, method: str) -> int:
    from memtype.collect.cached_files import cached_files

    mc = cached_files(root, args.top or MACHINE_TOP, method=method)
    if args.format == "json":
        from memtype.output.files_json import write_machine

        with output.writing():
            write_machine(sys.stdout, _host(root), mc, method if root.live else None)
    elif args.format == "csv":
        from memtype.model.fields_files import FILE
        from memtype.model.fields_machine import ROW
        from memtype.model.records import Row

        if args.table == "directories":
            raise UsageError("--table directories needs PATHs (directory totals)")
        if args.table == "files":
            write_csv(args, FILE, mc.files, options={"top"} | (set() if root.live else {"capture"}))
        else:  # the machine's file cache in parts that add up to it (live: held; a capture: mapped PSS)
            part = Row("held", mc.held) if mc.live else Row("mapped_pss", mc.mapped)
            write_csv(args, ROW, [part, Row("buffers", mc.buffers), Row("unheld", mc.unheld),
                                  Row("file_cache", mc.file_cache)])
    else:
        from memtype.output.files_table import machine_table

        out = output.console(args)
        output.table(out, machine_table(mc, out.width))
    for line in mc.notes:
        notes.note(line)
    # Live: processes whose maps or fds were denied; a capture: processes it holds no smaps of.
    notes.skips({"denied" if root.live else "not captured": mc.denied},
                what=" (Mapped by and Open by list the others)" if root.live else "")
    return 0


def _most_cached(files: list[Any]) -> list[Any]:
    return sorted(files, key=lambda f: (f.cached if f.cached is not None else -1, f.size or 0), reverse=True)


def _host(root: Root) -> HostInfo:
    from memtype.collect.scan import host_info

    return host_info(root)
