"""``memtype pressure --need BYTES [--cgroup PATH]``: what the kernel would take, from whom, and whether
it swaps."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.source import add_past

DESCRIPTION = ("If N more bytes were needed now (machine-wide, or inside a memory cgroup), what would the kernel "
               "reclaim, of which kind, from whom, and would it swap? A documented model of classic LRU reclaim "
               "(see memtype.model.pressure), checked against the kernel.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype pressure --need 1G             # what the kernel would take if 1 GiB more were needed',
    'memtype pressure --need 4G --table holders   # which processes hold what it would take',
    'memtype pressure --need 512M --cgroup /system.slice   # inside one memory cgroup (a unit, a pod)',
)
DEFAULT_TOP = 5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--need", type=types.size, required=True, metavar="BYTES",
                   help="bytes needed, with K, M, G, T or P suffixes (binary: 1K = 1024)")
    p.add_argument("--cgroup", metavar="PATH",
                   help="reclaim inside this memory cgroup (path as `memtype cgroups` shows it, from /)")
    p.add_argument("--top", type=types.positive, default=DEFAULT_TOP, metavar="N",
                   help=f"holders per kind (default {DEFAULT_TOP})")
    p.add_argument("--file-folio", type=types.pages, default=None, metavar="PAGES",
                   help="pages per page-cache folio (default: measured from /proc/kpageflags as root, else 1)")
    add_format_options(p, tables=("kinds", "holders"))
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.pressure import pressure
    from memtype.collect.scan import host_info, scan
    from memtype.cli.source import open_source

    with open_source(args) as src:
        root = src.need_root("the LRU lists and cgroup limits `pressure` models (memtype pressure reads them live)")
        host = host_info(root)
        result = scan(root, jobs=args.jobs, cgroup=True)
        report = pressure(root, args.need, args.cgroup, top=args.top, scan=result, file_folio=args.file_folio)
    if args.format == "json":
        from memtype.output.documents import pressure_document

        write_json(pressure_document(report, host, result))
    elif args.format == "csv":
        from memtype.model.fields_pressure import HOLDER, KIND_TAKE
        from memtype.model.pressure import holders, kind_takes

        if args.table == "kinds":  # free, each kind, short, then the need they add up to
            write_csv(args, KIND_TAKE, kind_takes(report))
        else:
            write_csv(args, HOLDER, holders(report))
    else:
        from memtype.output.pressure_table import render

        output.table(output.console(args), render(report, host))
    notes.scan_notes(result)
    return 0
