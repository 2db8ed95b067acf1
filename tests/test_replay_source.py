"""Issue 11, reading the past: TIME parsing, ``--db DB --at TIME`` on the reading commands, and the one
code path with ``--root`` (a recorded sample gives the records a capture gives)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import GPU_ROOT, MODELS, ROOTS, Result
from memtype.cli.when import parse_time, span
from memtype.collect.sample import read_sample
from memtype.collect.scan import scan
from memtype.model.derive import derive
from memtype.model.sample import Sample
from memtype.model.sample_dict import from_dict
from replaydb import make_db

NOW = datetime(2026, 12, 1, 14, 30, 0).timestamp()  # local time, as the user's TZ says
UTC_1405 = datetime(2026, 12, 1, 14, 5, tzinfo=timezone.utc).timestamp()


def fixture_sample(wall: float) -> Sample:
    return from_dict(json.loads((MODELS / "gpu-dataloader.json").read_text())).replace(wall=wall)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Three samples of the gpu-dataloader capture, at 14:00, 14:05 and 14:10 local time."""
    base = datetime(2026, 12, 1, 14, 0, 0).timestamp()
    samples = [fixture_sample(base + 300 * i) for i in range(3)]
    return make_db(tmp_path / "h.db", samples)


# --- TIME ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("now", NOW),
    ("10m ago", NOW - 600),
    ("2h ago", NOW - 7200),
    ("1d ago", NOW - 86400),
    ("1h30m ago", NOW - 5400),
    ("14:05", datetime(2026, 12, 1, 14, 5).timestamp()),
    ("14:05:10", datetime(2026, 12, 1, 14, 5, 10).timestamp()),
    ("23:50", datetime(2026, 11, 30, 23, 50).timestamp()),  # still to come today: yesterday's
    ("2026-12-01T14:05", datetime(2026, 12, 1, 14, 5).timestamp()),
    ("2026-12-01 14:05:00", datetime(2026, 12, 1, 14, 5).timestamp()),
    ("2026-12-01T14:05:00Z", UTC_1405),
    ("2026-12-01T15:05:00+01:00", UTC_1405),
    ("1764597900", 1764597900.0),
    ("@1764597900.5", 1764597900.5),
])
def test_issue11_at_parses(text: str, expected: float) -> None:
    assert parse_time(text, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "25:00", "14:61", "10 parsecs ago", "2026-13-01T14:05",
                                  "1764597900000", "", "-5m ago"])
