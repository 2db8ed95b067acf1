"""The history store (issue 11): Samples in and out exactly, keyframes and deltas, one writer, safe
files, hostile databases (one-line errors). Hermetic: fixture Samples, temp directories."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import zlib
from array import array
from pathlib import Path

import pytest

from memtype.model.records import Skipped
from memtype.model.sample import Counters, ProcessSample, Sample, SmapsRows
from memtype.model.sample_dict import from_dict
from memtype.store import Store, StoreError
from memtype.store import codec, decode, patch, retain

MODELS = Path(__file__).parent / "fixtures" / "models"


def base_sample() -> Sample:
    s = from_dict(json.loads((MODELS / "gpu-dataloader.json").read_text()))
    return s.replace(wall=1.7e9, monotonic=1000.0)


def evolve(s: Sample, step: int) -> Sample:
    """A plausible next sample: counters move, a process's smaps is re-read with a new entry and moved
    numbers, one process exits and another starts, the machine's figures move."""
    procs = dict(s.processes)
    keys = list(procs)
    a = procs[keys[step % len(keys)]]
    procs[a.key] = a.replace(counters=Counters(*(None if v is None else v + 4096 * step
                                                 for v in a.counters.as_tuple())))
    b = procs[keys[(step + 1) % len(keys)]]
    if b.smaps is not None:
        rows = b.smaps
        numbers = array("Q", rows.numbers)
        numbers[rows.width - 1] += step  # the last field of the first entry
        headers = rows.headers
        if step % 2:  # a new mapping at the end
            headers = headers + (("rw-p", "00:00", f"[anon:step{step}]", "rd wr mr mw me ac"),)
            numbers += array("Q", [1 << 40, (1 << 40) + 4096 * step, 0, 0] + [step] * len(rows.names))
        procs[b.key] = b.replace(smaps=SmapsRows(rows.names, headers, numbers), smaps_at=(b.smaps_at or 0) + step)
    if step % 3 == 0:
        gone = keys[-1]
        del procs[gone]
        new = ProcessSample(100000 + step, 5000 + step, "newcomer", 0, 1, "S", Counters(4096, 8192, 0, None, 1, 0))
        procs[new.key] = new
        procs = dict(sorted(procs.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)))
    meminfo = dict(s.meminfo)
    meminfo["MemFree"] = meminfo.get("MemFree", 0) - 4096 * step
    return s.replace(processes=procs, meminfo=meminfo, wall=(s.wall or 1.7e9) + 10 * step,
                     monotonic=(s.monotonic or 0) + 10 * step,
                     warnings=s.warnings + ((f"warning {step}",) if step == 4 else ()),
                     skipped=(Skipped(7, "denied", "proc/7/smaps"),) if step == 5 else s.skipped)


def series(n: int) -> list[Sample]:
    out = [base_sample()]
    for i in range(1, n):
        out.append(evolve(out[-1], i))
    return out


def test_issue11_store_round_trip_exact(tmp_path: Path) -> None:
    samples = series(12)
    db = str(tmp_path / "h.db")
    with Store.open(db, keyframe_every=5) as st:
        ids = [st.append(s, interval=10.0) for s in samples]
    with Store.open(db, readonly=True) as st:
        assert [i for i, _ in st.times()] == ids
        for sid, s in reversed(list(zip(ids, samples))):  # backwards: each read replays its chain
            got = st.sample(sid)
            assert got == s and list(got.processes) == list(s.processes)
        assert list(st.between(samples[3].wall or 0, samples[8].wall or 0)) == samples[3:9]
        info = st.info()
        assert (info.count, info.first_wall, info.last_wall) == (12, samples[0].wall, samples[-1].wall)
        assert info.schema_version == 2 and info.interval == 10.0 and info.host == samples[-1].host
        chains = sqlite3.connect(db).execute("SELECT count(DISTINCT chain) FROM samples").fetchone()[0]
        assert chains == 3  # keyframes at 1, 6, 11


