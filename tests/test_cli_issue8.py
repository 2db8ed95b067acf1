"""Issue 8, the command line and the tables: what a new user tripped on (items 1, 3, 4, 5, 7, 8, 12)
and the bad invocations of the fuzzing run. Hermetic: fixture roots and synthetic captures."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.kinds import KINDS
from memtype.output.human import UNITS_NOTE, fit_path, size

from conftest import GPU_ROOT, ROOTS, Result
from test_reclaim import synthetic_root

Run = Callable[..., Result]
CGROUP_ROOT = ROOTS / "gpu-cgroups"
V1_ROOT = ROOTS / "v1-hybrid"
WIDTHS = (80, 100, 120, 160)
TABLE_COMMANDS: list[tuple[str, list[str]]] = [
    ("gpu", []), ("gpu", ["ps"]), ("gpu", ["ps", "--group", "program"]), ("gpu", ["ps", "--group", "user"]),
    ("cgroups", ["ps", "--group", "cgroup"]), ("cgroups", ["ps", "--cgroup"]), ("gpu", ["maps", "450"]),
    ("gpu", ["maps", "421", "--group", "path"]), ("gpu", ["maps", "--all", "--group", "path"]),
    ("gpu", ["system"]), ("gpu", ["files"]), ("cgroups", ["cgroups"]), ("v1", ["cgroups", "--tree"]),
    ("synthetic", ["swap"]), ("synthetic", ["pressure", "--need", "1G"]),
    ("synthetic", ["pressure", "--need", "64M", "--cgroup", "/app"]),
]
# A number cut by the edge of the terminal: the last thing on a full-width line is digits.
CUT_AT_EDGE = re.compile(r"(^|\s)-?\d[\d.]*$")
# A number cut by an ellipsis inside a line ("4.…"), as opposed to a name or path that holds digits.
CUT_INSIDE = re.compile(r"(^|\s)-?\d[\d.]*…")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"gpu": GPU_ROOT, "cgroups": CGROUP_ROOT, "v1": V1_ROOT,
            "synthetic": synthetic_root(tmp_path_factory.mktemp("synthetic"))}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("root", "args"), TABLE_COMMANDS, ids=[" ".join([r] + a) for r, a in TABLE_COMMANDS])
def test_issue8_4_no_line_ends_in_the_middle_of_a_number(run_cli: Run, roots: dict[str, Path], root: str,
                                                         args: list[str], width: int) -> None:
    r = run_cli(*args, "--root", str(roots[root]), "--width", str(width))
    assert r.code == 0, r.err
    for line in r.out.splitlines():
        assert len(line) <= width, line
        assert line == line.rstrip(), f"trailing blanks (item 8): {line!r}"
        assert not (len(line) == width and CUT_AT_EDGE.search(line)), f"cut at the edge: {line!r}"
        assert not CUT_INSIDE.search(line), f"number cut: {line!r}"
    assert UNITS_NOTE in r.out.replace("\n", " ") or UNITS_NOTE.split(" = ")[0] in r.out, "units not stated (item 8)"


@pytest.mark.parametrize("width", (80, 100))
def test_issue8_4_maps_keeps_the_mapping_path_below_100_columns(run_cli: Run, width: int) -> None:
    doc = json.loads(run_cli("maps", "450", "--root", str(GPU_ROOT), "--format", "json").out)
    out = run_cli("maps", "450", "--root", str(GPU_ROOT), "--width", str(width)).out
    assert "Mapping" in out
    rows = [line for line in out.splitlines() if re.match(r"^ \S+ +\d|^ [r-][w-][x-][ps] ", line)]
    assert len(rows) == len(doc["mappings"])
    for row, m in zip(rows, doc["mappings"]):
        name = (m["path"] or f"[{m['class']}]").rsplit("/", 1)[-1]
        assert row.rstrip().endswith(name[-12:]), row


def test_issue8_4_paths_are_cut_in_the_middle_keeping_the_file_name(run_cli: Run) -> None:
    out = run_cli("maps", "--all", "--group", "path", "--root", str(GPU_ROOT), "--top", "15", "--width", "80").out
    doc = json.loads(run_cli("maps", "--all", "--group", "path", "--root", str(GPU_ROOT), "--top", "15",
                             "--format", "json").out)
    at = next(line.index("Mapping") for line in out.splitlines() if "Mapping" in line)
    shown = [line[at:] for line in out.splitlines() if re.match(r"^ +\d+ ", line)]
    assert len(shown) == 15 and len(set(shown)) == 15, "two rows look the same"
    for cell, g in zip(shown, doc["groups"]):
        name = g["path"].rsplit("/", 1)[-1]
        assert cell == g["path"] or cell.endswith(name[-20:]), (cell, g["path"])
    assert fit_path("/opt/torch/.venv/lib/python3.12/site-packages/torch/lib/libtorch_cpu.so", 30) == \
        "/opt…torch/lib/libtorch_cpu.so"


def test_issue8_4_group_tables_fit_80_columns(run_cli: Run) -> None:
    for by in ("program", "user"):
        out = run_cli("ps", "--group", by, "--root", str(GPU_ROOT), "--width", "80").out
        assert " 8.0K" in out or by == "user"  # bash's Device cell whole, not "4"
        assert max(len(line) for line in out.splitlines()) <= 80


def test_issue8_3_every_kind_column_names_its_measure_and_totals_are_honest(run_cli: Run) -> None:
    out = run_cli("ps", "--root", str(GPU_ROOT), "--width", "120").out
    heads = out.splitlines()[2:4]
    assert [w for w in heads[0].split()] == [k.label for k in KINDS]
    assert heads[1].split()[-5:] == ["RSS"] * 5, "ps: kinds are resident bytes"
    overview = run_cli("--root", str(GPU_ROOT), "--width", "120").out
    assert any(line.split()[-6:-1] == ["PSS"] * 5 for line in overview.splitlines()), "overview: kinds are PSS"
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").out)
    procs = doc["processes"]
    sum_row = next(line for line in out.splitlines() if line.split()[:1] == ["sum"])
    pss_row = next(line for line in out.splitlines() if line.split()[:1] == ["PSS"])
    rss = [size(sum(p["categories"][k.value]["rss"] for p in procs)) for k in KINDS]
    pss = [size(sum(p["categories"][k.value]["pss"] for p in procs)) for k in KINDS]
    assert sum_row.split()[-5:] == rss
    assert pss_row.split()[-5:] == pss
    assert pss_row.split()[1] == size(sum(p["pss"] for p in procs))
    assert "a page that N processes share is in N of their RSS" in out.replace("\n", " ")


def test_issue8_8_sizes_have_at_most_three_integer_digits() -> None:
    assert size(1008 * 1024) == "0.98M" and size(1024 * 1024) == "1.0M" and size(1011 * 1024) == "0.99M"
    assert size(999 * 1024) == "999K" and size(100 * 1024) == "100K" and size(4096) == "4.0K"
    assert size(0) == "0" and size(None) == "-" and size(512) == "512B" and size(-5000) == "-4.9K"
    for exp in range(10, 50):
        for n in (2 ** exp - 1, 2 ** exp, 1000 * 2 ** (exp - 10), 999 * 2 ** (exp - 10)):
            text = size(n)
            assert re.fullmatch(r"(\d{1,3}|\d{1,2}\.\d|0\.\d\d)[BKMGTP]", text), (n, text)


def test_issue8_8_each_note_once_on_its_own_line(run_cli: Run, roots: dict[str, Path]) -> None:
    for args in ([], ["ps"], ["maps", "--all", "--group", "path"], ["system"], ["swap"], ["files"]):
        r = run_cli(*args, "--root", str(GPU_ROOT))
        lines = r.err.splitlines()
        assert all(line.startswith("memtype: ") for line in lines), r.err
        assert len(lines) == len(set(lines)), r.err
        assert sum("not in the capture" in line for line in lines) == 1, r.err


# -- item 1: options before the command are honoured (--root, --jobs, --debug) or refused (--top, --width)

def test_issue8_1_root_before_the_command_is_honoured(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("--root", "/nonexistent", "ps")
    assert r.code == 1 and "root '/nonexistent' does not exist" in r.err
    before = run_cli("--root", str(GPU_ROOT), "ps", "--format", "json")
    after = run_cli("ps", "--root", str(GPU_ROOT), "--format", "json")
    assert before.code == after.code == 0 and json.loads(before.out) == json.loads(after.out)
    assert json.loads(before.out)["host"]["live"] is False
    out = run_cli("--root", str(GPU_ROOT), "system", "--width", "100").out
    assert "capture gpu-dataloader" in out.splitlines()[0] and "live" not in out.splitlines()[0]
    r = run_cli("--root", str(GPU_ROOT), "ps", "--root", str(tmp_path))
    assert r.code == 2 and "--root given twice" in r.err


@pytest.mark.parametrize("command", ["ps", "maps", "system", "cgroups", "swap", "files", "snapshot"])
def test_issue8_1_every_command_takes_the_global_options_before_its_name(run_cli: Run, command: str) -> None:
    from memtype.cli.main import parse

    rest = {"maps": ["421"], "snapshot": ["/nonexistent/x"], "pressure": ["--need", "1G"]}.get(command, [])
    args = parse(["--root", str(GPU_ROOT), "--jobs", "2", "--debug", command, *rest])
    assert (args.root, args.jobs, args.debug) == (str(GPU_ROOT), 2, True)
    args = parse([command, *rest])
    assert (args.root, args.jobs, args.debug) == ("/", None, False)


@pytest.mark.parametrize("option", [["--top", "3"], ["--width", "90"]])
def test_issue8_1_overview_options_before_a_command_are_refused(run_cli: Run, option: list[str]) -> None:
    r = run_cli(*option, "ps", "--root", str(GPU_ROOT))
    assert r.code == 2 and f"{option[0]} before the command" in r.err and not r.out
    assert run_cli(*option, "--root", str(GPU_ROOT)).code == 0  # the overview's own


def test_issue8_1_top_after_the_command_counts(run_cli: Run) -> None:
    doc = json.loads(run_cli("--root", str(GPU_ROOT), "ps", "--top", "3", "--format", "json").out)
    assert len(doc["processes"]) == 3


# -- item 5: root refused

def test_issue8_5_root_refused_names_the_pid_not_run_as_root(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from memtype.cli import notes

    notes.reset()
    monkeypatch.setattr("os.geteuid", lambda: 0)
    notes.skips({"denied": 1}, denied_pids=[1])
    err = capsys.readouterr().err
    assert "PID 1" in err and "even to root" in err and "run as root" not in err
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    notes.skips({"denied": 3}, denied_pids=[1, 2, 3])
    assert "access denied for 3 processes; run as root for all" in capsys.readouterr().err


# -- item 7: clear errors, exit 2 for usage errors, and why a PID has no row

@pytest.mark.parametrize(("args", "message"), [
    (["ps", "--user", "nosuchuser"], "no user 'nosuchuser' on the captured machine"),
    (["maps"], "give a PID"),
    (["ps", "--sort", "bogus"], "unknown sort column 'bogus'"),
    (["maps", "421", "--sort", "bogus"], "unknown sort column 'bogus'"),
    (["ps", "--group", "user", "--sort", "bogus"], "unknown sort column 'bogus'"),
])
def test_issue8_7_usage_errors_exit_2(run_cli: Run, args: list[str], message: str) -> None:
    r = run_cli(*args, "--root", str(GPU_ROOT))
    assert r.code == 2 and message in r.err and len(r.err.splitlines()) == 1 and not r.out


def test_issue8_7_a_user_by_uid_or_known_name_is_no_error(run_cli: Run) -> None:
    assert run_cli("ps", "--user", "0", "--root", str(GPU_ROOT)).code == 0
    assert run_cli("ps", "--user", "root", "--root", str(GPU_ROOT)).code == 0


def test_issue8_7_a_kernel_thread_pid_says_why_it_has_no_row(run_cli: Run) -> None:
    r = run_cli("ps", "--pid", "2", "--root", str(GPU_ROOT))
    assert r.code == 0 and "0 of 0 processes" in r.out
    assert "PID 2: a kernel thread: no user memory" in r.err


# -- the bad invocations of the fuzzing run

@pytest.mark.parametrize(("args", "message"), [
    (["pressure", "--need", "9" * 400], "--need: not a size"),
    (["pressure", "--need", "2000P"], "--need: too large"),
    (["pressure", "--need", "1G", "--file-folio", "inf"], "--file-folio: from 1 to"),
    (["pressure", "--need", "1G", "--file-folio", "nan"], "--file-folio: from 1 to"),
    (["ps", "--jobs", "10000000"], "--jobs: at most 64 reader threads"),
    (["ps", "--width", "0"], "--width: must be positive"),
    (["system", "--width", "-3"], "--width: not a number"),
    (["ps", "--top", "²"], "--top: not a number"),
    (["ps", "--pid", "99999999999"], "not a PID"),
])
def test_issue8_fuzz_bad_arguments_are_usage_errors(run_cli: Run, args: list[str], message: str) -> None:
    r = run_cli(*args, "--root", str(GPU_ROOT))
    assert r.code == 2 and message in r.err and len(r.err.splitlines()) == 1 and "Traceback" not in r.err
    assert len(r.err) < 300, "a 400-digit argument is not echoed whole"


def test_issue8_fuzz_exact_sizes() -> None:
    from memtype.cli.args import size as parse_size

    assert parse_size("1.5G") == 3 << 29 and parse_size("64MiB") == 64 << 20 and parse_size("4096") == 4096
    assert parse_size("0.1K") == 102


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_issue8_fuzz_stdout_closed_full_or_a_pipe(fmt: str) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "memtype", "ps", "--root", str(GPU_ROOT), "--format", fmt]
    closed = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: __import__("os").close(1), check=False)
    assert closed.returncode == 1 and closed.stderr.splitlines()[0] == "memtype: error: standard output is closed"
    with open("/dev/full", "w") as full:
        r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert r.returncode == 1 and "memtype: error: cannot write the output: No space left on device" in r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    head = subprocess.run(f"{' '.join(cmd)} --top 1 | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", stderr=subprocess.PIPE, text=True, check=False)
    assert head.returncode == 0 and "error" not in head.stderr


def test_issue8_exit_codes_the_readme_promises(run_cli: Run) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "**2** for a usage error" in readme and "**3** for an internal error" in readme
    assert run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").code == 0
    assert run_cli("ps", "--root", "/nonexistent").code == 1
    assert run_cli("ps", "--format", "xml").code == 2
