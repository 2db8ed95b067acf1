"""Shell completion scripts for bash, zsh and fish, made from the parsers ``--help`` prints
(cli.reference): commands, every option, choices (``--format``, ``--group``...), ``--sort``
columns (``args.suggest``), PIDs where a PID is asked for (``maps``), files, users.

``memtype completion SHELL`` prints one; ``memtype install completion`` puts all three where the
shells look. Generated here rather than with shtab: shtab reads one parser (memtype's commands get
their options in the second pass of ``cli.main.parse``) and writes no fish. Each script is loaded
and exercised in its shell by tests/test_reference.py.
"""

from __future__ import annotations

import re

from memtype.cli.reference import Command, Option, Positional, commands

SHELLS = ("bash", "zsh", "fish")
_WORD = re.compile(r"^[A-Za-z0-9_.:+,=/-]+$")


def _words(words: tuple[str, ...]) -> str:
    """Completion words as one space-separated string; anything a shell could read as syntax is left out."""
    return " ".join(w for w in words if _WORD.match(w))


def _short(help_text: str, limit: int = 70) -> str:
    """A description for a completion menu: the first clause, on one line, no brackets or quotes."""
    text = re.split(r"(?<=[a-z)])[.;] ", help_text, maxsplit=1)[0].rstrip(".")
    text = text.replace("[", "(").replace("]", ")").replace("'", "").replace('"', "").replace("`", "")
    text = text.replace("\\", "").replace("$", "")
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def render(shell: str) -> str:
    top, subs = commands()
    if shell == "bash":
        return _bash(top, subs)
    if shell == "zsh":
        return _zsh(top, subs)
    if shell == "fish":
        return _fish(top, subs)
    raise ValueError(f"no completion for {shell!r}; one of {', '.join(SHELLS)}")


# --- bash ------------------------------------------------------------------------------------------

_BASH_VALUE = {
    "pid": 'COMPREPLY=($(compgen -W "$(_memtype_pids)" -- "$cur"))',
    "user": 'COMPREPLY=($(compgen -u -- "$cur"))',
    "file": 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))',
    "dir": 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))',
    "none": "COMPREPLY=()",
}


def _bash_value(complete: str, words: tuple[str, ...]) -> str:
    if complete == "words":
        return f'COMPREPLY=($(compgen -W "{_words(words)}" -- "$cur"))'
    return _BASH_VALUE[complete]


def _bash(top: Command, subs: tuple[Command, ...]) -> str:
    takes_value = [f for o in top.options if o.values for f in o.flags]
    cases = []
    for cmd in (top, *subs):
        for o in cmd.options:
            if o.values:
                pattern = "|".join(f'"{cmd.name} {f}"' for f in o.flags)
                cases.append(f"        {pattern}) {_bash_value(o.complete, o.words)}; return ;;")
    option_cases = [f'        "{c.name}") words="{" ".join(f for o in c.options for f in o.flags)}" ;;'
                    for c in (top, *subs)]
    positional_cases = [f'        "{c.name}") {_bash_value(c.positionals[0].complete, c.positionals[0].words)} ;;'
                        for c in subs if c.positionals]
    return "\n".join([
        "# bash completion for memtype: `memtype completion bash`, made from its argument parsers",
        "_memtype_pids() { local p; for p in /proc/[0-9]*; do printf '%s\\n' \"${p#/proc/}\"; done; }",
        "_memtype() {",
        '    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" words i w',
        "    for ((i = 1; i < COMP_CWORD; i++)); do  # the command: the first word not an option or its value",
        "        w=${COMP_WORDS[i]}",
        "        case $w in",
        f"            {'|'.join(takes_value)}) ((i++)) ;;",
        "            -*) ;;",
        "            *) cmd=$w; break ;;",
        "        esac",
        "    done",
        '    case "$cmd $prev" in  # the value of the option before the cursor',
        *cases,
        "    esac",
        '    if [[ $cur == -* ]]; then',
        '        case "$cmd" in',
        *option_cases,
        "        esac",
        '        COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        '    elif [[ -z $cmd ]]; then',
        f'        COMPREPLY=($(compgen -W "{" ".join(c.name for c in subs)}" -- "$cur"))',
        "    else",
        '        case "$cmd" in',
        *positional_cases,
        "        esac",
        "    fi",
        "}",
        "complete -F _memtype memtype",
        ""])


# --- zsh -------------------------------------------------------------------------------------------

