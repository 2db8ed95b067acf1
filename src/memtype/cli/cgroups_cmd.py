"""`memtype cgroups` (not implemented yet: the parser is registered so the command says so)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

IMPLEMENTED = False


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    if not IMPLEMENTED:
        return
    p = sub.add_parser("cgroups")
    common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return 0
