"""`memtype snapshot` on this machine, read back with --root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import memtype
from memtype.source.capture import capture

from conftest import Result, needs_root


def test_snapshot_directory_round_trip(tmp_path: Path, run_cli: "Run") -> None:
    out = tmp_path / "snap"
    r = run_cli("snapshot", str(out))
    assert r.code == 0 and "captured" in r.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "memtype-snapshot/1"
    assert manifest["kernel"] == os.uname().release and manifest["page_size"] == os.sysconf("SC_PAGE_SIZE")
    assert manifest["redacted"] is False and manifest["memtype_version"] == memtype.__version__
    assert not list(out.rglob("environ")), "environ is never copied"
    me = out / "proc" / str(os.getpid())
    assert (me / "smaps").stat().st_size > 0 and (me / "cmdline").exists() and (me / "exe").is_file()
    assert (out / "proc/meminfo").exists() and (out / "proc/self/mountinfo").exists()
    live = memtype.scan("/", [os.getpid()]).processes[0]
    captured = memtype.scan(str(out), [os.getpid()], exe=True).processes[0]
    assert captured.comm == live.comm and captured.program == os.path.basename(os.readlink("/proc/self/exe"))
    assert captured.totals.rss == pytest.approx(live.totals.rss, rel=0.2)
    doc = json.loads(run_cli("ps", "--root", str(out), "--format", "json").out)
    assert doc["host"]["live"] is False and doc["host"]["captured_at"] == manifest["time"]


def test_snapshot_tarball_redacted(tmp_path: Path, run_cli: "Run") -> None:
    out = tmp_path / "snap.tar.gz"
    assert run_cli("snapshot", "--redact", "--pid", str(os.getpid()), str(out)).code == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert not any(n.endswith("/cmdline") or n.endswith("/environ") for n in names)
    assert f"snap/proc/{os.getpid()}/smaps" in names and "snap/manifest.json" in names
    doc = json.loads(run_cli("ps", "--root", str(out), "--format", "json", "--cmdline").out)
    assert [p["pid"] for p in doc["processes"]] == [os.getpid()]
    assert doc["processes"][0]["cmdline"] is None
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("memtype-snap-*"))


def test_snapshot_refuses_existing_output(tmp_path: Path, run_cli: "Run") -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    r = run_cli("snapshot", str(tmp_path / "full"))
    assert r.code == 1 and "already exists" in r.err
    r = run_cli("snapshot", str(tmp_path / "no" / "such" / "dir.tar.gz"))
    assert r.code == 1 and "not a directory" in r.err


def test_snapshot_of_cgroups_keeps_memory_files_only(tmp_path: Path) -> None:
    needs_root()
    capture(str(tmp_path / "s"), pids=[os.getpid()])
    cg = tmp_path / "s" / "sys/fs/cgroup"
    if not cg.exists():
        pytest.skip("no cgroup filesystem here")
    names = {p.name for p in cg.rglob("*") if p.is_file()}
    assert names and all(n.startswith(("memory.", "cgroup.")) for n in names)


Run = object  # annotation only; the fixture returns a callable producing conftest.Result
_ = (Result, subprocess, sys)
