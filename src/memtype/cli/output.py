"""Writing results to stdout, with one policy for an output that goes away.

A closed pipe (``memtype ps | head``) ends the command quietly (``cli.main``); any other failure to
write (``> /dev/full``, a closed or revoked terminal) is one error line and exit 1. Either way stdout
is pointed at /dev/null afterwards, so the interpreter's last flush cannot fail a second time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from memtype.errors import OutputError

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    import argparse

    from rich.console import Console, RenderableType


def text(body: str) -> None:
    """Write ``body`` (JSON, CSV) to stdout and flush it."""
    try:
        sys.stdout.write(body)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _failed(exc) from None


@contextmanager
def writing() -> Iterator[None]:
    """Around code that writes to stdout itself (the streaming JSON writers of ``files``)."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _failed(exc) from None


def console(args: argparse.Namespace) -> Console:
    """The console of a table command: ``--width`` if given, else the terminal's (80 for a pipe)."""
    from memtype.output.console import make_console  # rich: only for tables

    return make_console(getattr(args, "width", None))


def table(out: Console, renderable: RenderableType) -> None:
    """Print a table (or a group of them) without trailing blanks, and flush."""
    from memtype.output.console import show

    try:
        show(out, renderable)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _failed(exc) from None


def quiet_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered goes nowhere instead of failing again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _failed(exc: OSError) -> OutputError:
    quiet_stdout()
    return OutputError(f"cannot write the output: {exc.strerror or exc}")
