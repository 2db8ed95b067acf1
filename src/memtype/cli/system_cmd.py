"""`memtype system`: every byte of MemTotal by kind (meminfo, or --exact from kpageflags)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing costs ~5 ms of every command's start-up
if TYPE_CHECKING:
    from typing import Any


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("system", help="the whole machine by kind; the rows add up to MemTotal",
                       description="Every byte of MemTotal by kind, from /proc/meminfo (default) or a full "
                       "kpageflags/kpagecount scan (--exact, root), beside the sum over processes of each kind.")
    common(p)
    p.add_argument("--exact", action="store_true", help="scan /proc/kpageflags and /proc/kpagecount (root)")
    p.add_argument("--no-processes", dest="processes", action="store_false",
                   help="skip the comparison with the processes' PSS (no smaps read)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


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
        sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    else:
        from memtype.output.system_table import render
        from memtype.output.table import make_console, show

        show(make_console(args.width), render(sm))
    sys.stdout.flush()
    if sm.processes is not None:
        reasons = sm.processes.skip_counts()
        if reasons:
            listed = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
            print(f"memtype: note: processes left out of the comparison: {listed}", file=sys.stderr)
    return 0
