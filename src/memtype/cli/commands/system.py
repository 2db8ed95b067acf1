"""``memtype system``: every byte of MemTotal by kind (meminfo, or --exact from kpageflags)."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output

DESCRIPTION = ("Every byte of MemTotal by kind, from /proc/meminfo (default) or a full kpageflags/kpagecount "
               "scan (--exact, root), beside the sum over processes of each kind.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exact", action="store_true", help="scan /proc/kpageflags and /proc/kpagecount (root)")
    p.add_argument("--no-processes", dest="processes", action="store_false",
                   help="skip the comparison with the processes' PSS (no smaps read)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.system import system_memory
    from memtype.source.root import Root

    with Root(args.root) as root:
        sm = system_memory(root, exact=args.exact, processes=args.processes, jobs=args.jobs)
    if args.format == "json":
        import json

        from memtype.output.system_table import system_dict

        doc = system_dict(sm)
        doc["reclaim"] = sm.reclaim  # {"drop","writeback","swap","never"}: the LRU lists + hugetlb (model.reclaim)
        output.text(json.dumps(doc, separators=(",", ":")) + "\n")
    else:
        from memtype.output.system_table import render

        output.table(output.console(args), render(sm))
    if sm.processes is not None:
        notes.scan_notes(sm.processes)  # the comparison's title counts them as left out
    return 0
