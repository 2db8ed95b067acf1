"""`memtype pressure --need BYTES [--cgroup PATH]`: what the kernel would take, from whom, and whether it swaps."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing costs ~5 ms of every command's start-up
if TYPE_CHECKING:
    from typing import Any

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``4096``, ``512K``, ``1.5G``, ``64MiB`` -> bytes (binary units)."""
    m = _SIZE.match(text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or with K, M, G, T)")
    n = int(float(m.group(1)) * _UNIT[m.group(2).upper()])
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return n


def _positive(text: str) -> int:
    from memtype.cli.main import _positive as positive

    return positive(text)


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("pressure", help="what-if: what the kernel would take if N more bytes were needed",
                       description="If N more bytes were needed now (machine-wide, or inside a memory cgroup), "
                       "what would the kernel reclaim, of which kind, from whom, and would it swap? A documented "
                       "model of classic LRU reclaim (see memtype.model.pressure), checked against the kernel.")
    common(p)
    p.add_argument("--need", type=parse_size, required=True, metavar="BYTES",
                   help="bytes needed, with K, M, G or T suffixes (binary)")
    p.add_argument("--cgroup", metavar="PATH",
                   help="reclaim inside this memory cgroup (path as `memtype cgroups` shows it, from /)")
    p.add_argument("--top", type=_positive, default=5, metavar="N", help="holders per kind (default 5)")
    p.add_argument("--file-folio", type=float, default=None, metavar="PAGES",
                   help="pages per page-cache folio (default: measured from /proc/kpageflags as root, else 1)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from memtype.collect.pressure import pressure
    from memtype.collect.scan import host_info, scan
    from memtype.source.root import Root

    if args.file_folio is not None and args.file_folio < 1:
        from memtype.errors import UsageError

        raise UsageError("--file-folio: a folio holds at least 1 page")
    with Root(args.root) as root:
        host = host_info(root)
        result = scan(root, jobs=args.jobs, cgroup=True)
        report = pressure(root, args.need, args.cgroup, top=args.top, scan=result, file_folio=args.file_folio)
    if args.format == "json":
        import json

        from memtype.output.pressure_table import pressure_dict

        sys.stdout.write(json.dumps(pressure_dict(report, host), separators=(",", ":")) + "\n")
    else:
        from memtype.output.pressure_table import render
        from memtype.output.table import make_console, show

        show(make_console(args.width), render(report, host))
    sys.stdout.flush()
    return 0
