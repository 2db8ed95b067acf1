"""`memtype swap` and the reclaim classes on real memory (root; a temporary swapfile on a disk filesystem).

Kernel facts relied on (kernel-spec.md E.1-E.4, C.4): MADV_PAGEOUT swaps out anon and shmem pages
mapped once; shmem swap shows only in smaps ``Swap`` (not VmSwap, not pagemap, SwapPss 0); anon swap
entries duplicated by fork halve ``SwapPss``. Swap is on only for the moments that need it: with swap
on, DAMON swaps out every process's idle memory (spec surprise 16). Swapfiles and children are
removed in ``finally`` blocks, pass or fail.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
import contextlib

import pytest

import memhelpers
from memhelpers import PAGE, Child, MiB, SwapSetupError, TempSwapfile
import memtype
from memtype import Kind, Root
from memtype.cli.main import main
from memtype.collect.swapinfo import swap_room

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

N = 4096                # pages per mapping
SIZE = N * PAGE         # 16 MiB
NOISE = 512 * 1024      # what the child interpreter allocates while answering (test_kinds.NOISE, doubled)
MADV_FREE = 8
ZSWAP = "/sys/module/zswap/parameters/enabled"


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for c in reversed(made):
        c.close()


@pytest.fixture
def disk_dir() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root (swapon, other processes' smaps)")
    d = memhelpers.disk_tmpdir()
    if d is None:
        pytest.skip("no writable directory on a disk filesystem (set MEMTYPE_DISK_DIR)")
    return d


def swapfile(directory: str) -> contextlib.AbstractContextManager[TempSwapfile]:
    """A 256 MiB swapfile, made but off; ``on()`` right before it is needed; always off and deleted."""
    return memhelpers.prepared_swapfile(directory, pytest.skip)


def swap_on(swap: TempSwapfile) -> None:
    try:
        swap.on()
    except SwapSetupError as exc:
        pytest.skip(f"cannot enable a swapfile here: {exc}")


def page_out(c: Child, addr: int, tries: int = 10) -> dict[str, object]:
    """MADV_PAGEOUT from every CPU until the whole mapping is in swap (test_kinds.page_out)."""
    raw: dict[str, object] = {}
    for _ in range(tries):
        c.call("pageout", addr, N)
        raw = memhelpers.smaps_entry(c.pid, addr)
        if raw["Swap"] == SIZE // 1024 and raw["Rss"] == 0:
            return raw
    pytest.fail(f"MADV_PAGEOUT left {raw} (swap full? swaps active: {memhelpers.swaps_active()})")


def cli_json(*args: str) -> dict[str, object]:
    """``memtype ARGS --format json`` in-process, stdout parsed."""
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*args, "--format", "json"])
    assert code == 0
    doc = json.loads(out.getvalue())
    assert isinstance(doc, dict)
    return doc


def no_other_swap(timeout: float = 20.0) -> None:
    """Wait for every other swap device to go (other tests turn theirs on briefly); skip if one stays."""
    deadline = time.monotonic() + timeout
    while memhelpers.swaps_active():
        if time.monotonic() > deadline:
            pytest.skip(f"another swap device stays active ({', '.join(memhelpers.swaps_active())}): "
                        "this test needs to know that there is no swap")
        time.sleep(0.5)


# ------------------------------------------------------------------ who is in swap
def test_anon_and_memfd_in_swap_by_process_object_and_mapping(disk_dir: str, children: list[Child]) -> None:
    """16 MiB anon + 16 MiB memfd paged out, then a fork: the memfd's swap is one object with two mappers
    (each mapper's smaps shows all of it), the anon swap is split by SwapPss, and it all adds up."""
    with swapfile(disk_dir) as swap:
        c = Child()
        children.append(c)
        anon = c.call("map_anon", N)
        c.call("write", anon, N)
        fd = c.call("memfd", "memtype-swaptest", N)
        shm = c.call("map_fd", fd, N, True)
        c.call("write", shm, N)
        swap_on(swap)
        page_out(c, anon)
        page_out(c, shm)
        kid = c.fork()
        doc = cli_json("swap", "--top", "1000")
        procs = memtype.scan(pids=[c.pid, kid.pid]).processes
    assert swap.path in [d["path"] for d in doc["devices"]]  # type: ignore[union-attr, index]
    a = doc["attribution"]
    assert isinstance(a, dict) and sum(a.values()) == doc["used"]
    assert a["anonymous"] >= SIZE and a["shared"] >= SIZE
    objects = [o for o in doc["objects"] if "memtype-swaptest" in o["object"]]  # type: ignore[union-attr]
    assert len(objects) == 1
    memfd = objects[0]
    assert memfd["swap"] == SIZE
    assert sorted(m["pid"] for m in memfd["mappers"]) == sorted([c.pid, kid.pid])
    rows = {p["pid"]: p for p in doc["processes"]}  # type: ignore[union-attr]
    for pid in (c.pid, kid.pid):
        row = rows[pid]
        assert row["shared"] >= SIZE and row["anonymous"] >= SIZE
        assert row["anonymous_pss"] >= SIZE // 2 - NOISE  # fork made each anon swap entry count twice
    assert {m["pid"] for m in doc["mappings"] if "memtype-swaptest" in m["path"]} == {c.pid, kid.pid}  # type: ignore[union-attr]
    # ps: the memfd's swap is shared.swap although VmSwap (and pagemap) cannot see it (spec E.1)
    parent = next(p for p in procs if p.pid == c.pid)
    assert parent.categories[Kind.SHARED].swap >= SIZE
    vmswap = _status_kb(c.pid, "VmSwap") * 1024
    assert vmswap < parent.totals.swap - SIZE // 2  # VmSwap leaves the memfd's 16 MiB out


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise LookupError(key)


def test_zswap_pool_and_stored(disk_dir: str, children: list[Child]) -> None:
    """With zswap on, paged-out pages stay in RAM compressed: `memtype swap` shows the pool beside what it
    holds (meminfo Zswap / Zswapped). zswap is restored to its setting in ``finally``."""
    if not os.access(ZSWAP, os.W_OK):
        pytest.skip("no writable zswap parameters (CONFIG_ZSWAP off?)")
    with open(ZSWAP) as f:
        saved = f.read().strip()
    with swapfile(disk_dir) as swap:
        try:
            with open(ZSWAP, "w") as f:
                f.write("Y")
            c = Child()
            children.append(c)
            anon = c.call("map_anon", N)
            c.call("write", anon, N, 0, 7)
            swap_on(swap)
            page_out(c, anon)
            doc = cli_json("swap")
        finally:
            with open(ZSWAP, "w") as f:
                f.write(saved)
    z = doc["zswap"]
    assert isinstance(z, dict) and z["enabled"] is True
    assert z["stored"] >= SIZE and 0 < z["pool"] < z["stored"]


# ------------------------------------------------------------------ reclaim classes
def _reclaim(pid: int, exact: bool = False) -> dict[str, int]:
    doc = cli_json("ps", "--pid", str(pid), *(["--exact"] if exact else []))
    procs = doc["processes"]
    assert isinstance(procs, list) and len(procs) == 1
    p = procs[0]
    assert sum(p["reclaim"].values()) == p["rss"] + p["hugetlb"]  # the classes add up
    return dict(p["reclaim"])


def test_reclaim_classes_of_a_live_process(disk_dir: str, children: list[Child]) -> None:
    """8 MiB written anon, 4 MiB of it then MADV_FREE'd, 4 MiB mlocked anon, 8 MiB clean page cache
    mapped, 4 MiB dirty page cache (MAP_SHARED write): each lands in its class (spec C.4), by mapping
    and by page (--exact)."""
    c = Child()
    children.append(c)
    quarter = N // 4
    with memhelpers.temp_file(disk_dir, N // 2) as clean_path, memhelpers.temp_file(disk_dir, quarter) as dirty_path:
        os.sync()  # both files clean on disk: only the writes below dirty one of them
        for attempt in range(3):
            room = swap_room(Root("/"))
            before = _reclaim(c.pid)
            anon = c.call("map_anon", N // 2)
            c.call("write", anon, N // 2)
            c.call("madvise", anon + quarter * PAGE, quarter, MADV_FREE)
            locked = c.call("map_anon", quarter)
            c.call("write", locked, quarter)
            c.call("mlock", locked, quarter)
            clean = c.call("map_path", clean_path, N // 2, False, False)
            c.call("read", clean, N // 2)
            dirty = c.call("map_path", dirty_path, quarter, True, True)
            c.call("write", dirty, quarter)
            after = _reclaim(c.pid)
            exact = _reclaim(c.pid, exact=True)
            raw_dirty = memhelpers.smaps_entry(c.pid, dirty)
            if swap_room(Root("/")) == room and raw_dirty["Shared_Dirty"] + raw_dirty["Private_Dirty"] == 4096:
                break  # no swap came or went, and no flusher cleaned the pages meanwhile: a clean reading
        else:
            pytest.skip("swap came and went, or the dirty pages were written back, during every try")
    d = {k: after[k] - before[k] for k in after}
    mib4 = 4 * MiB
    anon_class = "swap" if room else "never"
    assert abs(d["drop"] - (8 * MiB + mib4)) <= NOISE, d  # clean page cache + lazyfree
    assert abs(d["writeback"] - mib4) <= NOISE, d
    expect_never = mib4 + (0 if room else mib4)  # mlocked; + the written anon when there is no swap
    assert abs(d["never"] - expect_never) <= NOISE, d
    if room:
        assert abs(d["swap"] - mib4) <= NOISE, d
    assert d[anon_class] >= mib4 - NOISE
    # page flags agree on the dirty page cache (kpageflags DIRTY on file pages)
    assert abs(exact["writeback"] - after["writeback"]) <= NOISE, (exact, after)


def test_swap_room_moves_anon_and_shmem_between_swap_and_never(disk_dir: str, children: list[Child]) -> None:
    """No swap: 16 MiB anon + 16 MiB memfd are `never`; with a swapfile on they are `swap`."""
    c = Child()
    children.append(c)
    anon = c.call("map_anon", N)
    c.call("write", anon, N)
    fd = c.call("memfd", "memtype-room", N)
    shm = c.call("map_fd", fd, N, True)
    c.call("write", shm, N)
    with swapfile(disk_dir) as swap:
        no_other_swap()
        without = _reclaim(c.pid)
        if memhelpers.swaps_active():
            pytest.skip("another swap device came up during the measurement")
        swap_on(swap)
        with_swap = _reclaim(c.pid)
    assert without["swap"] == 0 and without["never"] >= 2 * SIZE
    assert with_swap["swap"] >= 2 * SIZE
    assert abs((without["never"] - with_swap["never"]) - with_swap["swap"]) <= NOISE
