"""``memtype lab [KIND ...]``: make each kind of memory in real child processes and show, side by side, what was
made and what memtype measures (``memtype.lab``); every process, segment and swapfile goes at the end,
also on Ctrl-C and SIGTERM, unless ``--keep`` leaves the processes running."""

from __future__ import annotations

import argparse
import signal

from memtype.cli import args as types, output
from memtype.cli.formats import write_json
from memtype.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

DESCRIPTION = ("Make each kind of memory (anonymous, shared, cow, file, device, swap) in real child processes "
               "and show what was made beside what memtype measures, with why; a self-check that says what "
               "this machine lacks (swap, root, a readable /proc). Cleans up everything unless --keep.")
EXAMPLES = (
    "memtype lab  # every kind, made and measured, then cleaned up",
    "memtype lab cow shared --size 128M  # two kinds, 128 MiB each",
    "memtype lab cow --keep  # leave the processes running, to look at with memtype explain PID",
)
KINDS = ("anonymous", "shared", "cow", "file", "device", "swap")
MAX_SIZE = 1 << 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kinds", nargs="*", metavar="KIND", help=f"which kinds (default all): {', '.join(KINDS)}")
    p.add_argument("--size", type=types.size, default=64 << 20, metavar="SIZE",
                   help="bytes per kind (default 64M, at most 1G)")
    p.add_argument("--keep", action="store_true", help="leave the processes running and print their PIDs")
    p.add_argument("--format", choices=("table", "json"), default="table", help="text (default) or json")
    types.add_width(p)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"no kind {unknown[0]!r}: the kinds are {', '.join(KINDS)}")
    if args.root not in (None, "/"):
        raise UsageError("lab makes memory on this machine: --root does not apply")
    if args.size > MAX_SIZE or args.size < 1 << 20:
        raise UsageError("--size from 1M to 1G")
    size = args.size & ~((1 << 20) - 1)  # whole MiB: the forms split it in halves and quarters
    from memtype.lab.runner import Lab

    previous = signal.signal(signal.SIGTERM, _interrupted)  # SIGTERM unwinds as Ctrl-C: the cleanup runs
    try:
        with Lab(size, keep=args.keep) as lab:
            rows = [row for kind in (args.kinds or KINDS) for row in lab.run(kind)]
            kept = list(lab.kept)
    finally:
        signal.signal(signal.SIGTERM, previous)
    notes = ["measured within a second of making each kind: DAMON or kswapd may reclaim idle memory later "
             "(kernel-spec.md surprise 16)"]
    if args.format == "json":
        write_json({"lab": [r.as_dict() for r in rows], "kept": kept, "size": size})
    else:
        from memtype.output.lab_text import lab_text

        output.text(lab_text(rows, output.console(args).width, kept, notes))
    return 0 if all(r.ok is not False for r in rows) else 1
