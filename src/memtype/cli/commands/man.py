"""``memtype man``: the man page memtype.1 (roff), made from the same parsers as ``--help``."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = ("Print the man page memtype.1 (roff), made from the same definitions as --help, so the two never "
               "differ. `memtype install man` puts it where man finds it.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    "memtype man | man -l -                 # read the page without installing it",
    "memtype man > memtype.1                # the page as a file, for a package",
    "sudo memtype install man               # into /usr/local/share/man/man1 (then: man memtype)",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    del p  # no options of its own


def run(args: argparse.Namespace) -> int:
    from memtype.cli import manpage

    sys.stdout.write(manpage.render())
    return 0