def test_issue11_unchanged_process_costs_nothing(tmp_path: Path) -> None:
    """A sampler's carried-forward process (the same ProcessSample) is not in the delta at all."""
    s = base_sample()
    enc = codec.Encoder()
    enc.encode(s, True)
    enc.accept()
    payload = enc.encode(s.replace(wall=(s.wall or 0) + 10), False)
    (n,) = codec.LENGTH.unpack_from(payload)
    frame = json.loads(payload[4:4 + n])
    assert frame["p"] == [] and frame["s"] == [] and frame["gone"] == [] and len(payload) == 4 + n
    assert frame["m"] == [["wall", "=", (s.wall or 0) + 10]]


def test_issue11_patch_round_trip() -> None:
    old = {"a": 1, "b": {"x": [1, 2, 3], "y": "s"}, "c": None, "d": [1, 2]}
    new = {"a": 5, "b": {"x": [1, 9, 3], "z": 1.5}, "c": {"k": 1}, "d": [1, 2, 3], "e": True}
    p = patch.diff(old, new)
    assert patch.apply(old, p) == new and old["b"]["x"] == [1, 2, 3]  # the input is left as it was
    assert patch.diff(new, new) is None and patch.apply(1, patch.diff(1, "x")) == "x"
    assert patch.diff(True, 1) is not None  # a bool is not an int to add to


