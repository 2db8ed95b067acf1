"""memtype's command line: argparse over the library, and the only place that exits.

The commands live in ``cli.commands``, one module each; ``COMMANDS`` names them with a one-line
summary (pip's ``commands/__init__.py`` style), and only the module of the command given is imported:
start-up time is benchmarked, and ``memtype ps`` should not pay for ``files`` or ``pressure``.
``GROUPS`` sorts them by job for ``memtype --help``; each module's ``EXAMPLES`` end its ``--help``.
``full_parser`` builds every command's parser at once, for the man page and shell completion
(``cli.reference``), so they are made from the same definitions as ``--help``.

Exit codes: 0 done (bulk views may print notes about what they could not read), 1 an error
(``memtype: error: ...`` on one line), 2 a usage error, 3 an internal error (a bug; ``--debug`` shows
the traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

TYPE_CHECKING = False  # typing costs ~5 ms of start-up
if TYPE_CHECKING:
    from typing import Any

from memtype._version import __version__
from memtype.cli import args as types, when
from memtype.errors import MemtypeError, UsageError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# name -> (module, summary for `memtype --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "ps": ("memtype.cli.commands.ps", "one row per process (or program/user/cgroup) split by kind"),
    "maps": ("memtype.cli.commands.maps", "one row per mapping of a process (pmap -X style) split by kind"),
    "snapshot": ("memtype.cli.commands.snapshot", "capture what memtype needs from this machine"),
    "system": ("memtype.cli.commands.system", "the whole machine by kind; the rows add up to MemTotal"),
    "cgroups": ("memtype.cli.commands.cgroups",
                "memory cgroups (containers, pods, units) by kind, with limits and swap"),
    "swap": ("memtype.cli.commands.swap", "swap devices, swappiness, zswap/zram, and who is in swap"),
    "pressure": ("memtype.cli.commands.pressure",
                 "what-if: what the kernel would take if N more bytes were needed"),
    "files": ("memtype.cli.commands.files", "which files sit in the page cache, and who maps or holds them"),
    "top": ("memtype.cli.commands.top", "a live full-screen view: the machine and every process by kind, each tick"),
    "record": ("memtype.cli.commands.record", "record this machine's memory into a history database (SQLite)"),
    "history": ("memtype.cli.commands.history", "what a database of `memtype record` holds; export or cut a range"),
    "diff": ("memtype.cli.commands.diff", "what grew, shrank, appeared and went away between two captures or times"),
    "exporter": ("memtype.cli.commands.exporter", "serve the machine, programs and cgroups by kind to Prometheus"),
    "explain": ("memtype.cli.commands.explain", "in words: the machine's findings, a process's kinds and why"),
    "shm": ("memtype.cli.commands.shm", "every shared-memory object, who holds it, orphans, and where Shmem is"),
    "lab": ("memtype.cli.commands.lab", "make each kind of memory in real processes and measure it beside what was made"),
    "report": ("memtype.cli.commands.report", "one self-contained HTML file of charts (inline SVG, offline) to share"),
    "reclaim": ("memtype.cli.commands.reclaim", "who is taking memory back: kswapd, direct, proactive, DAMON..."),
    "install": ("memtype.cli.commands.install",
                "put the man page, shell completions or systemd units where the system finds them"),
    "man": ("memtype.cli.commands.man", "print the man page memtype.1 (made from these options)"),
    "completion": ("memtype.cli.commands.completion", "print the bash, zsh or fish completion script"),
}
# `memtype --help` lists the commands by job, in this order. Every command of COMMANDS is in exactly one
# group and its module defines EXAMPLES (tests/test_help.py says what is missing).
GROUPS: dict[str, tuple[str, ...]] = {
    "look now": ("ps", "maps", "system", "cgroups", "swap", "reclaim", "shm", "files"),
    "watch": ("top",),
    "record": ("record", "history", "snapshot", "diff"),
    "export": ("exporter", "report"),
    "explain": ("explain", "pressure", "lab"),
    "set up": ("install", "man", "completion"),
}
OVERVIEW = "memtype.cli.commands.overview"
_HELP_WIDTH: list[int] = []


DESCRIPTION = ("What kind of memory this machine uses: anonymous, shared, copy-on-write, file, device, and swap. "
               "With no command: the machine by kind and the top processes. Sizes are binary: K, M, G = KiB, MiB, "
               "GiB.")
EXIT_STATUS = "exit status: 0 done, 1 error, 2 usage error, 3 internal error (a bug), 130 interrupted"


def help_width() -> int:
    """argparse asks the terminal's size for every argument it adds (~70 us each): ask once."""
    if not _HELP_WIDTH:
        import shutil

        _HELP_WIDTH.append(max(40, shutil.get_terminal_size().columns - 2))
    return _HELP_WIDTH[0]


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's, but a description or epilog with line breaks is laid out already (examples, the
    command groups) and kept as it is; one without is wrapped as usual."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line if line else line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return _HelpFormatter(prog, width=help_width())


def examples_text(examples: Sequence[str]) -> str:
    """A command's EXAMPLES as the end of its --help."""
    return "examples:\n" + "\n".join("  " + e for e in examples)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"memtype: error: {message} (see: memtype --help)\n")


class _TopParser(_Parser):
    """``memtype --help``: the commands by job (GROUPS) after the description, examples at the end; made
    only when help is asked for (the summaries' layout costs nothing on the ``memtype ps`` path)."""

    def format_help(self) -> str:
        import importlib
        import textwrap

        width = help_width()
        name_width = max(len(n) for n in COMMANDS) + 2
        lines = [*textwrap.wrap(DESCRIPTION, width), "", "commands (memtype COMMAND --help for each):"]
        for group, names in GROUPS.items():
            lines.append(f"  {group}:")
            for name in names:
                if name in COMMANDS:  # a group may name a command another branch has not landed yet
                    lines += textwrap.wrap(COMMANDS[name][1], width, initial_indent=f"    {name:<{name_width}}",
                                           subsequent_indent=" " * (4 + name_width))
        self.description = "\n".join(lines)
        overview = importlib.import_module(OVERVIEW)
        self.epilog = examples_text(overview.EXAMPLES) + "\n\n" + EXIT_STATUS
        return super().format_help()


