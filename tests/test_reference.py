"""The man page and the shell completions (issue 16): made from the parsers --help prints, so every
command and option is in each (the drift test), `man --warnings -l` renders the page cleanly, and
each script loads and completes in its own shell. `memtype install` writes them safely."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memtype.cli import completion, main as cli, manpage
from memtype.cli.commands import install


def parser_words() -> Iterator[tuple[str, str]]:
    """(command, option) for every option --help shows, and (command, "") for every command."""
    parser, subparsers = cli.full_parser()
    for name, p in [("", parser), *subparsers.items()]:
        if name:
            yield name, ""
        for action in p._actions:
            if action.help != argparse.SUPPRESS:
                for flag in action.option_strings:
                    yield name, flag


def missing_from(text: str, escape: bool = False) -> list[str]:
    lost = []
    for command, flag in parser_words():
        word = flag or command
        shown = manpage.escape(word) if escape else word
        if shown not in text:
            lost.append(f"{command or 'memtype'} {flag}".strip())
    return lost


def test_issue16_drift_every_command_and_option_is_in_the_man_page() -> None:
    page = manpage.render()
    assert not missing_from(page, escape=True)
    for name in cli.COMMANDS:  # each command has its own section, its examples in it
        assert f'.SS "memtype {manpage.escape(name)}"' in page


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_issue16_drift_every_command_and_option_is_in_the_completion(shell: str) -> None:
    script = completion.render(shell)
    if shell == "fish":  # fish names options without their dashes: -l sort, -s R
        script = script.replace("-l ", "--").replace("-s ", "-")
    assert not missing_from(script), shell


def test_issue16_every_option_has_a_help_text() -> None:
    """The man page and the completion menus show it: an option without one is undocumented."""
    parser, subparsers = cli.full_parser()
    bare = [f"memtype {name} {'/'.join(a.option_strings) or a.dest}".replace("memtype  ", "memtype ")
            for name, p in [("", parser), *subparsers.items()] for a in p._actions
            if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert not bare, (f"options without help= (argparse.SUPPRESS to hide one): {bare}; give each a help text in "
                      f"its command's add_arguments")


def test_issue16_drift_an_option_added_later_reaches_man_and_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    """What another helper's new option does: nothing but add_argument, and it is in both."""
    ps = importlib.import_module("memtype.cli.commands.ps")
    original = ps.add_arguments

    def with_new(p: argparse.ArgumentParser) -> None:
        original(p)
        p.add_argument("--brand-new", choices=("alpha", "beta"), help="added by a later change")

    monkeypatch.setattr(ps, "add_arguments", with_new)
    assert "\\-\\-brand\\-new" in manpage.render()
    for shell in completion.SHELLS:
        text = completion.render(shell)
        assert "brand-new" in text and "alpha beta" in text, shell


def test_issue16_man_renders_without_warnings(tmp_path: Path) -> None:
    if shutil.which("man") is None or shutil.which("groff") is None:
        pytest.skip("man or groff is absent (Debian: man-db, groff): the page is not rendered")
    page = tmp_path / "memtype.1"
    page.write_text(manpage.render())
    res = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True, check=False,
                         env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat", "MAN_KEEP_FORMATTING": ""})
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    assert "memtype ps" in res.stdout and "EXIT STATUS" in res.stdout


def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is absent (Debian package {name}; .ci/run installs it): its completion is not loaded")
    return found


