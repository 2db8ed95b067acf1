"""memtype.1: the man page, in man(7) roff, made from the parsers ``--help`` prints (cli.reference).

``memtype man`` prints it; ``memtype install man`` puts it where man(1) finds it. A small generator of
our own rather than argparse-manpage: that one reads one parser, and memtype's commands get their
options only in the second pass of ``cli.main.parse`` (their modules are imported on demand).
Checked with ``man --warnings -l`` (tests/test_reference.py).
"""

from __future__ import annotations

import re

from memtype._version import __version__
from memtype.cli.main import EXIT_STATUS, GROUPS
from memtype.cli.reference import Command, Option, Positional, commands

SEE_ALSO = ("smem(8)", "ps_mem(1)", "htop(1)", "pmap(1)", "free(1)", "proc(5)", "systemd.exec(5)")
ENVIRONMENT = (
    ("MEMTYPE_PURE_PYTHON", "1: read smaps with the pure-Python parser even where the compiled one is installed "
     "(to compare; memtype --version says which is in use)."),
    ("XDG_STATE_HOME", "where memtype record keeps its database when not run as root "
     "(default ~/.local/state/memtype/memtype.db)."),
)
FILES = (("/var/lib/memtype/memtype.db", "the history database of memtype record when run as root "
          "(the memtype-record service)."),)
_CODE = re.compile(r"`([^`]+)`")


def escape(text: str) -> str:
    """Text for a roff line: backslashes and the option dashes escaped, `code` in bold, and a line
    never starts with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = _CODE.sub(lambda m: "\\fB" + m.group(1) + "\\fR", text)
    return "\\&" + text if text[:1] in (".", "'") else text


def _flag(option: Option) -> str:
    flags = ", ".join(f"\\fB{escape(f)}\\fR" for f in option.flags)
    return flags + "".join(f" \\fI{escape(v)}\\fR" for v in option.values)


def _synopsis(cmd: Command) -> list[str]:
    words = [f"[\\fB{escape(o.flags[-1])}\\fR" + "".join(f" \\fI{escape(v)}\\fR" for v in o.values) + "]"
             for o in cmd.options if not o.required]
    words += [f"\\fB{escape(o.flags[-1])}\\fR" + "".join(f" \\fI{escape(v)}\\fR" for v in o.values)
              for o in cmd.options if o.required]
    words += [_positional_word(p) for p in cmd.positionals]
    return [".HP 4", f"\\fBmemtype {escape(cmd.name)}\\fR " + " ".join(words)]


def _positional_word(p: Positional) -> str:
    word = f"\\fI{escape(p.name)}\\fR" + (" ..." if p.many else "")
    return f"[{word}]" if p.optional else word


def _options(cmd: Command) -> list[str]:
    lines = []
    for p in cmd.positionals:
        lines += [".TP", f"\\fI{escape(p.name)}\\fR", escape(p.help or p.name)]
    for o in cmd.options:
        help_text = o.help or ("one of: " + ", ".join(o.words) if o.words else "")
        lines += [".TP", _flag(o), escape(help_text + (" (repeatable)" if o.repeat and "repeat" not in help_text
                                                        else ""))]
    return lines


def _examples(examples: tuple[str, ...]) -> list[str]:
    if not examples:
        return []
    lines = [".PP", "Examples:", ".RS 4"]
    for e in examples:  # "memtype ...  # what it shows": the command, then what it shows below it
        command, _, what = e.partition("  # ")
        lines += [".PP", f"\\fB{escape(command.strip())}\\fR", ".br", escape(what.strip())]
    return lines + [".RE"]


def render() -> str:
    """The whole page."""
    top, subs = commands()
    out = [f'.TH MEMTYPE 1 "" "memtype {__version__}" "User Commands"',
           ".nh",  # no hyphenation: option names and field ids stay whole
           ".ad l",
           ".SH NAME",
           "memtype \\- what kind of memory a Linux machine uses: anonymous, shared, copy\\-on\\-write, file, "
           "device, swap",
           ".SH SYNOPSIS",
           ".B memtype",
           "[\\fIOPTIONS\\fR]",
           ".br",
           ".B memtype",
           "\\fICOMMAND\\fR [\\fICOMMAND\\-OPTIONS\\fR]",
           ".SH DESCRIPTION",
           escape(top.description),
           ".PP",
           "Every command takes \\fB\\-\\-root\\fR, \\fB\\-\\-jobs\\fR and \\fB\\-\\-debug\\fR, before or after "
           "its name; \\fBmemtype \\fICOMMAND\\fB \\-\\-help\\fR prints a command's options.",
           ".SH OPTIONS",
           "With no command, memtype shows the machine by kind and the top processes by PSS.",
           *_options(top),
           *_examples(top.examples),
           ".SH COMMANDS"]
    for group, names in GROUPS.items():
        listed = [c for c in subs if c.group == group]
        if listed:
            out += [".TP", f"\\fI{escape(group)}\\fR", ", ".join(f"\\fB{escape(c.name)}\\fR" for c in listed)]
    for cmd in subs:
        out += [f'.SS "memtype {escape(cmd.name)}"', escape(cmd.summary[:1].upper() + cmd.summary[1:]) + ".",
                *_synopsis(cmd), ".PP", escape(cmd.description), *_options(cmd), *_examples(cmd.examples)]
    out += [".SH \"EXIT STATUS\"", escape(EXIT_STATUS.partition(": ")[2]) + ".",
            ".SH ENVIRONMENT"]
    for name, what in ENVIRONMENT:
        out += [".TP", f"\\fB{escape(name)}\\fR", escape(what)]
    out += [".SH FILES"]
    for name, what in FILES:
        out += [".TP", f"\\fI{escape(name)}\\fR", escape(what)]
    out += [".SH \"SEE ALSO\"",
            ", ".join(f"\\fB{escape(s.partition('(')[0])}\\fR({s.partition('(')[2]}" for s in SEE_ALSO)]
    return "\n".join(out) + "\n"