_ZSH_VALUE = {"pid": "_pids", "user": "_users", "file": "_files", "dir": "_files -/", "none": " "}


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_action(complete: str, words: tuple[str, ...]) -> str:
    return f"({_words(words)})" if complete == "words" else _ZSH_VALUE[complete]


def _zsh_option(o: Option) -> list[str]:
    specs = []
    for flag in o.flags:
        value = "".join(f":{_safe_message(v)}:{_zsh_action(o.complete, o.words)}" for v in o.values)
        eq = "=" if o.values and flag.startswith("--") else ""
        specs.append(_zsh_quote(f"{'*' if o.repeat else ''}{flag}{eq}[{_short(o.help) or flag}]{value}"))
    return specs


def _safe_message(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.,-]", "", text) or "value"


def _zsh_positional(p: Positional) -> str:
    lead = "*" if p.many else ""
    colons = "::" if p.optional and not p.many else ":"
    return _zsh_quote(f"{lead}{colons}{_safe_message(p.name)}:{_zsh_action(p.complete, p.words)}")


def _zsh(top: Command, subs: tuple[Command, ...]) -> str:
    out = ["#compdef memtype",
           "# zsh completion for memtype: `memtype completion zsh`, made from its argument parsers", ""]
    for cmd in subs:
        specs = [s for o in cmd.options for s in _zsh_option(o)] + [_zsh_positional(p) for p in cmd.positionals]
        out += [f"_memtype_{cmd.name.replace('-', '_')}() {{", "    _arguments -s -S \\",
                *(f"        {s} \\" for s in specs[:-1]), f"        {specs[-1]}", "}", ""]
    described = [_zsh_quote(f"{c.name}:{_short(c.summary)}") for c in subs]
    out += ["_memtype_commands() {", "    local -a commands", "    commands=(",
            *(f"        {d}" for d in described), "    )", "    _describe -t commands 'memtype command' commands",
            "}", "",
            "_memtype() {",
            '    local curcontext="$curcontext" state line',
            "    typeset -A opt_args",
            "    _arguments -s -S -C \\",
            *(f"        {s} \\" for o in top.options for s in _zsh_option(o)),
            "        '1: :_memtype_commands' \\",
            "        '*:: :->command_args'",
            "    case $state in",
            "        command_args)",
            '            curcontext="${curcontext%:*:*}:memtype-$words[1]:"',
            "            case $words[1] in",
            *(f"                {c.name}) _memtype_{c.name.replace('-', '_')} ;;" for c in subs),
            "            esac ;;",
            "    esac",
            "}", "",
            'if [[ $funcstack[1] == _memtype ]]; then _memtype "$@"; else compdef _memtype memtype; fi', ""]
    return "\n".join(out)


# --- fish ------------------------------------------------------------------------------------------

_FISH_VALUE = {"pid": "-x -a '(__fish_complete_pids)'", "user": "-x -a '(__fish_complete_users)'",
               "file": "-r -F", "dir": "-x -a '(__fish_complete_directories)'", "none": "-x"}


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_value(complete: str, words: tuple[str, ...]) -> str:
    return f"-x -a {_fish_quote(_words(words))}" if complete == "words" else _FISH_VALUE[complete]


def _fish_option(condition: str, o: Option) -> str:
    flags = " ".join(f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in o.flags)
    value = f" {_fish_value(o.complete, o.words)}" if o.values else ""
    return f"complete -c memtype -n {condition} {flags}{value} -d {_fish_quote(_short(o.help) or o.flags[-1])}"


def _fish(top: Command, subs: tuple[Command, ...]) -> str:
    names = " ".join(c.name for c in subs)
    no_command = _fish_quote(f"not __fish_seen_subcommand_from {names}")
    out = ["# fish completion for memtype: `memtype completion fish`, made from its argument parsers",
           "complete -c memtype -f"]
    out += [f"complete -c memtype -n {no_command} -a {c.name} -d {_fish_quote(_short(c.summary))}" for c in subs]
    out += [_fish_option(no_command, o) for o in top.options]
    for cmd in subs:
        condition = _fish_quote(f"__fish_seen_subcommand_from {cmd.name}")
        out += [_fish_option(condition, o) for o in cmd.options]
        if cmd.positionals:
            p = cmd.positionals[0]
            value = _fish_value(p.complete, p.words).replace("-x ", "").replace("-r ", "")
            if p.complete != "none":
                out.append(f"complete -c memtype -n {condition} {value}")
    return "\n".join(out) + "\n"
