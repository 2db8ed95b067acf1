"""``memtype`` with no command: the machine by kind (meminfo), then the top processes by PSS."""

from __future__ import annotations

import argparse

from memtype.cli import notes, output
from memtype.collect.scan import scan
from memtype.collect.system import machine_memory
from memtype.source.root import Root

DEFAULT_TOP = 15


def run(args: argparse.Namespace) -> int:
    from memtype.output.table import overview  # rich: only for tables

    with Root(args.root) as root:
        mm = machine_memory(root)
        result = scan(root, jobs=args.jobs)
    out = output.console(args)
    output.table(out, overview(result, mm, args.top or DEFAULT_TOP, out.width))
    notes.scan_notes(result)
    return 0
