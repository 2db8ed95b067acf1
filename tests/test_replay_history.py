"""Issue 11, ``memtype history``: the summary over a database made in the test, ``--export`` (json, csv,
OpenMetrics checked by promtool's backfill), ``--cut`` and its errors."""

from __future__ import annotations

import csv
import functools
import io
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from conftest import MODELS, Result
from memtype.model.sample import Sample
from memtype.model.sample_dict import from_dict
from replaydb import make_db

BASE = datetime(2026, 12, 1, 14, 0, 0).timestamp()
MIB = 1 << 20


@functools.cache
def _base() -> Sample:
    s = from_dict(json.loads((MODELS / "gpu-dataloader.json").read_text()))
    exe = {"python3": "/usr/bin/python3.12", "pt_data_worker": "/usr/bin/python3.12", "bash": "/usr/bin/bash"}
    return s.replace(processes={k: p.replace(exe=exe.get(p.comm)) for k, p in s.processes.items()})


def sample(i: int) -> Sample:
    """The gpu-dataloader capture at 14:00 + i minutes, its AnonPages i MiB larger."""
    s = _base()
    mi = dict(s.meminfo)
    mi["AnonPages"] += i * MIB
    mi["MemFree"] -= i * MIB
    return s.replace(wall=BASE + 60 * i, monotonic=1000.0 + 60 * i, meminfo=mi)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "h.db", [sample(i) for i in range(30)])


def test_issue11_history_summary(run_cli: Callable[..., Result], db: Path) -> None:
    r = run_cli("history", str(db), "--width", "120")
    assert r.code == 0, r.err
    flat = " ".join(r.out.split())
    assert flat.startswith(f"{db}: 30 samples from 2026-12-01 14:00:00 to 14:29:00 (29m, one every 60 s), ")
    assert "on disk" in flat
    doc = json.loads(run_cli("history", str(db), "--format", "json", "--rows", "5").out)
    assert doc["samples"] == 30 and len(doc["rows"]) == 5 and doc["size_bytes"] > 0
    rows = doc["rows"]
    assert [r["wall"] for r in rows] == sorted(r["wall"] for r in rows)
    growth = rows[-1]["rows"]["anonymous"] - rows[0]["rows"]["anonymous"]
    assert growth == (rows[-1]["wall"] - rows[0]["wall"]) / 60 * MIB  # the recorded meminfo, as it was
    assert rows[0]["rows"]["cow"] is None  # unknown without the processes' PSS, never 0
    assert sum(v for v in rows[0]["rows"].values() if v) == rows[0]["total"]  # the rows add up


def test_issue11_history_export_json_csv(run_cli: Callable[..., Result], db: Path) -> None:
    doc = json.loads(run_cli("history", str(db), "--export", "2026-12-01T14:10", "2026-12-01T14:19:30",
                             "--format", "json").out)
    assert len(doc["rows"]) == 10 and doc["rows"][0]["time"] == "2026-12-01 14:10:00"
    out = run_cli("history", str(db), "--export", "2026-12-01T14:10", "2026-12-01T14:19:30", "--format", "csv").out
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 10 and int(table[1]["rows.anonymous"]) - int(table[0]["rows.anonymous"]) == MIB


def test_issue11_history_export_openmetrics_backfills(run_cli: Callable[..., Result], db: Path,
                                                      tmp_path: Path) -> None:
    r = run_cli("history", str(db), "--export", "2026-12-01T14:00", "2026-12-01T15:00", "--format", "openmetrics")
    assert r.code == 0, r.err
    text = r.out
    assert text.endswith("# EOF\n")
    assert 'memtype_system_row_bytes{row="anonymous"} ' in text
    assert "row=\"cow\"" not in text  # unknown: left out, never 0
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus): the OpenMetrics text is unchecked")
    (tmp_path / "om.txt").write_text(text)
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "om.txt"),
                           str(tmp_path / "tsdb")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert any((tmp_path / "tsdb").iterdir())


def test_issue11_history_cut(run_cli: Callable[..., Result], db: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.db"
    r = run_cli("history", str(db), "--cut", "2026-12-01T14:05", "2026-12-01T14:09:30", str(out), "--redact")
    assert r.code == 0, r.err
    assert "redacted" in r.err
    doc = json.loads(run_cli("history", str(out), "--format", "json").out)
    assert doc["samples"] == 5
    ps = json.loads(run_cli("ps", "--db", str(out), "--group", "program", "--format", "json").out)
    assert ps["host"]["hostname"] is None
    redacted = {g["program"] for g in ps["groups"]}
    ps = json.loads(run_cli("ps", "--db", str(db), "--group", "program", "--format", "json").out)
    assert "python3.12" in {g["program"] for g in ps["groups"]}  # the executable, where recorded
    assert redacted == {g["program"] for g in ps["groups"]}  # redacted to its name: the same groups
    r = run_cli("history", str(db), "--cut", "14:05", "14:09", str(out))
    assert r.code == 1 and "exists" in r.err


@pytest.mark.parametrize("argv, message", [
    (["--export", "14:00", "15:00"], "give --format"),
    (["--format", "openmetrics"], "goes with --export"),
    (["--redact"], "--redact goes with --cut"),
    (["--export", "15:00", "14:00", "--format", "json"], "is after TO"),
    (["--export", "teatime", "14:00", "--format", "json"], "not a time: 'teatime'"),
])
def test_issue11_history_usage(run_cli: Callable[..., Result], db: Path, argv: list[str], message: str) -> None:
    r = run_cli("history", str(db), *argv)
    assert r.code == 2 and message in r.err and r.err.count("\n") == 1, r.err


def test_issue11_history_export_outside_range(run_cli: Callable[..., Result], db: Path) -> None:
    r = run_cli("history", str(db), "--export", "2026-12-01T09:00", "2026-12-01T10:00", "--format", "json")
    assert r.code == 1 and "the database covers 2026-12-01 14:00:00 to 14:29:00" in r.err


def test_issue11_history_cut_from_before_the_record(run_cli: Callable[..., Result], db: Path, tmp_path: Path) -> None:
    """FROM before the first sample is the record's start; a range beside the record names it."""
    out = tmp_path / "head.db"
    r = run_cli("history", str(db), "--cut", "2026-12-01T00:00", "2026-12-01T14:02:30", str(out))
    assert r.code == 0, r.err
    assert json.loads(run_cli("history", str(out), "--format", "json").out)["samples"] == 3
    r = run_cli("history", str(db), "--cut", "2026-12-01T00:00", "2026-12-01T01:00", str(tmp_path / "none.db"))
    assert r.code == 1 and "the database covers 2026-12-01 14:00:00 to 14:29:00" in r.err