def test_issue11_at_refuses(text: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_time(text, now=NOW)
    assert "\n" not in str(exc.value)


def test_issue11_at_unparseable_is_one_line(run_cli: Callable[..., Result], db: Path) -> None:
    r = run_cli("ps", "--db", str(db), "--at", "teatime")
    assert r.code == 2
    assert r.err.startswith("memtype: error: argument --at: not a time: 'teatime'") and r.err.count("\n") == 1


def test_issue11_at_outside_range_names_it(run_cli: Callable[..., Result], db: Path) -> None:
    r = run_cli("ps", "--db", str(db), "--at", "2026-12-01T09:00")
    assert r.code == 1 and r.err.count("\n") == 1
    base = datetime(2026, 12, 1, 14, 0, 0).timestamp()
    assert f"the database covers {span(base, base + 600)} (3 samples)" in r.err
    assert r.err.startswith("memtype: error: no sample near 2026-12-01T09:00")


def test_issue11_at_without_db(run_cli: Callable[..., Result]) -> None:
    r = run_cli("ps", "--at", "10m ago")
    assert r.code == 2 and "--at needs --db" in r.err


def test_issue11_db_missing(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    r = run_cli("ps", "--db", str(tmp_path / "none.db"))
    assert r.code == 1 and r.err == f"memtype: error: no database at {tmp_path / 'none.db'}\n"


# --- --db on the reading commands ---------------------------------------------------------------------

def test_issue11_ps_at_names_the_sample(run_cli: Callable[..., Result], db: Path) -> None:
    r = run_cli("ps", "--db", str(db), "--at", "2026-12-01T14:06", "--width", "160")
    assert r.code == 0, r.err
    first = r.out.splitlines()[0]
    assert first == f"sample of 2026-12-01 14:05:00, nearest to 2026-12-01T14:06 (database {db})"
    assert "pt_data_worker" in r.out


def test_issue11_ps_db_matches_capture(run_cli: Callable[..., Result], db: Path) -> None:
    """One code path: ``ps --db`` of a recorded capture gives the records ``ps --root`` gives."""
    past = json.loads(run_cli("ps", "--db", str(db), "--at", "14:05", "--format", "json").out)
    now = json.loads(run_cli("ps", "--root", str(GPU_ROOT), "--format", "json").out)
    assert past["recorded"]["time"] == "2026-12-01 14:05:00" and past["recorded"]["asked"] == "14:05"
    assert past["processes"] == now["processes"]


def test_issue11_system_and_overview_db(run_cli: Callable[..., Result], db: Path) -> None:
    past = json.loads(run_cli("system", "--db", str(db), "--format", "json").out)
    now = json.loads(run_cli("system", "--root", str(GPU_ROOT), "--format", "json").out)
    assert past["rows"] == now["rows"]
    assert past["recorded"]["asked"] is None  # the latest
    r = run_cli("--db", str(db), "--at", "14:05", "--width", "120")  # the overview, as it was
    assert r.code == 0, r.err
    assert r.out.startswith("sample of 2026-12-01 14:05:00, nearest to 14:05") and "pt_data_worker" in r.out
    assert run_cli("--db", str(db), "ps").code == 2  # the overview's option before a command
    r = run_cli("maps", "450", "--db", str(db), "--width", "160")
    assert r.code == 0, r.err
    assert r.out.startswith("sample of 2026-12-01 14:10:00, the latest")


def test_issue11_db_not_recorded_is_one_line(run_cli: Callable[..., Result], db: Path) -> None:
    for argv in (["ps", "--cmdline"], ["ps", "--exact"], ["files"], ["swap"], ["pressure", "--need", "1G"]):
        r = run_cli(*argv, "--db", str(db))
        assert r.code == 1, (argv, r.err)
        assert r.err.startswith("memtype: error: a database does not record ") and r.err.count("\n") == 1, r.err


def test_issue11_ps_pid_not_in_sample(run_cli: Callable[..., Result], db: Path) -> None:
    r = run_cli("ps", "--db", str(db), "--pid", "999")
    assert r.code == 1 and "no process with PID 999 in the sample of 2026-12-01 14:10:00" in r.err


@pytest.mark.parametrize("case", ["gpu-dataloader", "gpu-cgroups", "v1-hybrid"])
def test_issue11_derive_equals_scan(case: str) -> None:
    """The records of a Sample (what a database holds) are the records of the streaming scan."""
    root = str(ROOTS / case)
    a = scan(root, cgroup=True)
    b = derive(read_sample(root, cgroup=True)).scan
    assert [(p.key, p.totals, p.categories, p.cgroup) for p in a.processes] == \
        [(p.key, p.totals, p.categories, p.cgroup) for p in b.processes]


def test_issue11_cgroups_db_matches_capture(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    """``cgroups --db``: the recorded memory.stat and members give the tree the capture gives."""
    root = str(ROOTS / "gpu-cgroups")
    recorded = read_sample(root, cgroup=True, cgroups=True).replace(wall=datetime(2026, 12, 1, 14, 0).timestamp())
    db = make_db(tmp_path / "cg.db", [recorded])
    past = json.loads(run_cli("cgroups", "--db", str(db), "--format", "json").out)
    now = json.loads(run_cli("cgroups", "--root", root, "--format", "json").out)
    assert past["recorded"]["time"] == "2026-12-01 14:00:00"
    assert past["cgroups"] == now["cgroups"]
    bare = make_db(tmp_path / "bare.db", [fixture_sample(datetime(2026, 12, 1, 14, 0).timestamp())])
    r = run_cli("cgroups", "--db", str(bare))
    assert r.code == 1 and r.err.startswith("memtype: error: a database does not record memory cgroups")


def test_issue11_at_in_a_gap_says_how_far(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    """A record stopped for an hour: the sample nearest to a time in the gap is named with its distance."""
    base = datetime(2026, 12, 1, 14, 0, 0).timestamp()
    walls = [base + 60 * i for i in range(5)] + [base + 4 * 3600 + 60 * i for i in range(5)]
    db = make_db(tmp_path / "gap.db", [fixture_sample(w) for w in walls])
    r = run_cli("ps", "--db", str(db), "--at", "2026-12-01T15:00", "--format", "csv")
    assert r.code == 0, r.err
    assert "sample of 2026-12-01 14:04:00, nearest to 2026-12-01T15:00, 56m from it (the record has a gap there)" \
        in r.err


def test_issue11_db_names_carried_figures(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    """A recorder's sample may carry a process's smaps from an earlier tick, or have none yet: said."""
    s = fixture_sample(datetime(2026, 12, 1, 14, 0).timestamp())
    assert s.monotonic is not None
    procs = dict(s.processes)
    keys = sorted(procs)
    procs[keys[0]] = procs[keys[0]].replace(smaps_at=s.monotonic - 30)  # read 30 s before the sample
    procs[keys[1]] = procs[keys[1]].replace(smaps=None, smaps_at=None)  # not read yet
    db = make_db(tmp_path / "carried.db", [s.replace(processes=procs)])
    r = run_cli("ps", "--db", str(db), "--format", "json")
    assert r.code == 0, r.err
    assert "1 process as last read before the sample, up to 30s earlier" in r.err
    assert "1 process without smaps in this sample (the recorder had not read them yet)" in r.err
