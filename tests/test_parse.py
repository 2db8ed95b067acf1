"""Parsers on verbatim kernel text: the compiled and the pure-Python smaps parser must agree."""

from __future__ import annotations

import os

import pytest

from memtype.parse import smaps as smaps_mod
from memtype.parse.mountinfo import parse_mountinfo, shmem_devices
from memtype.parse.procfiles import parse_meminfo, parse_stat, parse_status
from memtype.parse.smaps import parse_smaps

from conftest import GPU_ROOT

FIXTURE_SMAPS = sorted(GPU_ROOT.glob("proc/*/smaps"))


@pytest.mark.parametrize("path", FIXTURE_SMAPS, ids=lambda p: p.parent.name)
def test_fast_and_tolerant_parsers_agree_on_captured_smaps(path: os.PathLike[str]) -> None:
    data = open(path, "rb").read()
    fast = parse_smaps(data)
    slow = parse_smaps(data, accelerated=False)
    assert slow.problems == ()
    assert fast.names == slow.names
    assert [tuple(v) for v in fast.vmas] == [tuple(v) for v in slow.vmas]


def test_accelerator_is_built() -> None:
    # CI builds the extension; without a compiler memtype still works, but slower.
    if os.environ.get("MEMTYPE_REQUIRE_ACCEL") == "1":
        assert smaps_mod.accelerated()


def test_fast_and_tolerant_parsers_agree_on_this_machine() -> None:
    data = open("/proc/self/smaps", "rb").read()
    fast, slow = parse_smaps(data), parse_smaps(data, accelerated=False)
    assert [tuple(v) for v in fast.vmas] == [tuple(v) for v in slow.vmas]
    assert fast.names[:4] == ("Size", "KernelPageSize", "MMUPageSize", "Rss")


def test_header_with_spaces_and_deleted_suffix() -> None:
    text = (b"7f87a591d000-7f87a5a1d000 rw-s 00000000 00:01 4758                       /dev/zero (deleted)\n"
            b"Size:               1024 kB\nRss:                1024 kB\nPss:                1024 kB\n"
            b"THPeligible:           0\nVmFlags: rd wr sh mr mw me ms \n")
    for accel in (True, False):
        p = parse_smaps(text, accelerated=accel)
        assert p.names == ("Size", "Rss", "Pss")
        v = p.vmas[0]
        assert (v.start, v.end, v.perms, v.dev, v.inode, v.path, v.vmflags, v.values) == (
            0x7f87a591d000, 0x7f87a5a1d000, "rw-s", "00:01", 4758, "/dev/zero (deleted)", "rd wr sh mr mw me ms",
            (1024, 1024, 1024))


def test_truncated_smaps_keeps_complete_entries() -> None:
    data = (GPU_ROOT / "proc/421/smaps").read_bytes()
    full = parse_smaps(data)
    cut = parse_smaps(data[: len(data) // 2])
    assert cut.problems, "the damage is reported"
    assert 0 < len(cut.vmas) < len(full.vmas)
    assert [tuple(v) for v in cut.vmas] == [tuple(v) for v in full.vmas[: len(cut.vmas)]]


def test_garbled_line_drops_only_its_entry() -> None:
    data = (GPU_ROOT / "proc/450/smaps").read_bytes()
    lines = data.split(b"\n")
    bad = next(i for i, ln in enumerate(lines) if ln.startswith(b"Rss:") and i > 200)
    lines[bad] = b"Rss:      12x4 kB"
    p = parse_smaps(b"\n".join(lines))
    assert len(p.problems) >= 1 and "unreadable" in p.problems[0]
    assert len(p.vmas) == len(parse_smaps(data).vmas) - 1


def test_status_and_stat() -> None:
    status = parse_status((GPU_ROOT / "proc/421/status").read_text())
    assert status.name == "python3" and status.uid == 0 and status.ppid is not None and not status.kthread
    assert parse_status((GPU_ROOT / "proc/2/status").read_text()).kthread
    stat = parse_stat("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 " + " ".join(["0"] * 12) + " 98765 0 0\n")
    assert stat.comm == "a (weird) name" and stat.ppid == 1 and stat.starttime == 98765
    with pytest.raises(ValueError):
        parse_stat("garbage")


def test_meminfo_in_bytes() -> None:
    mi = parse_meminfo((GPU_ROOT / "proc/meminfo").read_text())
    assert mi["MemTotal"] % 1024 == 0 and mi["MemTotal"] > 100 * 2**30
    assert "HugePages_Total" in mi and mi["HugePages_Total"] < 10**6  # counts stay counts


def test_mountinfo_tmpfs_devices() -> None:
    text = ("22 1 0:21 / /dev/shm rw,nosuid,nodev shared:2 - tmpfs tmpfs rw\n"
            "23 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
            "24 1 0:300 / /big rw - tmpfs none rw\n")
    assert shmem_devices(parse_mountinfo(text)) == frozenset({"00:15", "00:12c"})
