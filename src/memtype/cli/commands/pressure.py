"""``memtype pressure --need BYTES [--cgroup PATH] [--swappiness N | --sweep [LIST]]``: what the kernel would
take, from whom, whether it swaps, and what another swappiness would change."""

from __future__ import annotations

import argparse
import re

from memtype.cli import args as types, notes, output
from memtype.cli.formats import add_format_options, write_csv, write_json
from memtype.cli.source import add_past

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.records import HostInfo
    from memtype.model.swappiness import Sweep

DESCRIPTION = ("If N more bytes were needed now (machine-wide, or inside a memory cgroup), what would the kernel "
               "reclaim, of which kind, from whom, and would it swap? With --swappiness or --sweep: the same as if "
               "swappiness were another value. A documented model of classic LRU reclaim (see "
               "memtype.model.pressure and memtype.model.swappiness), checked against the kernel.")
DEFAULT_TOP = 5
DEFAULT_SWEEP = (0, 10, 30, 60, 100, 150, 200)  # memtype.model.swappiness.DEFAULT_SWEEP (not imported: start-up)
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype pressure --need 1G             # what the kernel would take if 1 GiB more were needed',
    'memtype pressure --need 4G --sweep     # the same at swappiness 0..200: where the knob stops mattering',
    'memtype pressure --need 512M --cgroup /system.slice --swappiness 10   # in one cgroup, as if it were 10',
)


def swappiness(text: str) -> int:
    """A swappiness, 0 to 200 as the kernel takes (sysctl and memory.swappiness refuse 201 with EINVAL)."""
    if not re.fullmatch(r"\s*\+?\d{1,4}\s*", text):
        raise argparse.ArgumentTypeError(f"not a swappiness: {text[:40]!r} (a whole number, 0 to 200)")
    n = int(text)
    if n > 200:
        raise argparse.ArgumentTypeError(f"swappiness {n} is out of range: the kernel takes 0 to 200")
    return n


def swappiness_list(text: str) -> tuple[int, ...]:
    """``0,60,200``: swappiness values, comma-separated."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts or len(parts) > 201:
        raise argparse.ArgumentTypeError(f"not a list of swappiness values: {text[:40]!r} (like 0,60,200)")
    return tuple(sorted({swappiness(p) for p in parts}))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--need", type=types.size, required=True, metavar="BYTES",
                   help="bytes needed, with K, M, G, T or P suffixes (binary: 1K = 1024)")
    p.add_argument("--cgroup", metavar="PATH",
                   help="reclaim inside this memory cgroup (path as `memtype cgroups` shows it, from /)")
    what_if = p.add_mutually_exclusive_group()
    what_if.add_argument("--swappiness", type=swappiness, metavar="N",
                         help="predict as if swappiness were N (0-200), beside the value in force, with the "
                              "difference per kind")
    what_if.add_argument("--sweep", nargs="?", const=DEFAULT_SWEEP, type=swappiness_list, metavar="LIST",
                         help="one row per swappiness (default " + ",".join(map(str, DEFAULT_SWEEP))
                              + "; the value in force is added): what each would take, and where it stops "
                              "mattering")
    p.add_argument("--top", type=types.positive, default=DEFAULT_TOP, metavar="N",
                   help=f"holders per kind (default {DEFAULT_TOP})")
    p.add_argument("--file-folio", type=types.pages, default=None, metavar="PAGES",
                   help="pages per page-cache folio (default: measured from /proc/kpageflags as root, else 1)")
    add_format_options(p, tables=("kinds", "holders"))
    add_past(p)
    types.add_width(p)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.pressure import pressure, read_inputs, swappiness_sweep
    from memtype.collect.scan import host_info, scan
    from memtype.cli.source import open_source

    with open_source(args) as src:
        root = src.need_root("the LRU lists and cgroup limits `pressure` models (memtype pressure reads them live)")
        host = host_info(root)
        inputs = read_inputs(root, args.need, args.cgroup, file_folio=args.file_folio)
        if args.sweep is not None:
            return _sweep(args, swappiness_sweep(inputs, args.sweep), host)
        result = scan(root, jobs=args.jobs, cgroup=True)
        report = pressure(root, args.need, top=args.top, scan=result, inputs=inputs, swappiness=args.swappiness)
    if args.swappiness is not None:
        from memtype.model.swappiness import SweepPoint

        now = SweepPoint(inputs.swappiness, inputs.predict_at(inputs.swappiness), True)
        then = SweepPoint(args.swappiness, report.prediction, args.swappiness == inputs.swappiness)
        if args.format == "json":
            from memtype.output.documents import what_if_document

            write_json(what_if_document(report, now, host, result))
        elif args.format == "csv":
            from memtype.model.fields_pressure import SWEEP_POINT

            write_csv(args, SWEEP_POINT, [now] if then.current else sorted([now, then], key=lambda x: x.swappiness))
        else:
            from memtype.output.pressure_table import render_what_if

            output.table(output.console(args), render_what_if(report, now.prediction))
        notes.scan_notes(result)
        return 0
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


def _sweep(args: argparse.Namespace, sweep: Sweep, host: HostInfo) -> int:
    if args.format == "json":
        from memtype.output.documents import sweep_document

        write_json(sweep_document(sweep, host))
    elif args.format == "csv":
        from memtype.model.fields_pressure import SWEEP_POINT

        write_csv(args, SWEEP_POINT, sweep.points)
    else:
        from memtype.output.pressure_table import render_sweep

        output.table(output.console(args), render_sweep(sweep))
    return 0
