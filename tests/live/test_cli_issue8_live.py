"""Issue 8 on the live machine: the total rows of ``ps`` with a segment two real processes share
(item 3), root refused (item 5), and ``files --evict`` as an unprivileged user (fuzzing section)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import memhelpers
from memhelpers import PAGE, Child
from memtype.cli.main import main
from memtype.output.human import size

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

SEGMENT = 32 << 20  # 32 MiB of SysV shared memory, written by one process, mapped by two


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def two_mappers() -> Iterator[tuple[Child, Child]]:
    """Two child interpreters that map one SysV segment, each reading every page; removed at teardown."""
    shmid = memhelpers.shm_create(SEGMENT)
    children: list[Child] = []
    try:
        for _ in range(2):
            children.append(Child())
        a = children[0].call("shm_attach", shmid)
        children[0].call("write", a, SEGMENT // PAGE)
        b = children[1].call("shm_attach", shmid)
        children[1].call("read", b, SEGMENT // PAGE)
        yield children[0], children[1]
    finally:
        for child in children:
            child.close()
        memhelpers.shm_remove(shmid)


def test_issue8_3_a_segment_two_processes_share_is_summed_twice_in_rss_once_in_pss(
        two_mappers: tuple[Child, Child], capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (reads the children's smaps under any uid)")
    a, b = two_mappers
    pids = ["--pid", str(a.pid), "--pid", str(b.pid)]
    code, out, err = _run(capsys, "ps", *pids, "--format", "json")
    assert code == 0, err
    procs = json.loads(out)["processes"]
    shared_rss = sum(p["categories"]["shared"]["rss"] for p in procs)
    shared_pss = sum(p["categories"]["shared"]["pss"] for p in procs)
    assert shared_rss >= 2 * SEGMENT  # each maps all of it
    assert SEGMENT <= shared_pss < SEGMENT + (1 << 20)  # counted once, split between them
    code, out, err = _run(capsys, "ps", *pids, "--width", "160")
    assert code == 0, err
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Anon"])
    shared_at = lines[head].index("Shared") + len("Shared")  # right-aligned under its header
    cell = {line.split()[0]: line[:shared_at].split()[-1] for line in lines if line.split()[:1] in (["sum"], ["PSS"])}
    assert cell == {"sum": size(shared_rss), "PSS": size(shared_pss)}
    assert lines[head + 1].split()[-5:] == ["RSS"] * 5  # the kinds' columns say they are RSS


def test_issue8_5_root_refused_names_the_pid(capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        with open("/proc/1/smaps", "rb") as f:
            f.read(1)
        pytest.skip("PID 1's smaps is readable here: root is not refused")
    except PermissionError:
        pass
    code, _, err = _run(capsys, "ps", "--format", "json")
    assert code == 0
    assert "PID 1" in err and "even to root" in err and "run as root" not in err
    code, _, err = _run(capsys, "maps", "1")
    assert code == 1 and "PID 1" in err and "even to root" in err and "run as root" not in err


def test_issue8_fuzz_files_evict_as_an_unprivileged_user_says_unknown(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged uid")
    with tempfile.TemporaryDirectory(prefix="memtype-issue8-", dir="/var/tmp") as top:
        os.chmod(top, 0o755)
        data = Path(top) / "data.bin"
        data.write_bytes(os.urandom(1 << 20))  # root's file, 0644: nobody may read it, not see its cache
        os.chmod(data, 0o644)
        # As in tests/test_cli.py: load every module as root, then drop to nobody and run again.
        code = ("import contextlib, io, os, sys, memtype.cli.main as m\n"
                "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
                f"    m.main(['files', {str(data)!r}, '--evict', '--width', '120'])\n"
                "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                f"sys.exit(m.main(['files', {str(data)!r}, '--evict', '--width', '120']))\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd="/")
    assert r.returncode == 0, r.stderr
    assert "unknown" in r.stdout and "evicted 0" not in r.stdout and "Traceback" not in r.stderr
    assert "evict: done; the figures are unknown for 1 file" in r.stdout, r.stdout
