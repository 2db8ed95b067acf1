"""`memtype swap`: swap devices and their use, swappiness, zswap/zram, and who is in swap."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing costs ~5 ms of every command's start-up
if TYPE_CHECKING:
    from typing import Any


def _positive(text: str) -> int:
    from memtype.cli.main import _positive as positive

    return positive(text)


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("swap", help="swap devices, swappiness, zswap/zram, and who is in swap",
                       description="Swap devices and their use, swappiness, zswap and zram (pool vs stored), "
                       "and who is in swap: processes (Swap, SwapPss, anon and shmem), shared-memory objects "
                       "(memfd, /dev/shm, SysV: counted once, with their mappers) and mappings.")
    common(p)
    p.add_argument("--top", type=_positive, default=10, metavar="N", help="rows per list (default 10)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from memtype.cli.commands import _notes
    from memtype.collect.scan import scan
    from memtype.collect.swapinfo import swap_info
    from memtype.model.swap import SwapReport, attribution, shmem_objects, swapped_mappings
    from memtype.source.root import Root

    with Root(args.root) as root:
        info = swap_info(root)
        result = scan(root, mappings=True, jobs=args.jobs)
    objects = shmem_objects(result.processes, info.shm)
    report = SwapReport(info, result, objects, swapped_mappings(result.processes),
                        attribution(info.used, result.processes, objects), args.top)
    for p in result.processes:  # the per-mapping detail is in the report now: keep memory flat
        p.mappings = None
    if args.format == "json":
        import json

        from memtype.output.swap_table import swap_dict

        sys.stdout.write(json.dumps(swap_dict(report), separators=(",", ":")) + "\n")
    else:
        from memtype.output.swap_table import render
        from memtype.output.table import make_console, show

        show(make_console(args.width), render(report))
    sys.stdout.flush()
    _notes(result)
    return 0
