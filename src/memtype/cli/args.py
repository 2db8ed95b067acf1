"""Argument types and the options every command shares. A bad value is an argparse error: one line
``memtype: error: ...`` and exit 2, never a traceback (argparse turns only ValueError, TypeError and
ArgumentTypeError into a usage error, so every type here raises one of those and nothing else)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable

MAX_JOBS = 64  # reader threads: more than CPUs only adds contention (collect.scan.default_jobs)
WIDTHS = (20, 1000)  # --width: narrower fits no table; wider is a typo (rich would pad every line to it)
MAX_SIZE = 1 << 60  # 1 EiB: more than any machine has, and a bound on what a size can be
GLOBAL = ("root", "jobs", "debug")  # options every command takes, before or after its name
_SIZE = re.compile(r"(\d{1,20})(?:\.(\d{1,9}))?\s*([KMGTP]?)(?:i?B)?", re.IGNORECASE)
_UNIT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def positive(text: str) -> int:
    """A whole number above 0."""
    if not re.fullmatch(r"\s*\+?\d{1,18}\s*", text):  # ASCII digits only: int() also takes "²" and "1_0"
        raise argparse.ArgumentTypeError(f"not a number: {_shown(text)}")
    n = int(text)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {_shown(text)}")
    return n


def pid(text: str) -> int:
    """A process ID (a positive number; the kernel's limit is 2^22)."""
    try:
        n = positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a PID: {_shown(text)}") from None
    if n > 1 << 22:
        raise argparse.ArgumentTypeError(f"not a PID: {_shown(text)} (PIDs stop at 4194304, PID_MAX_LIMIT)")
    return n


def jobs(text: str) -> int:
    """Reader threads, 1 to MAX_JOBS."""
    n = positive(text)
    if n > MAX_JOBS:
        raise argparse.ArgumentTypeError(f"at most {MAX_JOBS} reader threads: {_shown(text)}")
    return n


def width(text: str) -> int:
    """Columns for the tables (for tests and pipes; a terminal says its own)."""
    n = positive(text)
    if not WIDTHS[0] <= n <= WIDTHS[1]:
        raise argparse.ArgumentTypeError(f"from {WIDTHS[0]} to {WIDTHS[1]} columns: {_shown(text)}")
    return n


def size(text: str) -> int:
    """``4096``, ``512K``, ``1.5G``, ``64MiB`` -> bytes (binary units), above 0 and at most 1 EiB."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {_shown(text)} (bytes, or with K, M, G, T, P)")
    unit = _UNIT[str(m.group(3)).upper()]
    fraction = str(m.group(2) or "")
    n: int = int(str(m.group(1))) * unit + int(fraction or 0) * unit // 10 ** len(fraction)  # exact: no float
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {_shown(text)}")
    if n > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"too large: {_shown(text)} (at most 1P)")
    return n


def seconds(text: str) -> float:
    """An interval in seconds, from 0.1 to 3600 (``2``, ``0.5``)."""
    if not re.fullmatch(r"\s*\d{1,4}(\.\d{1,6})?\s*", text):  # no nan, inf, exponents or signs
        raise argparse.ArgumentTypeError(f"not a number of seconds: {_shown(text)}")
    n = float(text)
    if not 0.1 <= n <= 3600:
        raise argparse.ArgumentTypeError(f"from 0.1 to 3600 seconds: {_shown(text)}")
    return n


_SPAN = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)\s*(s|m|h|d|w)?", re.IGNORECASE)
_SPAN_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def span(text: str) -> float:
    """A length of time: ``90`` or ``90s``, ``10m``, ``12h``, ``7d``, ``2w`` -> seconds, above 0."""
    m = _SPAN.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a length of time: {_shown(text)} (e.g. 90s, 10m, 12h, 7d)")
    n = float(m.group(1)) * _SPAN_UNIT[str(m.group(2) or "").lower()]
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {_shown(text)}")
    return n


def pages(text: str) -> float:
    """A number of pages, 1 or more (a folio holds at least one), finite."""
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {_shown(text)}") from None
    if not 1 <= n <= 1 << 20:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"from 1 to {1 << 20} pages: {_shown(text)}")
    return n


def _shown(text: str) -> str:
    """The value as the error message quotes it: a 400-digit argument is not echoed whole."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def add_global(p: argparse.ArgumentParser, *, top_level: bool) -> None:
    """--root, --jobs and --debug: every command takes them, before its name or after it.

    The top-level parser keeps them in ``global_*``; a command's parser adds nothing unless they are
    given after its name (``argparse.SUPPRESS``). ``merge_global`` then picks one value for each."""
    suppress = {} if top_level else {"default": argparse.SUPPRESS}
    prefix = "global_" if top_level else ""
    root = p.add_argument("--root", dest=prefix + "root", metavar="DIR", **suppress,  # type: ignore[arg-type]
                          help="analyse a captured machine: a directory standing for / or a .tar.gz from "
                          "`memtype snapshot`")
    suggest(root, "file")  # a directory or a .tar.gz
    p.add_argument("--jobs", dest=prefix + "jobs", type=jobs, metavar="N", **suppress,  # type: ignore[arg-type]
                   help=f"reader threads (default: one per CPU, at most 4; 1 = least impact on a busy host; "
                   f"at most {MAX_JOBS})")
    p.add_argument("--debug", dest=prefix + "debug", action="store_true", **suppress,  # type: ignore[arg-type]
                   help="show a traceback on errors")


def merge_global(args: argparse.Namespace) -> str | None:
    """Give ``args`` one ``root``, ``jobs`` and ``debug``: the command's, else the one given before the
    command, else the default. Returns an error message when both were given and differ."""
    defaults = {"root": "/", "jobs": None, "debug": False}
    for name in GLOBAL:
        before = getattr(args, "global_" + name, None)
        after = getattr(args, name, None)
        if before is not None and after is not None and before != after and name != "debug":
            return f"--{name} given twice, before and after the command: {before!r} and {after!r}"
        value = after if after is not None else before
        setattr(args, name, defaults[name] if value is None else value)
    args.debug = bool(getattr(args, "global_debug", False) or args.debug)
    return None


def add_width(p: argparse.ArgumentParser) -> None:
    """The hidden --width of every command that prints a table (tests, pipes)."""
    p.add_argument("--width", type=width, default=None, help=argparse.SUPPRESS)


SUGGEST = "memtype_suggest"  # the attribute suggest() sets on an argparse action (read by cli.reference)


def suggest(action: argparse.Action, words: Callable[[], Iterable[str]] | str) -> argparse.Action:
    """What shell completion offers for this option's value (the man page and completion scripts,
    cli.reference): a callable returning the words, called only when a script is made (never on a
    command's own path), or one of "pid", "user", "file", "dir", "none". Without it: the choices;
    ``type=pid``: PIDs; a metavar such as PATH, FILE, DIR, DB or OUT: files; else nothing."""
    setattr(action, SUGGEST, words)
    return action
