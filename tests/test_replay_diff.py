"""Issue 11, ``memtype diff``: the comparison (model/diff.py) over Samples changed in known ways, and the
command over captures and over a database made in the test."""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from conftest import GPU_ROOT, MODELS, Result
from memtype.kinds import Kind
from memtype.model.derive import derive
from memtype.model.diff import APPEARED, GREW, SAME, WENT_AWAY, diff_models
from memtype.model.sample import ENTRY_COLUMNS, ProcessSample, Sample, SmapsRows
from memtype.model.sample_dict import from_dict
from replaydb import make_db

MIB = 1 << 20
BASE = datetime(2026, 12, 1, 14, 0, 0).timestamp()


def base_sample(wall: float = BASE, monotonic: float = 1000.0) -> Sample:
    s = from_dict(json.loads((MODELS / "gpu-dataloader.json").read_text()))
    return s.replace(wall=wall, monotonic=monotonic)


def key_of(s: Sample, pid: int) -> tuple[int, int | None]:
    return next(k for k in s.processes if k[0] == pid)


def grow_anon(s: Sample, pid: int, kib: int) -> Sample:
    """``pid`` with one more private anonymous entry of ``kib`` KiB, all resident and dirty."""
    key = key_of(s, pid)
    ps = s.processes[key]
    rows = ps.smaps
    assert rows is not None
    values = dict.fromkeys(rows.names, 0)
    values.update(Size=kib, KernelPageSize=4, MMUPageSize=4, Rss=kib, Pss=kib, Pss_Dirty=kib, Private_Dirty=kib,
                  Referenced=kib, Anonymous=kib)
    start = 0x7f0000000000
    entry = [start, start + kib * 1024, 0, 0, *(values[n] for n in rows.names)]
    grown = SmapsRows(rows.names, (*rows.headers, ("rw-p", "00:00", "", "rd wr mr mw me ac")),
                      array("Q", [*rows.numbers, *entry]))
    return s.replace(processes={**s.processes, key: ps.replace(smaps=grown)})


def break_cow(s: Sample, pids: list[int], writers: tuple[int, ...] = (450, 451, 452, 453)) -> Sample:
    """Every fork-shared anonymous page of ``pids`` written: Shared_Dirty becomes Private_Dirty, and the
    entry's PSS its RSS (the pages are the process's own now); ``writers`` took the faults."""
    procs = dict(s.processes)
    for pid in pids:
        key = key_of(s, pid)
        rows = procs[key].smaps
        assert rows is not None
        idx = {n: i + len(ENTRY_COLUMNS) for i, n in enumerate(rows.names)}
        n = rows.numbers.tolist()
        for e, h in enumerate(rows.headers):
            b = e * rows.width
            if h[0].endswith("p") and n[b + idx["Anonymous"]] and n[b + idx["Shared_Dirty"]]:
                n[b + idx["Private_Dirty"]] += n[b + idx["Shared_Dirty"]]
                n[b + idx["Shared_Dirty"]] = 0
                n[b + idx["Pss"]] = n[b + idx["Rss"]]
                n[b + idx["Pss_Dirty"]] = n[b + idx["Private_Dirty"]]
        c = procs[key].counters
        faults = c.replace(minflt=(c.minflt or 0) + 1000) if pid in writers else c
        procs[key] = procs[key].replace(smaps=SmapsRows(rows.names, rows.headers, array("Q", n)), counters=faults)
    return s.replace(processes=procs)


def without(s: Sample, pid: int) -> Sample:
    return s.replace(processes={k: p for k, p in s.processes.items() if k[0] != pid})


def with_new(s: Sample, pid: int, like: int) -> Sample:
    ps = s.processes[key_of(s, like)]
    new: ProcessSample = ps.replace(pid=pid, starttime=(ps.starttime or 0) + 5000, comm="short_lived")
    return s.replace(processes={**s.processes, new.key: new})


def test_issue11_diff_names_anon_growth_per_kind() -> None:
    a = base_sample()
    b = base_sample(BASE + 60, 1060.0)
    for pid in (450, 451, 452, 453):
        b = grow_anon(b, pid, 256 * 1024)
    d = diff_models(derive(a), derive(b))
    grown = [p for p in d.processes if p.change == GREW]
    assert [p.pid for p in grown] == [450, 451, 452, 453]
    for p in grown:
        assert p.kinds[Kind.ANONYMOUS] == 256 * MIB and p.pss == 256 * MIB and p.rss == 256 * MIB
        assert all(p.kinds[k] == 0 for k in p.kinds if k is not Kind.ANONYMOUS)
    assert d.kinds[Kind.ANONYMOUS] == 1024 * MIB == d.pss
    h = d.headlines[0]
    assert (h.kind, h.delta, h.count, h.program, h.program_count) == (Kind.ANONYMOUS, 1024 * MIB, 4,
                                                                      "pt_data_worker", 4)
    assert d.counts[SAME] == len(a.processes) - 4 and d.elapsed == 60.0
    programs = {g.key: g for g in d.groups["program"]}
    assert programs["pt_data_worker"].kinds[Kind.ANONYMOUS] == 1024 * MIB  # no exe recorded: the comm
    assert not d.cow_breaks


