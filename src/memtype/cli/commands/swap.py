"""``memtype swap``: swap devices and their use, swappiness, zswap/zram, and who is in swap."""

from __future__ import annotations

import argparse

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.source import add_past

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.swap import SwapReport

DESCRIPTION = ("Swap devices and their use, swappiness (the machine's, every v1 cgroup that differs, what 0 means), "
               "zswap and zram (pool vs stored), and who is in swap: "
               "processes (Swap, SwapPss, anon and shmem), shared-memory objects (memfd, /dev/shm, SysV: counted "
               "once, with their mappers) and mappings.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype swap                           # swap devices, swappiness, zswap/zram, who is in swap',
    'memtype swap --table attribution       # what of swap each process and shared object holds',
    'memtype swap --format json             # the same as JSON',
)
DEFAULT_TOP = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=types.positive, default=DEFAULT_TOP, metavar="N",
                   help=f"rows per list (default {DEFAULT_TOP})")
    add_format_options(p, tables=("processes", "devices", "zram", "objects", "mappings", "attribution"))
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.pressure import cgroup_files
    from memtype.collect.scan import scan
    from memtype.collect.shm import read_shm
    from memtype.collect.swapinfo import swap_info
    from memtype.collect.swappiness import read_swappiness_view
    from memtype.model.swap import SwapReport, attribution, shmem_objects, swapped_mappings
    from memtype.cli.source import open_source

    with open_source(args) as src:
        root = src.need_root("swap devices, zswap and zram (/proc/swaps, /sys)")
        info = swap_info(root)
        in_force = read_swappiness_view(root, cgroup_files(root))  # vm.swappiness, v1 cgroups that differ
        result = scan(root, mappings=True, jobs=args.jobs)
        account = read_shm(root, result.processes)
    objects = shmem_objects(account)
    swapped = swapped_mappings(result.processes)
    shares = attribution(info.used, result.processes, objects)
    # The per-mapping detail is in the report now: the processes it keeps drop their mappings (memory flat).
    result = result.replace(processes=[p.replace(mappings=None) for p in result.processes])
    report = SwapReport(info, result, objects, swapped, shares, args.top)
    if args.format == "json":
        from memtype.output.documents import swap_document

        write_json(swap_document(report, in_force))
    elif args.format == "csv":
        _csv(args, report)
    else:
        from memtype.output.swap_table import render

        output.table(output.console(args), render(report, in_force))
    notes.scan_notes(result)
    return 0


def _csv(args: argparse.Namespace, report: SwapReport) -> None:
    from memtype.model import fields_machine, fields_swap as f
    from memtype.model.records import Row

    absent = report.scan.host.smaps_absent
    if args.table == "processes":
        write_csv(args, f.SWAP_PROCESS, report.processes(), absent=absent)
    elif args.table == "devices":
        write_csv(args, f.SWAP_DEVICE, report.info.devices)
    elif args.table == "zram":
        write_csv(args, f.ZRAM, report.info.zram)
    elif args.table == "objects":
        write_csv(args, f.SHMEM_OBJECT, report.objects)
    elif args.table == "mappings":
        write_csv(args, f.SWAPPED_MAPPING, report.mappings[: report.top], absent=absent)
    else:  # who is in swap: the parts, then the swap used they add up to
        rows = [Row(part, n) for part, n in report.attribution.items()] + [Row("used", report.info.used)]
        write_csv(args, fields_machine.ROW, rows)
