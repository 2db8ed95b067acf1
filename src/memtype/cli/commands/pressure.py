"""``memtype pressure --need BYTES [--cgroup PATH]``: what the kernel would take, from whom, and whether
it swaps."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output

DESCRIPTION = ("If N more bytes were needed now (machine-wide, or inside a memory cgroup), what would the kernel "
               "reclaim, of which kind, from whom, and would it swap? A documented model of classic LRU reclaim "
               "(see memtype.model.pressure), checked against the kernel.")
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
    p.add_argument("--format", choices=("table", "json"), default="table")
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.pressure import pressure
    from memtype.collect.scan import host_info, scan
    from memtype.source.root import Root

    with Root(args.root) as root:
        host = host_info(root)
        result = scan(root, jobs=args.jobs, cgroup=True)
        report = pressure(root, args.need, args.cgroup, top=args.top, scan=result, file_folio=args.file_folio)
    if args.format == "json":
        import json

        from memtype.output.pressure_table import pressure_dict

        output.text(json.dumps(pressure_dict(report, host), separators=(",", ":")) + "\n")
    else:
        from memtype.output.pressure_table import render

        output.table(output.console(args), render(report, host))
    notes.scan_notes(result)
    return 0