class _Version(argparse.Action):
    """``--version``: the version, and which smaps reader this install uses (the compiled one is built
    only where a C compiler was present at install time). Imports the parser module only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and which smaps reader is in use, and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sys.stdout.write(f"memtype {__version__}\n{reader_line()}\n")
        parser.exit(0)


def reader_line() -> str:
    """One line: the compiled smaps reader and where it was loaded from, or why it is pure Python."""
    import os

    from memtype.parse import smaps

    module = smaps.compiled()
    if module is not None:
        return f"smaps reader: compiled ({os.path.basename(getattr(module, '__file__', None) or '_smaps')})"
    if os.environ.get("MEMTYPE_PURE_PYTHON") == "1":
        return "smaps reader: pure Python (MEMTYPE_PURE_PYTHON=1)"
    return ("smaps reader: pure Python (no compiled reader in this install: it is built where a C compiler and "
            "Python headers are present; about 7x slower)")


def build_parser() -> tuple[_Parser, dict[str, _Parser]]:
    """The top-level parser, and one empty parser per command (``add_command`` fills one in)."""
    parser = _TopParser(prog="memtype", description=DESCRIPTION, epilog=EXIT_STATUS,
                        usage="%(prog)s [OPTIONS] [COMMAND [COMMAND-OPTIONS]]")
    parser.add_argument("--version", action=_Version)
    types.add_global(parser, top_level=True)
    parser.add_argument("--top", dest="overview_top", type=types.positive, default=None, metavar="N",
                        help="processes to show, with no command (default 15)")
    parser.add_argument("--width", dest="overview_width", type=types.width, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--format", dest="overview_format", choices=("table", "json", "csv"), default=None,
                        help="with no command: table (default), json, or csv (--table processes or machine)")
    parser.add_argument("--fields", dest="overview_fields", metavar="ID,...", default=None,
                        help="with no command: the CSV's columns, by field id")
    parser.add_argument("--table", dest="overview_table", choices=("processes", "machine"), default=None,
                        help="with no command: which table --format csv writes (default processes)")
    parser.add_argument("--db", dest="overview_db", metavar="DB", default=None,
                        help="with no command: read a database of `memtype record` (with --at TIME)")
    parser.add_argument("--at", dest="overview_at", metavar="TIME", type=when.time_arg, default=None,
                        help="with no command and --db: the sample nearest to TIME (default: the latest)")
    # The commands are listed by _TopParser.format_help, grouped: not by argparse (help=SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, help=argparse.SUPPRESS,
                                prog="memtype")
    subparsers = {name: sub.add_parser(name, add_help=False) for name in COMMANDS}
    return parser, subparsers


def add_command(p: argparse.ArgumentParser, module: Any) -> None:
    """Give a command's parser its description, options and examples, from its module."""
    p.description = module.DESCRIPTION
    examples = getattr(module, "EXAMPLES", ())
    p.epilog = examples_text(examples) if examples else None
    p.add_argument("-h", "--help", action="help", help="show this help message and exit")
    types.add_global(p, top_level=False)
    module.add_arguments(p)


def full_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """Every command's parser filled in (imports every command module): the man page and completion."""
    import importlib

    parser, subparsers = build_parser()
    for name, p in subparsers.items():
        add_command(p, importlib.import_module(COMMANDS[name][0]))
    return parser, dict(subparsers)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Two passes: the first finds the command's name, the second parses with its options only."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    first, _ = parser.parse_known_args(argv)
    import importlib

    module = importlib.import_module(COMMANDS[first.command][0] if first.command else OVERVIEW)
    if first.command:
        add_command(subparsers[first.command], module)
    args = parser.parse_args(argv)
    args.run = module.run
    problem = types.merge_global(args)
    if problem:
        parser.error(problem)
    overview = {"--top": args.overview_top, "--width": args.overview_width, "--format": args.overview_format,
                "--fields": args.overview_fields, "--table": args.overview_table, "--db": args.overview_db,
                "--at": args.overview_at}
    if args.command is None:
        args.top, args.width, args.fields = args.overview_top, args.overview_width, args.overview_fields
        args.format, args.table = args.overview_format or "table", args.overview_table or "processes"
        args.db, args.at = args.overview_db, args.overview_at
    else:
        for option, value in overview.items():
            if value is not None:  # never accepted and then ignored (issue 8, item 1)
                parser.error(f"{option} before the command is the overview's (memtype {option} {value}); for "
                             f"`memtype {args.command}` put it after the command's name")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from memtype.cli import notes, output

    notes.reset()
    args = parse(argv)
    if sys.stdout is None:  # started with stdout closed (`memtype ps >&-`)
        print("memtype: error: standard output is closed", file=sys.stderr)
        return EXIT_ERROR
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:  # a name the kernel gave as bytes (surrogateescape) prints as \udcNN, not a crash
        reconfigure(errors="backslashreplace")
    try:
        return int(args.run(args))
    except MemtypeError as exc:
        if args.debug:
            raise
        print(f"memtype: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `memtype ps | head`: stop quietly (Python docs, "Note on SIGPIPE")
        output.quiet_stdout()
        return EXIT_OK
    except Exception as exc:  # never a traceback for the user (style.md rule 5)
        if args.debug:
            raise
        print(f"memtype: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return EXIT_INTERNAL