def test_issue11_diff_names_the_broken_fork_family() -> None:
    a = base_sample()
    b = break_cow(base_sample(BASE + 60, 1060.0), [421, 450, 451, 452, 453])
    ma, mb = derive(a), derive(b)
    d = diff_models(ma, mb)
    assert len(d.cow_breaks) == 1
    c = d.cow_breaks[0]
    assert c.pid == 421 and c.comm == "python3" and c.members == (421, 450, 451, 452, 453)
    family = [421, 450, 451, 452, 453]
    cow_a = sum(p.categories[Kind.COW].pss for p in ma.scan.processes if p.pid in family)
    cow_b = sum(p.categories[Kind.COW].pss for p in mb.scan.processes if p.pid in family)
    assert c.before == cow_a and c.after == cow_b and c.delta < -512 * MIB
    assert c.writers == (450, 451, 452, 453)  # the parent's pages turned private without a fault of its own
    assert d.kinds[Kind.COW] == cow_b - cow_a


def test_issue11_diff_appeared_and_went_away() -> None:
    a = base_sample()
    b = with_new(without(base_sample(BASE + 60, 1060.0), 471), 9999, like=409)
    d = diff_models(derive(a), derive(b))
    by_pid = {p.pid: p for p in d.processes}
    assert by_pid[471].change == WENT_AWAY and by_pid[471].pss < 0 and by_pid[471].after is None
    assert by_pid[9999].change == APPEARED and by_pid[9999].pss == by_pid[9999].after.totals.pss  # type: ignore[union-attr]
    assert d.counts[APPEARED] == 1 and d.counts[WENT_AWAY] == 1
    # A reused PID is another process: same PID, another start time.
    c = with_new(without(base_sample(BASE + 60, 1060.0), 471), 471, like=409)
    d2 = diff_models(derive(a), derive(c))
    assert sorted(p.change for p in d2.processes if p.pid == 471) == [APPEARED, WENT_AWAY]


def test_issue11_diff_db_command(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    a = base_sample()
    b = base_sample(BASE + 300, 1300.0)
    for pid in (450, 451, 452, 453):
        b = grow_anon(b, pid, 256 * 1024)
    b = break_cow(b, [421, 450, 451, 452, 453])
    db = make_db(tmp_path / "h.db", [a, b])
    r = run_cli("diff", "--db", str(db), "14:00", "14:05", "--width", "120")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "A 2026-12-01 14:00:00 (nearest to 14:00) -> B 2026-12-01 14:05:00 (nearest to 14:05) " \
                       "(5m 0s apart)"
    assert any(line.startswith("+") and "anonymous in 5 processes, " in line and "of it in 4 pt_data_worker processes" in line
               or "anonymous in 4 pt_data_worker processes" in line for line in lines), r.out
    assert any(line.startswith("copy-on-write -") and "sharing with PID 421 (python3) broken" in line
               for line in lines), r.out
    doc = json.loads(run_cli("diff", "--db", str(db), "14:00", "14:05", "--format", "json").out)
    assert doc["after"]["wall"] == BASE + 300 and doc["cow_breaks"][0]["pid"] == 421
    first = doc["processes"][0]
    assert set(first) >= {"pid", "comm", "user", "change", "delta", "before", "after"}
    assert sum(first["delta"][k.value] for k in Kind) == first["delta"]["pss"]
    csv = run_cli("diff", "--db", str(db), "14:00", "14:05", "--format", "csv", "--table", "programs")
    assert csv.code == 0 and csv.out.splitlines()[0].startswith("by,key,")


def test_issue11_diff_captures(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    r = run_cli("diff", str(GPU_ROOT), str(GPU_ROOT), "--width", "100")
    assert r.code == 0, r.err
    assert "processes' PSS: no change" in r.out and f"{8} same" in r.out
    r = run_cli("diff", str(GPU_ROOT), str(tmp_path / "nothing"))
    assert r.code == 1 and r.err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["diff", "--db", "x.db", "teatime", "now"], "with --db, A and B are times: not a time: 'teatime'"),
    (["diff", "/", str(GPU_ROOT)], "is this machine"),
])
def test_issue11_diff_usage(run_cli: Callable[..., Result], argv: list[str], message: str) -> None:
    r = run_cli(*argv)
    assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err


def test_headline_names_the_movers_gross_when_others_moved_it_back() -> None:
    """A process that grew by 140M while others that went away took 51M back: the headline says both,
    not '+88.8M in 1 python3 process' (seen on a recorded history)."""
    from memtype.kinds import Kind
    from memtype.model.diff import Headline
    from memtype.output.diff_text import headline

    M = 1 << 20
    assert headline(Headline(Kind.ANONYMOUS, 89 * M, 1, "python3", 1, 140 * M, 140 * M)) == \
        "+89.0M anonymous: +140M in 1 python3 process, -51.0M in the other processes"
    assert headline(Headline(Kind.ANONYMOUS, 100 * M, 1, "python3", 1, 100 * M, 100 * M)) == \
        "+100M anonymous in 1 python3 process"
