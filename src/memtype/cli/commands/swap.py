"""``memtype swap``: swap devices and their use, swappiness, zswap/zram, and who is in swap."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output

DESCRIPTION = ("Swap devices and their use, swappiness, zswap and zram (pool vs stored), and who is in swap: "
               "processes (Swap, SwapPss, anon and shmem), shared-memory objects (memfd, /dev/shm, SysV: counted "
               "once, with their mappers) and mappings.")
DEFAULT_TOP = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=types.positive, default=DEFAULT_TOP, metavar="N",
                   help=f"rows per list (default {DEFAULT_TOP})")
    p.add_argument("--format", choices=("table", "json"), default="table")
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
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

        output.text(json.dumps(swap_dict(report), separators=(",", ":")) + "\n")
    else:
        from memtype.output.swap_table import render

        output.table(output.console(args), render(report))
    notes.scan_notes(result)
    return 0
