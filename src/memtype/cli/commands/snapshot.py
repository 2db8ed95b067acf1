"""``memtype snapshot OUT``: capture what memtype reads from this machine (never ``environ``)."""

from __future__ import annotations

import argparse
import sys

from memtype.cli import args as types, notes
from memtype.errors import UsageError

DESCRIPTION = ("Copy /proc and cgroup files memtype reads into OUT (a directory, or a .tar.gz when OUT ends so), "
               "with manifest.json. Never copies environ.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'memtype snapshot /tmp/box.tar.gz       # capture this machine (read it anywhere with --root)',
    'memtype snapshot --redact /tmp/box.tar.gz   # the same, no command lines, paths hidden, to share',
    'memtype --root /tmp/box.tar.gz system  # any command reads the capture instead of this machine',
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT", help="new directory, or FILE.tar.gz")
    p.add_argument("--redact", action="store_true", help="drop command lines (keep only process names)")
    p.add_argument("--pid", type=types.pid, action="append", metavar="PID", help="only this PID (repeatable)")
    p.add_argument("--exact", action="store_true",
                   help="also store /proc/kpageflags and /proc/kpagecount (compressed) for `system --exact`")


def run(args: argparse.Namespace) -> int:
    from memtype.source.capture import capture

    if args.root != "/":
        raise UsageError("snapshot captures this machine; --root is not supported here")
    from memtype.collect.gpu.capture import record_gpu
    from memtype.collect.shm_capture import record_shm

    report = capture(args.out, pids=args.pid, redact=args.redact, exact=args.exact,
                     recorders=(record_shm, record_gpu))
    print(f"memtype: captured {notes.count(report.processes)} ({notes.count(report.files, 'file')}) into "
          f"{report.out}", file=sys.stderr)
    for line in report.notes:
        notes.note(line)
    return 0
