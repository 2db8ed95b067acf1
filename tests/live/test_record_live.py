"""Issue 11, recording on the live kernel: what real children do between samples is in the database
and comes back out, derived, with the right bytes; the recorder dies (SIGKILL mid-write, a full disk)
and the database still opens with every completed sample; a second recorder is refused.

Kernel facts used: writing N pages of a private anonymous mapping makes them resident anon (N pages
more RssAnon); a fork's child writing pages it shares copy-on-write gets its own copies, so the
parent's copy-on-write share of them goes (kernel-spec A.6). Every process, mount and file a test
makes is removed even when it fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memhelpers import PAGE, Child
from memtype import Kind
from memtype.collect.sampler import Sampler
from memtype.model.derive import Model, derive
from memtype.model.sample import Sample
from memtype.store import Store, StoreError

if not sys.platform.startswith("linux"):
    pytest.skip("live tests read Linux /proc", allow_module_level=True)

MiB = 1 << 20
STEP = 16 * MiB
MEMTYPE = [sys.executable, "-m", "memtype"]


@pytest.fixture
def spawn() -> Iterator[Callable[[], Child]]:
    children: list[Child] = []

    def make() -> Child:
        children.append(Child())
        return children[-1]

    yield make
    for c in children:
        c.close()


def _sampler() -> Sampler:
    return Sampler(budget=2.0, first_budget=60.0, refresh=1e9, exe=True, cgroup=True)


def _anon(model: Model, pid: int, kind: Kind = Kind.ANONYMOUS) -> int:
    key = next(k for k in model.sample.processes if k[0] == pid)
    return model.by_key[key].categories[kind].rss


def _derived(samples: list[Sample]) -> list[Model]:
    models: list[Model] = []
    for s in samples:
        models.append(derive(s, models[-1] if models else None))
    return models


def _read_back(db: str) -> list[Sample]:
    with Store.open(db, readonly=True) as st:
        return [st.sample(i) for i, _ in st.times()]


def test_issue11_recorded_anon_growth(tmp_path: Path, spawn: Callable[[], Child]) -> None:
    """A child grows its anon memory by 16 MiB between samples, twice: the stored samples, derived,
    show 16 MiB more anonymous each time (page-exact: the pages are written, nothing else moves)."""
    c = spawn()
    addr = c.call("map_anon", 2 * STEP // PAGE)
    db = str(tmp_path / "h.db")
    sampler = _sampler()
    recorded: list[Sample] = []
    with sampler, Store.open(db) as st:
        for step in range(3):
            if step:
                c.call("write", addr, STEP // PAGE, (step - 1) * STEP // PAGE)
            sample = sampler.tick().sample
            st.append(sample, interval=1.0)
            recorded.append(sample)
    stored = _read_back(db)
    assert stored == recorded
    models = _derived(stored)
    anon = [_anon(m, c.pid) for m in models]
    assert [b - a for a, b in zip(anon, anon[1:])] == [STEP, STEP]
    assert _derived(recorded)[-1].by_key.keys() == models[-1].by_key.keys()


def test_issue11_recorded_cow_break(tmp_path: Path, spawn: Callable[[], Child]) -> None:
    """A fork's kid rewrites the 16 MiB it shares with its parent: before, both hold it as copy-on-write;
    after, the kid holds 16 MiB of its own anon and the parent's copy-on-write share is gone."""
    c = spawn()
    addr = c.call("map_anon", STEP // PAGE)
    c.call("write", addr, STEP // PAGE)
    kid = c.fork()
    db = str(tmp_path / "h.db")
    with _sampler() as sampler, Store.open(db) as st:
        st.append(sampler.tick().sample)
        kid.call("write", addr, STEP // PAGE, 0, 7)
        for _ in range(3):  # the break is seen when the writer is read; its family follows in the same tick
            model = sampler.tick()
            st.append(model.sample)
            if _anon(model, c.pid, Kind.COW) < STEP // 2:
                break
    before, after = _derived(_read_back(db))[0], _derived(_read_back(db))[-1]
    assert _anon(before, c.pid, Kind.COW) >= STEP and _anon(before, kid.pid, Kind.COW) >= STEP
    assert _anon(after, kid.pid, Kind.ANONYMOUS) - _anon(before, kid.pid, Kind.ANONYMOUS) >= STEP
    assert _anon(after, c.pid, Kind.COW) <= _anon(before, c.pid, Kind.COW) - STEP


# A process that writes 16 MiB of anon memory, says so, and lives until its stdin closes. Not a
# memhelpers.Child: the sampler holds a descriptor per process open, so the pipes made while it runs
# are above FD_SETSIZE, which Child's select() cannot take; a blocking readline can.
SHORT_LIVED = """
import mmap, sys
m = mmap.mmap(-1, %d, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m[:] = b"x" * len(m)
print("ready", flush=True)
sys.stdin.read()
""" % STEP


def test_issue11_process_between_two_samples_only(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    with _sampler() as sampler, Store.open(db) as st:
        st.append(sampler.tick().sample)
        proc = subprocess.Popen([sys.executable, "-I", "-c", SHORT_LIVED], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            st.append(sampler.tick().sample)
        finally:
            proc.kill()
            proc.wait()
        st.append(sampler.tick().sample)
    seen = [[k for k in s.processes if k[0] == proc.pid] for s in _read_back(db)]
    assert [len(x) for x in seen] == [0, 1, 0]
    model = _derived(_read_back(db))[1]
    assert _anon(model, proc.pid) >= STEP


def _wait_for(db: str, count: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        if os.path.exists(db):
            try:
                with Store.open(db, readonly=True) as st:
                    n = st.info().count
                    if n >= count:
                        return n
            except StoreError:
                pass  # being created
        time.sleep(0.2)
    pytest.fail(f"fewer than {count} samples in {db} after {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


# The recorder, killed by SIGKILL from inside its own transaction: after the sample's row is written,
# before COMMIT (the hook runs in the transaction's meta update).
KILL_MID_WRITE = """
import os, signal, sys
from memtype.store import store
real = store.Store._set_meta
calls = [0]
def hooked(self, **values):
    if "interval" in values:
        calls[0] += 1
        if calls[0] == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)
    return real(self, **values)
store.Store._set_meta = hooked
from memtype.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def test_issue11_sigkill_mid_write_keeps_completed_samples(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    proc = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, "4", "record", db, "--interval", "0.2",
                           "--budget", "0.05"], capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    with Store.open(db, readonly=True) as st:
        assert st.info().count == 3  # the fourth was being written
        samples = [st.sample(i) for i, _ in st.times()]
    assert all(s.processes for s in samples)
    with Store.open(db) as st:  # the lock went with the killed recorder; recording goes on
        assert st.append(samples[-1]) == 4


def test_issue11_sigkill_anytime_and_readers_while_recording(tmp_path: Path) -> None:
    """SIGKILL at an arbitrary moment; meanwhile a reader reads every sample the recorder committed."""
    db = str(tmp_path / "h.db")
    proc = subprocess.Popen([*MEMTYPE, "record", db, "--interval", "0.1", "--budget", "0.05"],
                            stderr=subprocess.PIPE)
    try:
        _wait_for(db, 3, proc)
        with Store.open(db, readonly=True) as st:  # reading while it records
            for sid, _ in st.times():
                assert st.sample(sid).processes
        time.sleep(0.37)
        proc.kill()
        proc.wait()
    finally:
        _stop(proc)
    with Store.open(db, readonly=True) as st:
        assert st.info().count >= 3
        for sid, _ in st.times():
            st.sample(sid)


def test_issue11_second_recorder_refused(tmp_path: Path, run_cli: Callable[..., object]) -> None:
    db = str(tmp_path / "h.db")
    proc = subprocess.Popen([*MEMTYPE, "record", db, "--interval", "0.5", "--budget", "0.05"],
                            stderr=subprocess.PIPE)
    try:
        _wait_for(db, 1, proc)
        r = run_cli("record", db, "--count", "1")
        assert r.code == 1  # type: ignore[attr-defined]
        assert r.err == (f"memtype: error: {db} is being recorded by PID {proc.pid}; one recorder per "  # type: ignore[attr-defined]
                         f"database (stop it, or record into another file)\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert b"memtype: recorded" in (proc.stderr.read() if proc.stderr else b"")
    finally:
        _stop(proc)


@pytest.fixture
def small_disk() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts a small tmpfs to fill)")
    where = tempfile.mkdtemp(prefix="memtype-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k,mode=0700", "memtype-full", where],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(where)
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", where], check=False)
        os.rmdir(where)


def test_issue11_full_disk_stops_with_one_line_and_a_readable_db(small_disk: str) -> None:
    db = os.path.join(small_disk, "h.db")
    proc = subprocess.run([*MEMTYPE, "record", db, "--interval", "0.1", "--budget", "0.05", "--max-size", "none"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "the disk is full; recording stopped" in proc.stderr, proc.stderr
    with Store.open(db, readonly=True) as st:
        n = st.info().count
        assert n >= 1
        for sid, _ in st.times():
            st.sample(sid)