def test_issue16_bash_completion_loads_and_completes(tmp_path: Path) -> None:
    bash = _shell("bash")
    script = tmp_path / "memtype.bash"
    script.write_text(completion.render("bash"))
    probe = f"""set -e
source {script}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=(); _memtype; echo "${{COMPREPLY[*]}}"; }}
t memtype p
t memtype ps --so
t memtype ps --sort cow.p
t memtype maps {os.getpid()}
t memtype --root /tmp/snap ps --form
t memtype ps --format ''
complete -p memtype
"""
    res = subprocess.run([bash, "--norc", "-c", probe], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and not res.stderr, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["ps", "pressure"]
    assert lines[1] == "--sort"
    assert "cow.pss" in lines[2].split()
    assert str(os.getpid()) in lines[3].split()  # PIDs for maps
    assert lines[4] == "--format"
    assert lines[5].split() == ["table", "json", "csv"]
    assert lines[6] == "complete -F _memtype memtype"


def test_issue16_zsh_completion_loads(tmp_path: Path) -> None:
    zsh = _shell("zsh")
    script = tmp_path / "_memtype"
    script.write_text(completion.render("zsh"))
    probe = (f"autoload -Uz compinit && compinit -u -D -d {tmp_path}/zcompdump; source {script}; "
             "print -r -- $_comps[memtype]; whence -w _memtype_ps _memtype_maps _memtype_commands")
    res = subprocess.run([zsh, "-f", "-c", probe], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and not res.stderr, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == "_memtype" and all(line.endswith(": function") for line in out[1:]), res.stdout
    # and autoloaded from fpath, as `memtype install completion` leaves it
    probe = (f"fpath=({tmp_path} $fpath); autoload -Uz compinit && compinit -u -D -d {tmp_path}/zcompdump2; "
             "print -r -- $_comps[memtype]")
    res = subprocess.run([zsh, "-f", "-c", probe], capture_output=True, text=True, check=False)
    assert res.stdout.strip() == "_memtype" and not res.stderr, res.stderr


def test_issue16_fish_completion_loads_and_completes(tmp_path: Path) -> None:
    fish = _shell("fish")
    script = tmp_path / "memtype.fish"
    script.write_text(completion.render("fish"))

    def complete(line: str) -> list[str]:
        res = subprocess.run([fish, "--no-config", "-c", f"source {script}; complete -C {line!r}"],
                             capture_output=True, text=True, check=False, env={**os.environ, "HOME": str(tmp_path)})
        assert res.returncode == 0 and not res.stderr, res.stderr
        return [ln.split("\t")[0] for ln in res.stdout.splitlines()]

    assert {"ps", "maps", "top", "exporter"} <= set(complete("memtype "))
    assert complete("memtype ps --so") == ["--sort"]
    assert "cow.pss" in complete("memtype ps --sort cow.")
    assert str(os.getpid()) in complete(f"memtype maps {os.getpid()}")
    assert set(complete("memtype ps --format ")) == {"table", "json", "csv"}


# --- memtype install ---------------------------------------------------------------------------------

def run_install(*argv: str) -> subprocess.CompletedProcess[str]:
    memtype = Path(sys.executable).with_name("memtype")
    return subprocess.run([str(memtype), "install", *argv], capture_output=True, text=True, check=False)


def test_issue16_install_man_and_completion_into_a_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    target = prefix / "share/man/man1/memtype.1"
    target.parent.mkdir(parents=True)
    decoy = tmp_path / "decoy"
    decoy.write_text("keep me")
    target.symlink_to(decoy)  # a link planted where the page goes: replaced, never written through
    res = run_install("--prefix", str(prefix))
    assert res.returncode == 0, res.stderr
    assert decoy.read_text() == "keep me" and not target.is_symlink()
    assert target.read_text() == manpage.render()
    for rel, shell in (("share/bash-completion/completions/memtype", "bash"),
                       ("share/zsh/site-functions/_memtype", "zsh"),
                       ("share/fish/vendor_completions.d/memtype.fish", "fish")):
        path = prefix / rel
        assert path.read_text() == completion.render(shell)
        assert (path.stat().st_mode & 0o777) == 0o644
    again = run_install("--prefix", str(prefix))
    assert again.stdout.count("up to date") == 4, again.stdout


def test_issue16_install_refuses_a_directory_others_write(tmp_path: Path) -> None:
    shared = tmp_path / "open"
    (shared / "share/man/man1").mkdir(parents=True)
    (shared / "share/man/man1").chmod(0o777)
    res = run_install("man", "--prefix", str(shared))
    assert res.returncode == 1 and res.stderr.startswith("memtype: error: ") and "other users" in res.stderr
    assert res.stderr.count("\n") == 1


def test_issue16_install_units_point_at_this_memtype_and_verify(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="the exporter unit needs the exporter extra")
    res = run_install("record", "exporter", "--unit-dir", str(tmp_path))
    memtype = str(Path(sys.executable).with_name("memtype"))
    if res.returncode == 1 and "cannot be run by a service" in res.stderr:
        pytest.skip(f"this checkout is not open to other users: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    assert "next: systemctl daemon-reload && systemctl enable --now memtype-record.service " in res.stdout
    for name in install.UNITS.values():
        text = (tmp_path / name).read_text()
        starts = [ln for ln in text.splitlines() if ln.lstrip("# ").startswith("ExecStart=")]
        assert starts and all(ln.split("=", 1)[1].startswith(memtype + " ") for ln in starts), starts
        settings = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and not ln.startswith("#"))
        assert settings["DynamicUser"] == "yes" and settings["AmbientCapabilities"] == "CAP_SYS_PTRACE"
        assert settings["CapabilityBoundingSet"] == "CAP_SYS_PTRACE" and settings["NoNewPrivileges"] == "yes"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is absent (Debian: systemd): the installed units are not verified")
    check = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in install.UNITS.values())],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check.stdout + check.stderr


def test_issue16_install_refuses_a_memtype_in_a_home_directory(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    from memtype.errors import MemtypeError

    home_bin = "/root/.local/bin/memtype"
    monkeypatch.setattr(install.os.path, "isfile", lambda p: True)
    monkeypatch.setattr(install.os, "access", lambda p, mode: True)
    monkeypatch.setattr(sys, "argv", [home_bin])
    with pytest.raises(MemtypeError, match="pipx install --global"):
        install.this_memtype()


def test_issue16_now_needs_a_unit() -> None:
    res = run_install("man", "--now", "--dry-run")
    assert res.returncode == 2 and "give record or exporter" in res.stderr
