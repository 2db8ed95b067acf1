"""Issue 15, kernel truth: `memtype explain` on live processes names the copy-on-write family a real fork
made, the shmem no process maps that a real /dev/shm file holds, and, on a machine without swap, the
no-swap finding, each with the figures that were created.

The fork: a child writes 64 MiB of private anonymous memory (isolated between guard pages, THP off),
forks, and its kid rewrites 16 MiB of it: 16 MiB are copies (anonymous in the kid, in a mapping it
inherited), 48 MiB still copy-on-write shared. The kid's own Python writes a little more after fork()
(its stack, heap pages it touches), so the copies are at least 16 MiB and at most 16 MiB + SLACK.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from memhelpers import MiB, PAGE, Child
from memtype.kinds import Kind
from memtype.lab.swapfile import swaps_active
from test_kinds import disk_dir, disk_file, spawn  # noqa: F401  (fixtures)

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

SIZE = 64 * MiB
REWRITTEN = 16 * MiB
SLACK = 4 * MiB  # what a forked Python kid writes of its own inherited heap and stack (measured: < 1 MiB)


def _explain(run_cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    r = run_cli("explain", *args, "--format", "json")
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)
    return doc


def test_issue15_cow_family_live(run_cli: Callable[..., Any], spawn: Callable[[], Child]) -> None:
    c = spawn()
    addr = c.call("map_anon", SIZE // PAGE)
    c.call("write", addr, SIZE // PAGE)
    kid = c.fork()
    kid.call("write", addr, REWRITTEN // PAGE, 0, 7)
    doc = _explain(run_cli)
    family = [f for f in doc["findings"] if f["id"] == "cow-broken" and c.pid in f["pids"]]
    assert len(family) == 1, [f["title"] for f in doc["findings"]]
    f = family[0]
    assert f["pids"] == sorted([c.pid, kid.pid])
    assert REWRITTEN <= f["bytes"] <= REWRITTEN + SLACK, f["evidence"]
    assert f["figures"]["shared"] >= SIZE - REWRITTEN
    # the kid's story: its cow is held by the mapping made before fork, 48 MiB, with its parent named
    story = _explain(run_cli, str(kid.pid))["process"]
    cow = next(k for k in story["kinds"] if k["kind"] == Kind.COW.value)
    top = cow["held_by"][0]
    assert (top["start"], top["bytes"], top["rule"]) == (addr, SIZE - REWRITTEN, "anon")
    assert f"PID {c.pid}" in cow["why"]
    anon = next(k for k in story["kinds"] if k["kind"] == Kind.ANONYMOUS.value)
    assert any(h["start"] == addr and h["bytes"] == REWRITTEN for h in anon["held_by"])
    # if the kid exited: its own copies go (its whole anonymous kind), the 48 MiB still shared stay
    freed = story["freed_if_killed"]
    assert freed["parts"]["anon_exclusive"] == anon["rss"] >= REWRITTEN
    stays = {x["what"]: x["bytes"] for x in freed["stays"]}
    assert stays["cow_shared"] >= SIZE - REWRITTEN
    # one mapping, field by field: the split follows smaps Shared_Dirty
    m = _explain(run_cli, "--mapping", str(kid.pid), f"{addr:x}")["mapping"]
    assert m["fields_kb"]["Shared_Dirty"] * 1024 == SIZE - REWRITTEN
    assert m["mapping"]["kinds"] == {"anonymous": REWRITTEN, "shared": 0, "cow": SIZE - REWRITTEN, "file": 0,
                                     "device": 0}


@contextmanager
def shm_file() -> Iterator[str]:
    """A 64 MiB /dev/shm file, written (resident shmem) and mapped by no process; removed on exit."""
    path = f"/dev/shm/memtype-live-explain-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, b"\x5a" * SIZE)
        yield path
    finally:
        os.close(fd)
        os.unlink(path)


def _unmapped(run_cli: Callable[..., Any]) -> dict[str, Any] | None:
    return next((f for f in _explain(run_cli)["findings"] if f["id"] == "shmem-unmapped"), None)


def test_issue15_unmapped_shmem_live(run_cli: Callable[..., Any]) -> None:
    """A 64 MiB /dev/shm file nobody maps: the finding names it with its 64 MiB (memtype shm's objects,
    measured by cachestat), and its bytes are the unmapped objects plus the Shmem no object explains."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    with shm_file() as path:
        f = _unmapped(run_cli)
    assert f is not None
    assert f["bytes"] == f["figures"]["unmapped"] + f["figures"]["unaccounted"]
    assert f["figures"]["unmapped"] >= SIZE
    ours = [e for e in f["evidence"] if e.startswith(path)]
    assert ours == [f"{path}: 64.0 MiB resident, its name keeps it"], f["evidence"]


def _anon_pages() -> int:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("AnonPages:"))


def test_issue15_no_swap_live(run_cli: Callable[..., Any], spawn: Callable[[], Child]) -> None:
    """Without swap: the no-swap finding, its bytes AnonPages + Shmem of the sample it read (within what
    the machine moves between that read and ours), and a process's anonymous kind said to stay in RAM."""
    if swaps_active():
        pytest.skip(f"a swap device is active ({', '.join(swaps_active())}): no no-swap finding to check")
    c = spawn()
    addr = c.call("map_anon", SIZE // PAGE)
    c.call("write", addr, SIZE // PAGE)
    before = _anon_pages()
    doc = _explain(run_cli)
    after = _anon_pages()
    f = next(f for f in doc["findings"] if f["id"] == "no-swap")
    assert f["bytes"] == f["figures"]["anon"] + f["figures"]["shmem"]
    assert f["figures"]["swap_total"] == 0
    # AnonPages is machine-wide and six other test runs allocate and free hundreds of MiB meanwhile: the
    # figure read inside explain lies between the reads before and after, give or take that churn
    low, high = min(before, after), max(before, after)
    assert low - max(low // 5, 256 * MiB) <= f["figures"]["anon"] <= high + max(high // 5, 256 * MiB)
    assert f["figures"]["anon"] >= SIZE  # our 64 MiB is in it
    story = _explain(run_cli, str(c.pid))["process"]
    anon = next(k for k in story["kinds"] if k["kind"] == "anonymous")
    assert anon["kernel_can"].startswith("never: no swap device")
    assert story["reclaim"]["swap"] == 0 and story["reclaim"]["never"] >= SIZE


def test_issue15_file_cache_one_process_live(run_cli: Callable[..., Any], spawn: Callable[[], Child],
                                             disk_file: Callable[[int], str]) -> None:
    """A child maps a 256 MiB file (above 1% of this VM's 24 GiB) and reads every page: the finding names
    it with the file's 256 MiB (no other process maps those pages: their PSS is their RSS)."""
    npages = 256 * MiB // PAGE
    path = disk_file(npages)
    c = spawn()
    addr = c.call("map_path", path, npages, False, False)
    c.call("read", addr, npages)  # right before explain: DAMON drops page cache idle for a minute
    doc = _explain(run_cli)
    found = [f for f in doc["findings"] if f["id"] == "file-cache-one-process" and f["pids"] == [c.pid]]
    assert len(found) == 1, [f["title"] for f in doc["findings"]]
    assert any(e == f"{path}: 256 MiB" for e in found[0]["evidence"]), found[0]["evidence"]
    assert found[0]["bytes"] >= 256 * MiB
