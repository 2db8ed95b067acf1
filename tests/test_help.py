"""`--help` (issue 16): every command is in a group of `memtype --help` and its help ends with its
module's EXAMPLES; `--version` names the smaps reader in use. These tests say what a new command
lacks, in words the helper adding it can act on."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys

import pytest

from memtype.cli import main as cli


def test_issue16_every_command_has_a_group() -> None:
    grouped = [name for names in cli.GROUPS.values() for name in names]
    missing = [name for name in cli.COMMANDS if name not in grouped]
    assert not missing, (f"commands in COMMANDS but in no GROUPS entry of src/memtype/cli/main.py: {missing}; "
                         f"put each in the tuple of its job there ({', '.join(cli.GROUPS)}), e.g. "
                         f"\"look now\": (..., \"{missing[0]}\"),")
    twice = sorted({name for name in grouped if grouped.count(name) > 1})
    assert not twice, f"commands in more than one GROUPS entry: {twice}; keep each in one"
    unknown = [name for name in grouped if name not in cli.COMMANDS]
    assert not unknown, f"GROUPS names commands COMMANDS does not have: {unknown}"


@pytest.mark.parametrize("name", [*cli.COMMANDS, "(no command)"])
def test_issue16_every_command_has_examples(name: str) -> None:
    module = importlib.import_module(cli.COMMANDS[name][0] if name in cli.COMMANDS else cli.OVERVIEW)
    examples = getattr(module, "EXAMPLES", None)
    where = module.__name__.replace(".", "/")
    hint = (f"src/{where}.py needs EXAMPLES: tuple[str, ...] = 2-3 real invocations you ran, each "
            f"'memtype {'' if name.startswith('(') else name + ' '}...  # what it shows'")
    assert isinstance(examples, tuple) and 2 <= len(examples) <= 4, hint
    for e in examples:
        command = e.partition("  # ")[0]  # "sudo memtype ...", "source <(memtype ...)" are invocations too
        assert re.search(r"(^|[\s(])memtype\b", command) and "  # " in e, f"{where}: {e!r}: {hint}"


def test_issue16_command_help_ends_with_its_examples() -> None:
    parser, subparsers = cli.full_parser()
    for name, p in subparsers.items():
        examples = importlib.import_module(cli.COMMANDS[name][0]).EXAMPLES
        text = p.format_help().rstrip()
        assert text.endswith(examples[-1]), name
        tail = text[text.rindex("examples:"):]
        assert all(e in tail for e in examples), name


def test_issue16_top_help_groups_commands_by_job(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.parse(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    positions = [out.index(f"  {group}:\n") for group in cli.GROUPS]
    assert positions == sorted(positions)
    for group, names in cli.GROUPS.items():
        block = out[out.index(f"  {group}:\n"):]
        for name in names:
            assert f"\n    {name} " in block, (group, name)
    assert out.rstrip().endswith(cli.EXIT_STATUS)
    assert "memtype --top 5 --format json" in out  # the overview's examples


def test_issue16_version_names_the_reader() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MEMTYPE_PURE_PYTHON"}
    run = subprocess.run([sys.executable, "-m", "memtype", "--version"], capture_output=True, text=True,
                         env=env, check=True)
    first, second = run.stdout.splitlines()
    assert first.startswith("memtype ")
    from memtype.parse.smaps import accelerated

    assert second.startswith("smaps reader: compiled" if accelerated() else "smaps reader: pure Python")
    pure = subprocess.run([sys.executable, "-m", "memtype", "--version"], capture_output=True, text=True,
                          env={**env, "MEMTYPE_PURE_PYTHON": "1"}, check=True)
    assert pure.stdout.splitlines()[1] == "smaps reader: pure Python (MEMTYPE_PURE_PYTHON=1)"


def test_issue16_ps_does_not_import_other_commands() -> None:
    """Start-up: `memtype ps` imports its own module only; the help path may import them all."""
    code = ("import sys; from memtype.cli import main; main.parse(['ps']); "
            "print(sorted(m for m in sys.modules if m.startswith('memtype.cli.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['memtype.cli.commands.ps']"
