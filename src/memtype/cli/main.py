"""memtype's command line: argparse front end over the library. The only place that exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

TYPE_CHECKING = False  # typing costs ~5 ms of start-up
if TYPE_CHECKING:
    from typing import Any

from memtype._version import __version__
from memtype.errors import MemtypeError, UsageError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


_HELP_WIDTH: list[int] = []


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse asks the terminal's size for every argument it adds (~70 us each, ~90 arguments):
    ask once."""
    if not _HELP_WIDTH:
        import shutil

        _HELP_WIDTH.append(shutil.get_terminal_size().columns - 2)
    return argparse.HelpFormatter(prog, width=_HELP_WIDTH[0])


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"memtype: error: {message} (see: memtype --help)\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", metavar="DIR", default="/",
                   help="analyse a captured machine: a directory standing for / or a .tar.gz from `memtype snapshot`")
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")
    p.add_argument("--jobs", type=_positive, default=None, metavar="N",
                   help="reader threads (default: one per CPU, at most 4; 1 = least impact on a busy host)")


def build_parser() -> argparse.ArgumentParser:
    from memtype.cli import commands

    parser = _Parser(prog="memtype", description=(
        "What kind of memory this machine uses: anonymous, shared, copy-on-write, file, device, and swap. "
        "With no command: the machine by kind and the top processes."))
    parser.add_argument("--version", action="version", version=f"memtype {__version__}")
    _common(parser)
    parser.add_argument("--top", type=_positive, default=15, metavar="N", help="processes to show (default 15)")
    parser.add_argument("--width", type=_positive, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=commands.overview)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ps = sub.add_parser("ps", help="one row per process (or program/user) split by kind",
                        description="One row per process: RSS, PSS, USS, swap and resident bytes per kind.")
    _common(ps)
    ps.add_argument("--pid", type=_pid, action="append", metavar="PID", help="only this PID (repeatable)")
    ps.add_argument("--user", metavar="USER", help="only processes of this user (name or uid)")
    ps.add_argument("--name", metavar="REGEX", help="only processes whose name or program matches")
    ps.add_argument("--sort", default="pss", metavar="COLUMN", help="column to sort by, descending "
                    "(pid, name, user, rss, pss, uss, swap, anonymous, shared, cow, file, device; default pss)")
    ps.add_argument("--top", type=_positive, metavar="N", help="only the first N rows")
    ps.add_argument("--group", choices=("process", "program", "user", "cgroup"), default="process",
                    help="one row per process (default), per program (same executable, like ps_mem), per user, "
                    "or per memory cgroup (container)")
    ps.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ps.add_argument("--cmdline", action="store_true", help="include command lines (JSON/CSV; sensitive)")
    ps.add_argument("--exact", action="store_true", help="classify every page (pagemap + kpageflags; root)")
    ps.add_argument("--cgroup", action="store_true",
                    help="show each process's memory cgroup (a column, and \"cgroup\" in JSON/CSV); reading "
                    "/proc/PID/cgroup costs about 15%% more time, so it is not read by default")
    ps.add_argument("--width", type=_positive, default=None, help=argparse.SUPPRESS)
    ps.set_defaults(func=commands.ps)

    maps = sub.add_parser("maps", help="one row per mapping of a process (pmap -X style) split by kind",
                          description="Mappings of PID with their kind; --group path sums them by file; "
                          "--all covers every process (which library or file costs how much).")
    _common(maps)
    maps.add_argument("pid", type=_pid, nargs="?", help="the process")
    maps.add_argument("--all", action="store_true", help="every process (use with --group path)")
    maps.add_argument("--group", choices=("mapping", "path"), default="mapping")
    maps.add_argument("--sort", default=None, metavar="COLUMN", help="sort by this column, descending")
    maps.add_argument("--top", type=_positive, metavar="N", help="only the first N rows")
    maps.add_argument("--format", choices=("table", "json", "csv"), default="table")
    maps.add_argument("--exact", action="store_true", help="classify every page (pagemap + kpageflags; root)")
    maps.add_argument("--width", type=_positive, default=None, help=argparse.SUPPRESS)
    maps.set_defaults(func=commands.maps)

    snap = sub.add_parser("snapshot", help="capture what memtype needs from this machine",
                          description="Copy /proc and cgroup files memtype reads into OUT (a directory, or a "
                          ".tar.gz when OUT ends so), with manifest.json. Never copies environ.")
    _common(snap)
    snap.add_argument("out", metavar="OUT", help="new directory, or FILE.tar.gz")
    snap.add_argument("--redact", action="store_true", help="drop command lines (keep only process names)")
    snap.add_argument("--pid", type=_pid, action="append", metavar="PID", help="only this PID (repeatable)")
    snap.add_argument("--exact", action="store_true",
                      help="also store /proc/kpageflags and /proc/kpagecount (compressed) for `system --exact`")
    snap.set_defaults(func=commands.snapshot)

    from memtype.cli import cgroups_cmd, files_cmd, pressure_cmd, swap_cmd, system_cmd

    for command in (system_cmd, cgroups_cmd, swap_cmd, pressure_cmd, files_cmd):
        command.add_parser(sub, _common)
    return parser


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return n


def _pid(text: str) -> int:
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a PID: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MemtypeError as exc:
        if args.debug:
            raise
        print(f"memtype: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `memtype ps | head`: stop quietly (Python docs, "Note on SIGPIPE")
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # never a traceback for the user (style.md rule 5)
        if args.debug:
            raise
        print(f"memtype: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return EXIT_INTERNAL
