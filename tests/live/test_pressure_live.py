"""`memtype pressure`'s model against the real kernel (needs root and a cgroup v1 memory controller).

Each run: a fresh v1 memory cgroup ``memtype-pressure-<random>`` holds one child process with a
known mix of page cache (written with write() by the child, so it is charged to the cgroup), private
anonymous memory and a memfd (shmem); a temporary 256 MiB swapfile on a disk filesystem is turned on;
the model predicts what a cut of X bytes takes from memory.stat; ``memory.limit_in_bytes`` is set to
``usage - X``; the memory.stat deltas are what the kernel took:

* file = the drop of ``active_file + inactive_file``,
* anonymous = the drop of ``rss`` (mapped anon: a page swapped out leaves it at once),
* shared = the drop of ``shmem`` (a shmem page swapped out leaves the page cache).

The error per kind is |predicted - taken| / X; the median run must be within ``TOLERANCE``. The errors
are printed (``pytest -s``) and, when ``MEMTYPE_PRESSURE_LOG`` names a file, appended to it as JSON
lines. Cleanup runs in ``finally`` blocks, pass or fail: the child is moved back to the root cgroup
and killed, swap is turned off and the swapfile deleted, the data files deleted, the cgroup removed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

import memhelpers
from memhelpers import PAGE, Child, MiB, SwapSetupError
from memtype import Root
from test_kinds import disk_dir  # noqa: F401  (a fixture)
from memtype.collect.pressure import measure_file_folio
from memtype.model.pressure import Prediction, lru_from_memory_stat, predict
from memtype.parse.swapfiles import SwapDevice, parse_swaps

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

V1 = "/sys/fs/cgroup/memory"
TOLERANCE = 0.25  # of X, per kind (the aim)
REPEATS = 3


@pytest.fixture
def v1_memory() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root (creates a memory cgroup and a swapfile)")
    if not os.path.exists(os.path.join(V1, "memory.limit_in_bytes")):
        pytest.skip("no cgroup v1 memory controller at /sys/fs/cgroup/memory (the validation cuts "
                    "memory.limit_in_bytes)")
    return V1


def _stat(cg: str) -> dict[str, int]:
    with open(os.path.join(cg, "memory.stat")) as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


def _read(cg: str, name: str) -> int:
    with open(os.path.join(cg, name)) as f:
        return int(f.read())


def _write(cg: str, name: str, value: object) -> None:
    with open(os.path.join(cg, name), "w") as f:
        f.write(str(value))


@contextmanager
def memory_cgroup(base: str) -> Iterator[str]:
    """A new v1 memory cgroup; at exit its tasks go back to the root cgroup and it is removed."""
    cg = os.path.join(base, f"memtype-pressure-{uuid.uuid4().hex[:10]}")
    os.mkdir(cg)
    try:
        yield cg
    finally:
        try:
            with open(os.path.join(cg, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
            for pid in pids:
                try:
                    _write(base, "cgroup.procs", pid)
                except OSError:
                    pass  # exited meanwhile
        except OSError:
            pass
        for _ in range(100):  # rmdir fails while a task is still leaving
            try:
                os.rmdir(cg)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


class Mix:
    """What the child holds (MiB), the cut X (MiB), the cgroup's swappiness, how often the page cache is
    read again (2: all of it active), the write size that sets its folio size, and mlocked anon (MiB)."""

    def __init__(self, name: str, clean: int, dirty: int, anon: int, shmem: int, x: int, swappiness: int = 60,
                 reads: int = 0, chunk: int = MiB, locked: int = 0) -> None:
        self.name, self.clean, self.dirty, self.anon, self.shmem = name, clean, dirty, anon, shmem
        self.x, self.swappiness, self.reads, self.chunk, self.locked = x, swappiness, reads, chunk, locked

    def __repr__(self) -> str:
        return self.name


MIXES = [
    # within the page cache: cache trim
    Mix("file-only", clean=64, dirty=0, anon=64, shmem=32, x=32),
    # past the page cache: all of it, then the anon lists (swap)
    Mix("file-then-swap", clean=64, dirty=0, anon=64, shmem=32, x=96),
    # dirty page cache is written back, then dropped, before anon is swapped
    Mix("dirty-file", clean=48, dirty=16, anon=64, shmem=32, x=112),
    # all page cache active (read twice): the inactive file list is low, reclaim is balanced by
    # swappiness, and the page cache (1 MiB folios) still goes first: the anon gets its second look
    Mix("active-file", clean=64, dirty=0, anon=64, shmem=32, x=48, reads=2),
    # the same with 4 KiB folios at swappiness 100: now anon is swapped before the page cache is gone
    Mix("active-file-4k-swappiness-100", clean=64, dirty=0, anon=64, shmem=32, x=96, swappiness=100, reads=2,
        chunk=4096),
    # swappiness 200: anon only, although page cache is there
    Mix("active-file-swappiness-200", clean=64, dirty=0, anon=64, shmem=32, x=96, swappiness=200, reads=2),
    # mlocked anon is never taken: the cut reaches into the rest of the anon list instead
    Mix("mlocked", clean=32, dirty=0, anon=48, shmem=32, x=64, locked=16),
    # swappiness 0 in a cgroup: no swap at all; X beyond the page cache is short, the cut fails (EBUSY)
    Mix("swappiness-0-short", clean=64, dirty=0, anon=64, shmem=32, x=96, swappiness=0),
]


def _measure(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    def file(s: dict[str, int]) -> int:
        return s["active_file"] + s["inactive_file"]

    return {"file": file(before) - file(after), "anonymous": before["rss"] - after["rss"],
            "shared": before["shmem"] - after["shmem"]}


def one_run(base: str, disk: str, mix: Mix) -> tuple[Prediction, dict[str, int], dict[str, float], bool]:
    """Set up the mix in a new cgroup, predict, cut the limit, measure. Cleans up everything it made."""
    with ExitStack() as stack:
        cg = stack.enter_context(memory_cgroup(base))
        swap = stack.enter_context(memhelpers.prepared_swapfile(disk, pytest.skip))
        paths = [os.path.join(disk, f"memtype-pressure-{uuid.uuid4().hex[:10]}.{n}") for n in ("clean", "dirty")]
        for p in paths:
            stack.callback(lambda p=p: os.path.exists(p) and os.unlink(p))
        _write(cg, "memory.swappiness", mix.swappiness)
        child = Child()
        stack.callback(child.close)  # runs before the cgroup is removed (ExitStack: last in, first out)
        _write(cg, "cgroup.procs", child.pid)  # before it allocates: charges go to the first toucher
        child.call("write_file", paths[0], mix.clean * MiB // PAGE, True, mix.chunk, timeout=120)
        if mix.reads:
            child.call("read_file", paths[0], mix.reads, timeout=120)
        if mix.dirty:
            child.call("write_file", paths[1], mix.dirty * MiB // PAGE, False, mix.chunk, timeout=120)
        n = mix.anon * MiB // PAGE
        anon = child.call("map_anon", n)
        child.call("write", anon, n)
        if mix.locked:
            n = mix.locked * MiB // PAGE
            locked = child.call("map_anon", n)
            child.call("write", locked, n)
            child.call("mlock", locked, n)
        n = mix.shmem * MiB // PAGE
        fd = child.call("memfd", "memtype-pressure", n)
        shm = child.call("map_fd", fd, n, True)
        child.call("write", shm, n)
        try:
            swap.on()
        except SwapSetupError as exc:
            pytest.skip(f"cannot enable a swapfile here: {exc}")
        before = _stat(cg)
        free_swap = sum(max(0, s.free) for s in _swaps())
        x = mix.x * MiB
        folio = measure_file_folio(Root("/"), "/" + os.path.basename(cg))
        pred = predict(x, lru_from_memory_stat(before, 1), _read(cg, "memory.swappiness"), free_swap, page_size=PAGE,
                       cgroup=True,
                       file_folio=folio or 1.0)
        busy = memhelpers.cut_v1_limit(cg, x)
        after = _stat(cg)
    taken = _measure(before, after)
    errors = {k: abs(pred.taken[k] - taken[k]) / x for k in taken}
    return pred, taken, errors, busy


def _swaps() -> list[SwapDevice]:
    with open("/proc/swaps") as f:
        return parse_swaps(f.read())


def _log(mix: Mix, run: int, pred: Prediction, taken: dict[str, int], errors: dict[str, float], busy: bool) -> None:
    mib = {k: round(v / MiB, 1) for k, v in taken.items()}
    want = {k: round(v / MiB, 1) for k, v in pred.taken.items()}
    err = {k: f"{100 * v:.1f}%" for k, v in errors.items()}
    print(f"\n[pressure {mix.name} run {run + 1}] X={mix.x} MiB folio={pred.file_folio:.0f} predicted {want} "
          f"short {pred.short / MiB:.1f} taken {mib}{' EBUSY' if busy else ''} error/X {err}")
    path = os.environ.get("MEMTYPE_PRESSURE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"mix": mix.name, "run": run + 1, "x": mix.x * MiB, "file_folio": pred.file_folio,
                                "predicted": pred.taken, "short": pred.short, "taken": taken, "ebusy": busy,
                                "error": errors, "writeback_predicted": pred.writeback}) + "\n")


@pytest.mark.parametrize("mix", MIXES, ids=repr)
def test_prediction_matches_a_limit_cut(v1_memory: str, disk_dir: str, mix: Mix) -> None:
    """The kernel takes what the model predicts, per kind within 25% of X, in every one of REPEATS runs;
    it fails the cut (EBUSY) exactly when the model says the need cannot be met."""
    per_kind: dict[str, list[float]] = {}
    for run in range(REPEATS):
        pred, taken, errors, busy = one_run(v1_memory, disk_dir, mix)
        _log(mix, run, pred, taken, errors, busy)
        assert busy == (pred.short > 0), f"{mix.name}: predicted short {pred.short}, the kernel {'' if busy else 'not '}EBUSY"
        for k, e in errors.items():
            per_kind.setdefault(k, []).append(e)
    # The median run per kind: one run in several can differ when writeback of dirty page cache has not
    # finished when the limit is cut (seen once in CI: the kernel swapped 33 MiB more anon instead of
    # writing back 16 MiB of file); the worst run is in the log.
    median = {k: sorted(v)[len(v) // 2] for k, v in per_kind.items()}
    assert all(e <= TOLERANCE for e in median.values()), f"{mix.name}: median error per kind (of X): {median}; " \
        f"all runs: {per_kind}"
