"""The CLI on captured roots: golden text at fixed widths, the JSON schema, and every error path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.kinds import KINDS

from conftest import GPU_ROOT, HERE, Result

GOLDEN = HERE / "golden"
Run = Callable[..., Result]


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize(("name", "args"), [
    ("overview-80.txt", ["--width", "80"]),
    ("ps-80.txt", ["ps", "--width", "80"]),
    ("ps-120.txt", ["ps", "--width", "120"]),
    ("ps-program-120.txt", ["ps", "--group", "program", "--width", "120"]),
    ("maps-450-path-110.txt", ["maps", "450", "--group", "path", "--top", "12", "--width", "110"]),
])
def test_golden_tables(run_cli: Run, name: str, args: list[str]) -> None:
    r = run_cli(*args, "--root", str(GPU_ROOT))
    assert r.code == 0, r.err
    check_golden(name, r.out)
    if "80" in name:
        assert max(len(line) for line in r.out.splitlines()) <= 80


def test_overview_names_all_kinds(run_cli: Run) -> None:
    out = run_cli("--root", str(GPU_ROOT), "--width", "80").out
    for word in ("Anon", "Shared", "CoW", "File", "Device", "swap"):
        assert word in out


def test_ps_json_schema(run_cli: Run) -> None:
    r = run_cli("ps", "--root", str(GPU_ROOT), "--format", "json")
    assert r.code == 0
    doc = json.loads(r.out)
    assert doc["schema"] == "memtype/2"
    assert doc["host"]["kernel"] == "6.18.44-fc-v657-gpu"
    assert doc["summary"] == {"processes": 8, "kernel_threads": 1, "skipped": {"not captured": 1}}
    procs = doc["processes"]
    assert [p["pid"] for p in procs][:1] == [421]  # sorted by pss
    for p in procs:
        for key in ("pid", "comm", "user", "rss", "pss", "uss", "swap", "swap_pss", "categories"):
            assert key in p
        assert set(p["categories"]) == {k.value for k in KINDS}
        for part in ("rss", "pss", "swap"):
            assert sum(c[part] for c in p["categories"].values()) == p[part]
        assert "cmdline" not in p  # command lines only on request


def test_ps_filters_sort_and_groups(run_cli: Run) -> None:
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json", "--name", "^pt_data",
                             "--sort", "cow", "--top", "2").out)
    assert len(doc["processes"]) == 2 and {p["comm"] for p in doc["processes"]} == {"pt_data_worker"}
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json", "--pid", "450", "--pid", "421").out)
    assert sorted(p["pid"] for p in doc["processes"]) == [421, 450]
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json", "--group", "user").out)
    assert doc["group_by"] == "user" and doc["groups"][0]["user"] == "root"
    assert doc["groups"][0]["count"] == 8
    doc = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json", "--user", "root",
                             "--cmdline").out)
    assert doc["processes"][0]["cmdline"][0].startswith("python")


def test_ps_csv(run_cli: Run) -> None:
    r = run_cli("ps", "--root", str(GPU_ROOT), "--format", "csv")
    lines = r.out.splitlines()
    assert lines[0].startswith("pid,comm,user,pss,uss,rss,swap,swap_pss,hugetlb,device_mapped,anonymous.rss")
    assert len(lines) == 9


def test_maps_json_and_all(run_cli: Run) -> None:
    doc = json.loads(run_cli("maps", "421", "--root", str(GPU_ROOT), "--format", "json").out)
    assert doc["process"]["pid"] == 421
    classes = {m["path"]: m["class"] for m in doc["mappings"]}
    assert classes["/dev/nvidiactl"] == "device" and classes["[heap]"] == "anon"
    assert sum(m["rss"] for m in doc["mappings"]) == doc["process"]["rss"]
    doc = json.loads(run_cli("maps", "--all", "--group", "path", "--root", str(GPU_ROOT), "--format", "json").out)
    by_path = {g["path"]: g for g in doc["groups"]}
    assert len(set(by_path["/dev/nvidiactl"]["pids"])) == 5


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--root", "/nonexistent/root"], 1, "does not exist"),
    (["ps", "--pid", "999999"], 1, "no process with PID 999999"),
    (["ps", "--sort", "bogus"], 2, "unknown sort column"),  # usage errors exit 2 (README "Errors")
    (["ps", "--name", "("], 2, "bad regular expression"),
    (["maps"], 2, "give a PID"),
    (["maps", "--all"], 2, "--all needs --group path"),
    (["maps", "1"], 1, "cannot read the mappings of PID 1"),
])
def test_errors_are_one_line(run_cli: Run, args: list[str], code: int, message: str) -> None:
    if "--root" not in args:
        args = args + ["--root", str(GPU_ROOT)]
    r = run_cli(*args)
    assert r.code == code, (r.code, r.err)
    assert message in r.err and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


@pytest.mark.parametrize("args", [["ps", "--top", "0"], ["ps", "--format", "xml"], ["bogus"], ["ps", "--pid", "x"]])
def test_usage_errors_exit_2(run_cli: Run, args: list[str]) -> None:
    r = run_cli(*args)
    assert r.code == 2 and "memtype: error:" in r.err


@pytest.mark.parametrize("args", [
    ["maps"], ["maps", "--all"], ["ps", "--sort", "bogus"], ["ps", "--name", "("], ["cgroups", "--sort", "bogus"],
    ["pressure", "--need", "1G", "--file-folio", "0.5"], ["files", "--evict"], ["files", "/etc/hostname"],
])
def test_issue8_7_usage_errors_raised_by_commands_exit_2(run_cli: Run, args: list[str]) -> None:
    """One UsageError (memtype.errors) for every command, and exit 2 for it, as the README says."""
    r = run_cli(*args, "--root", str(GPU_ROOT))
    assert r.code == 2, (r.code, r.err)
    assert r.err.startswith("memtype: error: ") and r.err.count("\n") == 1 and "Traceback" not in r.err
    r = run_cli("snapshot", "--root", str(GPU_ROOT), str(HERE / "never-written"))
    assert r.code == 2 and "--root is not supported" in r.err


def test_issue8_unsupported_names_the_feature() -> None:
    """A root that cannot give what --exact needs raises Unsupported("--exact"), with the message as before."""
    import memtype.collect.system
    from memtype.errors import Unsupported
    from memtype.collect.scan_exact import scan_exact

    with pytest.raises(Unsupported, match="^--exact: the capture has no proc/kpageflags") as caught:
        memtype.collect.system.system_memory(str(GPU_ROOT), exact=True, processes=False)
    assert caught.value.feature == "--exact"
    with pytest.raises(Unsupported, match="does not work on a capture") as caught:
        scan_exact(str(GPU_ROOT))
    assert caught.value.feature == "--exact"


def test_empty_and_wrong_roots(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("--root", str(tmp_path))
    assert r.code == 1 and "holds no proc/" in r.err
    not_tar = tmp_path / "x.tar.gz"
    not_tar.write_bytes(b"not a tarball")
    r = run_cli("ps", "--root", str(not_tar))
    assert r.code == 1 and "neither a directory nor a .tar.gz" in r.err
    (tmp_path / "proc").mkdir()
    r = run_cli("ps", "--root", str(tmp_path), "--format", "json")
    assert r.code == 0 and json.loads(r.out)["processes"] == []
    r = run_cli("--root", str(tmp_path))
    assert r.code == 1 and "proc/meminfo" in r.err


def _copy_root(tmp_path: Path) -> Path:
    dst = tmp_path / "root"
    shutil.copytree(GPU_ROOT, dst)
    return dst


def test_garbled_capture_warns_and_keeps_the_rest(run_cli: Run, tmp_path: Path) -> None:
    root = _copy_root(tmp_path)
    smaps = root / "proc/450/smaps"
    smaps.write_bytes(smaps.read_bytes()[:-5000])  # truncated mid-entry
    (root / "proc/451/smaps").write_bytes(b"\x00\xff garbage\n" * 10)
    (root / "proc/452/status").write_text("")  # empty status: no uid, no name
    r = run_cli("ps", "--root", str(root), "--format", "json")
    assert r.code == 0
    doc = json.loads(r.out)
    pids = {p["pid"]: p for p in doc["processes"]}
    assert pids[450]["incomplete"] is True and pids[450]["rss"] > 0
    assert 451 not in pids and 452 in pids and 421 in pids
    assert any("proc/450/smaps" in w for w in doc["warnings"])
    assert any("proc/451/smaps" in w for w in doc["warnings"])
    assert "proc/451/smaps" in r.err and "Traceback" not in r.err


def test_missing_meminfo_in_capture_only_breaks_the_overview(run_cli: Run, tmp_path: Path) -> None:
    root = _copy_root(tmp_path)
    (root / "proc/meminfo").unlink()
    assert run_cli("ps", "--root", str(root)).code == 0
    r = run_cli("--root", str(root))
    assert r.code == 1 and "missing: proc/meminfo" in r.err


def test_python_dash_m_and_no_traceback_on_internal_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "memtype", "ps", "--root", str(GPU_ROOT), "--top", "1", "--format",
                        "csv"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.count("\n") == 2


def test_pure_python_path_gives_the_same_json() -> None:
    """Without the compiled reader (MEMTYPE_PURE_PYTHON=1) every number is the same."""
    def run(pure: str) -> dict[str, object]:
        r = subprocess.run([sys.executable, "-m", "memtype", "ps", "--root", str(GPU_ROOT), "--format", "json"],
                           capture_output=True, text=True, check=True, env={**os.environ, "MEMTYPE_PURE_PYTHON": pure})
        doc: dict[str, object] = json.loads(r.stdout)
        return doc

    fast, pure = run("0"), run("1")
    assert fast["processes"] == pure["processes"] and fast["summary"] == pure["summary"]


def test_unprivileged_user_gets_own_processes_and_a_note(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged uid")
    # The interpreter lives under /root here, which uid 65534 cannot read: one run as root loads every
    # module memtype needs, then the process drops to nobody and runs again.
    code = ("import contextlib, io, os, sys, memtype.cli.main as m\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    m.main(['ps', '--format', 'json'])\n"
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "sys.exit(m.main(['ps', '--format', 'json']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd="/")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["processes"], "its own process at least"
    assert all(p["uid"] == 65534 for p in doc["processes"])
    assert "access denied for" in r.stderr and "run as root for all" in r.stderr
    assert "Traceback" not in r.stderr
