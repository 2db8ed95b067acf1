"""``memtype`` with no command: the machine by kind (meminfo), then the top processes by PSS."""

from __future__ import annotations

import argparse

from memtype.cli import notes, output
from memtype.cli.formats import write_csv, write_json
from memtype.cli.rows import check_fields
from memtype.cli.source import open_source
from memtype.model.fields_process import PROCESS
from memtype.model.fields_machine import MACHINE_ROW
from memtype.model.machine import MachineRow

DEFAULT_TOP = 15
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype                                # the machine by kind, then the top 15 processes by PSS',
    'memtype --top 5 --format json          # the same as one JSON document (schema memtype/2)',
    'memtype --db /var/lib/memtype/memtype.db --at "1h ago"   # as it was an hour ago (memtype record)',
)


def run(args: argparse.Namespace) -> int:
    fmt = getattr(args, "format", "table")
    if fmt == "csv":
        check_fields(args.fields, MACHINE_ROW if args.table == "machine" else PROCESS)
    with open_source(args) as src:
        result = src.scan(jobs=args.jobs)
        mm = src.machine(result)  # the rows of `memtype system`, cow's file part from the scan
    top = args.top or DEFAULT_TOP
    shown = sorted(result.processes, key=lambda p: p.totals.pss, reverse=True)[:top]
    src.announce(fmt)
    if fmt == "json":
        from memtype.output.documents import overview_document

        write_json(src.stamped(overview_document(result, mm, shown)))
    elif fmt == "csv":
        if args.table == "machine":  # the rows, then MemTotal they add up to
            write_csv(args, MACHINE_ROW, [*mm.rows, MachineRow("total", "total", mm.total, "MemTotal")])
        else:
            write_csv(args, PROCESS, shown, absent=result.host.smaps_absent)
    else:
        from memtype.output.table import overview  # rich: only for tables

        out = output.console(args)
        output.table(out, overview(result, mm, top, out.width))
    notes.scan_notes(result)
    return 0
