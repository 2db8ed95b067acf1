"""Issue 11 on the live kernel: real children grow, fork, rewrite and exit between samples written to a
database (``memtype.store``, as ``memtype record`` writes them); ``memtype diff --db`` must name what
changed with the bytes created, per kind.

Kernel facts used: written private anonymous pages are resident and counted once (Private_Dirty, so
PSS = RSS); a child's write to a page it shares copy-on-write with its parent gives it a copy with a
fault of its own and leaves the parent's page mapped once, with no fault of the parent's (kernel-spec
A.6). Every process a test starts is killed and reaped even when it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Result, needs_root
from memhelpers import PAGE, Child
from memtype.collect.sample import read_sample
from memtype.model.sample import Sample
from replaydb import make_db

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

MiB = 1 << 20
SIZE = 64 * MiB
SLACK = 2 * MiB  # the child's interpreter allocates a little while it serves a request


@pytest.fixture
def child() -> Iterator[Child]:
    c = Child()
    try:
        yield c
    finally:
        c.close()


def sample(pids: list[int]) -> Sample:
    s = read_sample("/", pids, exe=True, cgroup=True)
    time.sleep(0.01)  # distinct walls
    return s


def at(s: Sample) -> str:
    assert s.wall is not None
    return f"@{s.wall:.6f}"


def diff(run_cli: Callable[..., Result], db: Path, a: Sample, b: Sample) -> dict[str, dict[str, object]]:
    r = run_cli("diff", "--db", str(db), at(a), at(b), "--format", "json", "--top", "1000")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    return {"doc": doc, **{str(p["pid"]): p for p in doc["processes"]}}


def test_issue11_diff_names_a_childs_anon_growth_and_a_process_between_samples(
        run_cli: Callable[..., Result], child: Child, tmp_path: Path) -> None:
    needs_root()
    a = sample([child.pid])
    addr = child.call("map_anon", SIZE // PAGE)
    child.call("write", addr, SIZE // PAGE)
    between = subprocess.Popen(["sleep", "60"])
    try:
        b = sample([child.pid, between.pid])
    finally:
        between.kill()
        between.wait()
    c = sample([child.pid])
    db = make_db(tmp_path / "live.db", [a, b, c])
    d = diff(run_cli, db, a, b)
    grown = d[str(child.pid)]
    delta = grown["delta"]
    assert grown["change"] == "grew", grown
    assert isinstance(delta, dict)
    assert SIZE <= delta["anonymous"] <= SIZE + SLACK, delta
    assert all(abs(delta[k]) <= SLACK for k in ("shared", "cow", "file", "device")), delta
    assert delta["pss"] == sum(delta[k] for k in ("anonymous", "shared", "cow", "file", "device"))
    assert d[str(between.pid)]["change"] == "appeared"
    assert d[str(between.pid)]["comm"] == "sleep"
    gone = diff(run_cli, db, b, c)[str(between.pid)]
    assert gone["change"] == "went away"
    assert str(between.pid) not in diff(run_cli, db, a, c)  # it lived between A and C only
    lines = d["doc"]["lines"]
    assert isinstance(lines, list) and any("anonymous in 1 python" in str(line) for line in lines), lines


def test_issue11_diff_names_the_fork_family_whose_cow_broke(run_cli: Callable[..., Result], child: Child,
                                                            tmp_path: Path) -> None:
    needs_root()
    addr = child.call("map_anon", SIZE // PAGE)
    child.call("write", addr, SIZE // PAGE)  # written before the fork: shared copy-on-write after it
    kid = child.fork()
    a = sample([child.pid, kid.pid])
    kid.call("write", addr, SIZE // PAGE, 0, 2)  # the kid rewrites all of it: private copies
    b = sample([child.pid, kid.pid])
    db = make_db(tmp_path / "cow.db", [a, b])
    d = diff(run_cli, db, a, b)
    breaks = d["doc"]["cow_breaks"]
    assert isinstance(breaks, list) and len(breaks) == 1, breaks
    broke = breaks[0]
    assert broke["pid"] == child.pid and broke["members"] == [child.pid, kid.pid]
    assert -SIZE - SLACK <= broke["delta"] <= -SIZE + SLACK, broke  # both halves of the shared PSS
    assert broke["writers"] == [kid.pid]  # the parent's pages turned private without a fault of its own
    for pid in (child.pid, kid.pid):  # each now holds all 64 MiB as its own: +32 MiB of PSS
        delta = d[str(pid)]["delta"]
        assert isinstance(delta, dict)
        assert SIZE - SLACK <= delta["anonymous"] <= SIZE + SLACK, (pid, delta)
        assert -SIZE // 2 - SLACK <= delta["cow"] <= -SIZE // 2 + SLACK, (pid, delta)
    assert any(f"sharing with PID {child.pid}" in str(line) for line in d["doc"]["lines"])  # type: ignore[union-attr]


def _recorded(db: Path, want: Callable[[Sample], bool], timeout: float = 90) -> Sample:
    """The first sample ``memtype record`` writes that ``want`` accepts (the database is read while the
    recorder writes it)."""
    from memtype.store import Store, StoreError

    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with Store.open(str(db), readonly=True) as st:
                    for sample_id, _ in st.times()[seen:]:
                        s = st.sample(sample_id)
                        seen += 1
                        if want(s):
                            return s
            except StoreError:
                pass  # created but not initialised yet
        time.sleep(0.2)
    raise AssertionError(f"memtype record wrote no such sample within {timeout} s ({seen} read)")


def _smaps_of(s: Sample, pid: int) -> int | None:
    """The anonymous kB of ``pid``'s recorded smaps (None: not in the sample, or not read yet)."""
    p = next((p for k, p in s.processes.items() if k[0] == pid), None)
    if p is None or p.smaps is None:
        return None
    i = p.smaps.names.index("Anonymous") + 4
    n = p.smaps.numbers
    return sum(n[j + i] for j in range(0, len(n), p.smaps.width))


