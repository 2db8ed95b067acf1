"""``memtype completion SHELL``: the shell completion script for bash, zsh or fish, made from the
same parsers as ``--help`` (commands, options, choices, --sort columns, PIDs)."""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh", "fish")  # cli.completion.SHELLS; not imported here: the script is made only in run
DESCRIPTION = ("Print the completion script for SHELL: commands, options, their choices, --sort columns, and "
               "PIDs where one is asked for. `memtype install completion` puts all three where the shells look.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    'source <(memtype completion bash)      # completion in this bash session',
    "memtype completion fish > ~/.config/fish/completions/memtype.fish   # for every fish session",
    "sudo memtype install completion        # bash, zsh and fish, system-wide",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


def run(args: argparse.Namespace) -> int:
    from memtype.cli import completion

    sys.stdout.write(completion.render(args.shell))
    return 0