def test_issue11_second_writer_refused_with_pid(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    with Store.open(db) as st:
        st.append(base_sample())
        with pytest.raises(StoreError, match=f"is being recorded by PID {os.getpid()}"):
            Store.open(db)
        with Store.open(db, readonly=True) as r:  # readers are welcome
            assert r.info().count == 1
    with Store.open(db) as st:  # the lock went with the first writer
        st.append(base_sample())


def test_issue11_files_created_safely(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "h.db"
    with Store.open(str(db)) as st:
        st.append(base_sample())
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    for p in db.parent.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p
    target = tmp_path / "victim"
    target.write_text("keep")
    link = tmp_path / "link.db"
    link.symlink_to(target)
    with pytest.raises(StoreError, match="is a symbolic link"):
        Store.open(str(link))
    (tmp_path / "other.db-wal").symlink_to(target)
    with pytest.raises(StoreError, match="other.db-wal is a symbolic link"):
        Store.open(str(tmp_path / "other.db"))
    assert target.read_text() == "keep" and not (tmp_path / "other.db").exists()


def test_issue11_nearest_outside_range(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    samples = series(3)
    with Store.open(db) as st:
        for s in samples:
            st.append(s, interval=10.0)
        first = samples[0].wall or 0
        assert st.nearest(first + 4) == (1, first) and st.nearest(first + 16)[0] == 2
        assert st.nearest(first - 9)[0] == 1
        with pytest.raises(StoreError, match=r"no sample near .*: the record covers"):
            st.nearest(first - 3600)


def _hostile(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _made(tmp_path: Path, n: int = 3) -> str:
    db = str(tmp_path / "h.db")
    with Store.open(db) as st:
        for s in series(n):
            st.append(s)
    return db


@pytest.mark.parametrize("writable", [False, True])
def test_issue11_hostile_files_one_line(tmp_path: Path, writable: bool) -> None:
    cases = {"text.db": b"not a database at all\n" * 100, "empty.db": b""}
    good = Path(_made(tmp_path))
    cases["truncated.db"] = good.read_bytes()[:3000]
    for name, data in cases.items():
        path = _hostile(tmp_path, name, data)
        with pytest.raises(StoreError) as err:
            with Store.open(path, readonly=not writable) as st:
                st.sample(st.times()[-1][0])
        assert "\n" not in str(err.value) and path in str(err.value)


def test_issue11_wrong_schema_and_newer_version(tmp_path: Path) -> None:
    other = str(tmp_path / "other.db")
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="not a memtype database"):
        Store.open(other, readonly=True)
    db = _made(tmp_path)
    c = sqlite3.connect(db)
    c.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match=r"newer memtype \(store schema 99; this memtype reads up to 2\)"):
        Store.open(db, readonly=True)


def test_issue11_damaged_frames(tmp_path: Path) -> None:
    db = _made(tmp_path, 4)
    c = sqlite3.connect(db)
    rows = c.execute("SELECT id, data FROM samples ORDER BY id").fetchall()
    bomb = codec.compress(b"\0" * (64 << 20))  # 64 MiB of zeros: small compressed
    c.execute("UPDATE samples SET data = ? WHERE id = 2", (bytes(rows[1][1][:40]),))  # cut short
    c.execute("UPDATE samples SET data = ?, dict = NULL WHERE id = 4", (bomb,))
    c.commit()
    c.close()
    with Store.open(db, readonly=True) as st:
        assert st.sample(1) == series(1)[0]
        for sid, what in ((2, "is damaged"), (3, "is damaged"), (4, "is damaged")):
            with pytest.raises(StoreError, match=what) as err:
                st.sample(sid)
            assert "\n" not in str(err.value)
    for frame in (bomb, b"\x01" + zlib.compress(b"\0" * (4 << 20))):  # format 3 (lzma) and 1 (zlib)
        with pytest.raises(codec.Damaged, match="larger than 1 MiB"):
            codec.decompress(frame, None, limit=1 << 20)
    with pytest.raises(codec.Damaged, match="cut short"):
        codec.decompress(bomb[:100], None)
    junk = [b"\x01" + zlib.compress(b"\x05\x00\x00\x00[1,2]"), b"\x01" + zlib.compress(b"\x02\x00\x00\x00{}"),
            b"\x02abc", b"", b"\x01" + zlib.compress(b"\xff\xff\xff\x7f{}")]
    for data in junk:
        with pytest.raises(codec.Damaged):
            decode.Decoder().decode(codec.decompress(data, None))


def _clocked(n: int, start: float, step: float) -> list[Sample]:
    """``n`` samples ``step`` seconds apart from ``start`` (a synthetic clock), evolving as above."""
    s = base_sample()
    out = [s.replace(processes={k: s.processes[k] for k in list(s.processes)[:4]})]
    while len(out) < n:
        out.append(evolve(out[-1], len(out)))
    return [s.replace(wall=start + i * step, monotonic=1000.0 + i * step) for i, s in enumerate(out)]


def test_issue11_retention_and_tiers_synthetic_clock(tmp_path: Path) -> None:
    """Three days of 10 s samples squeezed: 100 samples per "day" at a 864 s step; tiers 1d:3000s."""
    day = 86400.0
    step = day / 100
    t0 = 1.7e9
    samples = _clocked(300, t0, step)
    db = str(tmp_path / "h.db")
    with Store.open(db, keyframe_every=10) as st:
        for s in samples:
            st.append(s, interval=step)
        now = t0 + 300 * step
        done = st.retain(now=now, retain_for=2.5 * day, tiers=((day, 3000.0),))
        walls = [w for _, w in st.times()]
        assert min(walls) >= now - 2.5 * day and done.aged == 300 - 250 + 1 - 1  # 50 older than 2.5 days
        recent = [w for w in walls if w >= now - day]
        old = [w for w in walls if w < now - day]
        assert len(recent) >= 99  # the last day whole (the chain straddling the day's edge is kept whole)
        gaps = [b - a for a, b in zip(old, old[1:])]
        assert gaps and min(gaps) >= 3000 * 0.95 and max(gaps) <= 3000 + step  # one per 3000 s
        before = st.times()
        again = st.retain(now=now, retain_for=2.5 * day, tiers=((day, 3000.0),))
        assert again.removed == 0 and st.times() == before  # a second pass keeps what the first kept
        by_id = {s.wall: s for s in samples}
        for sid, wall in st.times():  # every kept sample is still exactly as recorded
            assert st.sample(sid) == by_id[wall]
    with Store.open(db, readonly=True) as st:
        assert [st.sample(i) for i, _ in st.times()] == [by_id[w] for _, w in st.times()]


def test_issue11_max_size(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    samples = _clocked(120, 1.7e9, 10.0)
    with Store.open(db, keyframe_every=10) as st:
        for s in samples:
            st.append(s)
        full = st.size_bytes()
        done = st.retain(now=1.7e9 + 1200, max_size=full // 3, tiers=())
        assert done.sized > 0 and st.size_bytes() <= full // 3
        ids = st.times()
        assert ids[-1][1] == samples[-1].wall and st.sample(ids[0][0]) == samples[ids[0][0] - 1]
        st.append(samples[-1].replace(wall=1.7e9 + 1300))  # recording goes on


def digest(s: Sample) -> dict[str, object]:
    """What a Sample must hold, in a form that survives fields added later (they are not in it)."""
    return {"wall": s.wall, "monotonic": s.monotonic, "host": [s.host.hostname, s.host.kernel, s.host.page_size],
            "meminfo": s.meminfo, "vmstat": s.vmstat, "warnings": list(s.warnings),
            "processes": [[p.pid, p.starttime, p.comm, p.uid, p.ppid, p.state, list(p.counters.as_tuple()), p.exe,
                           p.cgroup, p.smaps_at, None if p.smaps is None else
                           [list(p.smaps.names), len(p.smaps), hashlib.sha256(p.smaps.numbers.tobytes()).hexdigest(),
                            hashlib.sha256(repr(p.smaps.headers).encode()).hexdigest()]]
                          for p in s.processes.values()]}


def test_issue11_reads_a_schema_1_database(tmp_path: Path) -> None:
    """tests/fixtures/store/v1.db was written by store schema 1 (make_v1.py): every later memtype reads it."""
    fixture = Path(__file__).parent / "fixtures" / "store"
    db = tmp_path / "v1.db"
    db.write_bytes((fixture / "v1.db").read_bytes())  # a copy: reading may create -shm beside it
    want = json.loads((fixture / "v1.json").read_text())
    with Store.open(str(db), readonly=True) as st:
        assert st.info().schema_version == 1 and st.info().count == 4
        got = [json.loads(json.dumps(digest(st.sample(i)))) for i, _ in st.times()]
    assert got == want
    with Store.open(str(db)) as st:  # and appends to it (its frames are schema 2's now: it says so)
        st.append(base_sample())
        assert st.info().schema_version == 2
    with Store.open(str(db), readonly=True) as st:
        assert [json.loads(json.dumps(digest(st.sample(i)))) for i in (1, 2, 3, 4)] == want


def test_issue11_cut_redacted(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    samples = [s.replace(processes={k: p.replace(exe="/home/alice/bin/train") for k, p in s.processes.items()})
               for s in series(8)]
    with Store.open(db, keyframe_every=3) as st:
        for s in samples:
            st.append(s, interval=10.0)
    out = str(tmp_path / "cut.db")
    with Store.open(db, readonly=True) as st:
        assert st.cut(out, samples[2].wall or 0, samples[5].wall or 0, redact=True) == 4
        with pytest.raises(StoreError, match="already exists"):
            st.cut(out, 0, 2e9)
    assert sorted(os.listdir(tmp_path)) == ["cut.db", "h.db", "h.db-lock"]  # one self-contained file
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    with Store.open(out, readonly=True) as st:
        got = [st.sample(i) for i, _ in st.times()]
    assert [s.wall for s in got] == [s.wall for s in samples[2:6]]
    # as snapshot --redact: the executable's name only, mapped files' directories hidden, no host name
    assert all(p.exe == "train" for s in got for p in s.processes.values()) and got[0].host.hostname is None
    for s, orig in zip(got, samples[2:6]):
        for key, p in s.processes.items():
            o = orig.processes[key]
            if o.smaps is None:
                assert p.smaps is None
                continue
            assert p.smaps is not None and p.smaps.numbers == o.smaps.numbers  # no figure changes
            for h, oh in zip(p.smaps.headers, o.smaps.headers):
                kept = not oh[2].startswith("/") or oh[2].count("/") <= 1 or oh[2].startswith(("/dev/", "/memfd:",
                                                                                               "/SYSV"))
                assert h[2] == oh[2] if kept else h[2] == "/.../" + oh[2].rsplit("/", 1)[1], (h, oh)
    assert any(h[2].startswith("/.../") for s in got for p in s.processes.values() if p.smaps
               for h in p.smaps.headers), "the series has file-mapped paths to redact"


def test_issue11_hostile_column_types(tmp_path: Path) -> None:
    """Text where numbers and blobs belong (SQLite keeps any type in any column): errors, not tracebacks."""
    db = _made(tmp_path, 3)
    c = sqlite3.connect(db)
    c.execute("UPDATE samples SET wall = 'noon', chain = 'x' WHERE id = 2")
    c.execute("UPDATE samples SET data = 'text, not a frame' WHERE id = 3")
    c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('interval', 'often'), ('host', '{\"a\": 1}')")
    c.commit()
    c.close()
    with Store.open(db, readonly=True) as st:
        assert [i for i, _ in st.times()] == [2, 1, 3]  # 'noon' reads as 0.0
        for sid in (2, 3):
            with pytest.raises(StoreError):
                st.sample(sid)
        with pytest.raises(StoreError, match="host is damaged"):
            st.info()


def test_issue11_reader_survives_a_rewrite_under_it(tmp_path: Path) -> None:
    """A reader standing in a chain that retention re-encodes meanwhile reads on from the keyframe."""
    db = str(tmp_path / "h.db")
    samples = _clocked(30, 1.7e9, 10.0)
    with Store.open(db, keyframe_every=30) as st, Store.open(db, readonly=True) as reader:
        for s in samples:
            st.append(s)
        assert reader.sample(3) == samples[2]
        st.retain(now=1.7e9 + 300, retain_for=285)  # the chain being recorded is never touched
        assert len(st.times()) == 30
        ids = [i for i, _ in st.times()]
        retain.rewrite(st, ids, lambda i: i != 2, None)  # 1 stays the keyframe, 3 is now a delta against 1
        assert reader.sample(4) == samples[3] and reader.sample(3) == samples[2]
        with pytest.raises(StoreError, match="no sample 2"):
            reader.sample(2)


def test_issue11_record_command_on_a_capture_and_its_usage_errors(tmp_path: Path, run_cli, gpu_root: str) -> None:  # type: ignore[no-untyped-def]
    """`memtype record --root CAPTURE DB` stores the capture's one Sample (a capture does not tick);
    bad options are one-line usage errors."""
    db = str(tmp_path / "cap.db")
    r = run_cli("record", db, "--root", gpu_root, "--interval", "0.1")
    assert r.code == 0 and r.err == f"memtype: recorded 1 sample into {db}\n"
    with Store.open(db, readonly=True) as st:
        s = st.sample(1)
    assert len(s.processes) == 8 and s.host.live is False
    for args, message in ((("--downsample", "1d"), "not AGE:SPACING"), (("--retain", "0"), "must be positive"),
                          (("--max-size", "lots"), "not a size"), (("--interval", "0"), "from 0.1 to 3600")):
        r = run_cli("record", db, *args)
        assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err
    r = run_cli("record", str(tmp_path / "x.db"), "--root", gpu_root, "--budget", "-1")
    assert r.code == 2 and "--budget must be from 0 to 60" in r.err