def test_issue11_diff_over_the_real_recorder(run_cli: Callable[..., Result], child: Child, tmp_path: Path) -> None:
    """``memtype record`` samples the machine while a child grows by 64 MiB of anonymous memory and a
    process lives between two samples; ``diff --db`` over what it wrote names both."""
    needs_root()
    db = tmp_path / "rec.db"
    recorder = subprocess.Popen([sys.executable, "-m", "memtype", "record", str(db), "--interval", "0.5",
                                 "--budget", "5", "--duration", "5m", "--retain", "none", "--max-size", "none",
                                 "--downsample", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    between: subprocess.Popen[bytes] | None = None
    try:
        a = _recorded(db, lambda s: _smaps_of(s, child.pid) is not None)
        base = _smaps_of(a, child.pid)
        assert base is not None
        addr = child.call("map_anon", SIZE // PAGE)
        child.call("write", addr, SIZE // PAGE)
        b = _recorded(db, lambda s: (_smaps_of(s, child.pid) or 0) >= base + SIZE // 1024)
        between = subprocess.Popen(["sleep", "60"])
        pid = between.pid
        c = _recorded(db, lambda s: _smaps_of(s, pid) is not None)
        between.kill()
        between.wait()
        d = _recorded(db, lambda s: all(k[0] != pid for k in s.processes))
    finally:
        if between is not None and between.poll() is None:
            between.kill()
            between.wait()
        recorder.terminate()
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
    assert recorder.returncode in (0, -15, 143), recorder.stderr.read() if recorder.stderr else ""
    grown = diff(run_cli, db, a, b)[str(child.pid)]
    delta = grown["delta"]
    assert isinstance(delta, dict)
    assert grown["change"] == "grew" and SIZE <= delta["anonymous"] <= SIZE + SLACK, grown
    assert all(abs(delta[k]) <= SLACK for k in ("shared", "cow", "file", "device")), delta
    assert diff(run_cli, db, b, c)[str(pid)]["change"] == "appeared"
    assert diff(run_cli, db, c, d)[str(pid)]["change"] == "went away"
    assert str(pid) not in diff(run_cli, db, b, d)  # it lived between those two samples only
