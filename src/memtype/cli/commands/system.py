"""``memtype system``: every byte of MemTotal by kind (meminfo, or --exact from kpageflags)."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.source import add_past, open_source

DESCRIPTION = ("Every byte of MemTotal by kind, from /proc/meminfo (default) or a full kpageflags/kpagecount "
               "scan (--exact, root), beside the sum over processes of each kind.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype system                         # every byte of MemTotal by kind, from /proc/meminfo',
    'memtype system --table reconcile       # how the rows map onto the meminfo lines they come from',
    'memtype system --exact                 # page by page from kpageflags/kpagecount (root; slower)',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exact", action="store_true", help="scan /proc/kpageflags and /proc/kpagecount (root)")
    p.add_argument("--no-processes", dest="processes", action="store_false",
                   help="skip the comparison with the processes' PSS (no smaps read)")
    add_format_options(p, tables=("rows", "reconcile"))
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.cli import gpu  # GPU section: after the machine's rows

    with open_source(args) as src:
        sm = src.system(exact=args.exact, processes=args.processes, jobs=args.jobs)
        view = gpu.view(src)
        shown = view if gpu.has_data(view) else None
        sides = gpu.host_sides(src, sorted({u.pid for u in shown.uses if u.regions is None})) if shown else {}
    gpu.say_why(view)
    src.announce(args.format)
    if args.format == "json":
        from memtype.output.documents import system_document
        from memtype.output.gpu import gpu_document

        doc = system_document(sm)
        if shown is not None:  # a machine without GPU data keeps its document as it was
            tail = {str(k): doc.pop(k) for k in ("notes", "warnings") if k in doc}  # the envelope ends with these
            doc["gpu"] = gpu_document(shown, sides)
            doc.update(tail)
        write_json(src.stamped(doc))
    elif args.format == "csv":
        from memtype.model.fields_machine import RECONCILE, ROW

        if args.table == "rows":  # the rows, each with its sub-rows, then total: the known top rows add up to it
            write_csv(args, ROW, sm.table_rows())
        else:
            write_csv(args, RECONCILE, sm.reconcile or [])
    else:
        from memtype.output.system_table import render

        out = output.console(args)
        output.table(out, render(sm))
        if shown is not None:
            from memtype.output.gpu import gpu_tables

            names = {p.pid: p.comm for p in sm.processes.processes} if sm.processes is not None else {}
            output.table(out, gpu_tables(shown, names, sides))
    if sm.processes is not None:
        notes.scan_notes(sm.processes)  # the comparison's title counts them as left out
    return 0
