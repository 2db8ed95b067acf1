"""`memtype system`: every byte of MemTotal by kind (meminfo, or --exact from kpageflags)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("system", help="the whole machine by kind; the rows add up to MemTotal",
                       description="Every byte of MemTotal by kind, from /proc/meminfo (default) or a full "
                       "kpageflags/kpagecount scan (--exact, root).")
    common(p)
    p.add_argument("--exact", action="store_true", help="scan /proc/kpageflags and /proc/kpagecount (root)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from memtype.errors import MemtypeError

    raise MemtypeError("memtype system is not implemented yet")
