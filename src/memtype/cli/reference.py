"""The command line as data, for the man page (cli.manpage) and the shell completions
(cli.completion): walked from ``cli.main.full_parser()``, the very parsers ``--help`` prints, so
neither can drift from it (issue 16). Options hidden from ``--help`` (``argparse.SUPPRESS``) are
left out of both too."""

from __future__ import annotations

import argparse
import importlib
import re
from typing import NamedTuple

from memtype.cli import args as types
from memtype.cli.main import COMMANDS, DESCRIPTION, GROUPS, OVERVIEW, full_parser

# What completion offers for a value: "words" (Option.words), PIDs, user names, files, directories, nothing.
COMPLETE = ("words", "pid", "user", "file", "dir", "none")
_FILE_LIKE = re.compile(r"(PATH|FILE|DB|OUT|CAPTURE|TEXTFILE|^A$|^B$)", re.IGNORECASE)


class Option(NamedTuple):
    flags: tuple[str, ...]  # ("-h", "--help")
    values: tuple[str, ...]  # the metavars of the values it takes: () for a flag, ("FROM", "TO") for two
    help: str
    complete: str  # one of COMPLETE
    words: tuple[str, ...]  # complete == "words": the words
    repeat: bool  # may be given more than once (action="append")
    required: bool


class Positional(NamedTuple):
    name: str  # its metavar, as --help shows it
    help: str
    complete: str
    words: tuple[str, ...]
    optional: bool  # nargs "?" or "*"
    many: bool  # nargs "*" or "+"


class Command(NamedTuple):
    name: str  # "" for memtype itself (the overview)
    summary: str
    description: str
    group: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]
    examples: tuple[str, ...]


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text as --help prints it (%(default)s expanded, %% unescaped), on one line."""
    if not action.help:
        return ""
    text = parser._get_formatter()._expand_help(action)  # argparse's own expansion, as --help does
    return " ".join(text.split())


def _completion(action: argparse.Action, name: str) -> tuple[str, tuple[str, ...]]:
    suggested = getattr(action, types.SUGGEST, None)
    if callable(suggested):
        return "words", tuple(str(w) for w in suggested())
    if isinstance(suggested, str):
        if suggested not in COMPLETE:
            raise ValueError(f"suggest({action.dest!r}): {suggested!r} is not one of {COMPLETE}")
        return suggested, ()
    if action.choices is not None:
        return "words", tuple(str(c) for c in action.choices)
    if action.type is types.pid or name.upper() == "PID":
        return "pid", ()
    if name.upper() in ("USER", "UID"):
        return "user", ()
    if name.upper() == "DIR":
        return "dir", ()
    if _FILE_LIKE.search(name):
        return "file", ()
    return "none", ()


def _option(parser: argparse.ArgumentParser, action: argparse.Action) -> Option:
    if action.nargs == 0:
        values: tuple[str, ...] = ()
    else:
        count = action.nargs if isinstance(action.nargs, int) else 1
        metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices
                                     else action.dest.upper())
        values = tuple(metavar) if isinstance(metavar, tuple) else (str(metavar),) * count
    complete, words = _completion(action, values[0] if values else "")
    if not values:
        complete, words = "none", ()
    return Option(tuple(action.option_strings), values, _help(parser, action), complete, words,
                  isinstance(action, argparse._AppendAction), bool(action.required))


def _positional(parser: argparse.ArgumentParser, action: argparse.Action) -> Positional:
    name = action.metavar if isinstance(action.metavar, str) else action.dest
    complete, words = _completion(action, name)
    return Positional(name, _help(parser, action), complete, words, action.nargs in ("?", "*"),
                      action.nargs in ("*", "+"))


def _command(name: str, summary: str, group: str, parser: argparse.ArgumentParser, module_name: str,
             description: str) -> Command:
    options, positionals = [], []
    for action in parser._actions:  # argparse's list of what was added, in order (what --help walks)
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        if action.option_strings:
            options.append(_option(parser, action))
        else:
            positionals.append(_positional(parser, action))
    examples = tuple(getattr(importlib.import_module(module_name), "EXAMPLES", ()))
    return Command(name, summary, " ".join(description.split()), group, tuple(options), tuple(positionals),
                   examples)


def commands() -> tuple[Command, tuple[Command, ...]]:
    """memtype itself, and every command in the order of GROUPS (then any not in a group)."""
    parser, subparsers = full_parser()
    top = _command("", "the machine by kind and the top processes", "", parser, OVERVIEW, DESCRIPTION)
    group_of = {name: group for group, names in GROUPS.items() for name in names}
    order = [n for names in GROUPS.values() for n in names if n in COMMANDS]
    order += [n for n in COMMANDS if n not in order]
    subs = tuple(_command(name, COMMANDS[name][1], group_of.get(name, ""), subparsers[name], COMMANDS[name][0],
                          subparsers[name].description or "") for name in order)
    return top, subs
