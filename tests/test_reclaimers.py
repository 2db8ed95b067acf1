"""Issue 12 (reclaim): who is taking memory back (model.reclaimers, model.damon, collect.damon,
``memtype reclaim``) on captured roots: this VM's DAMON scheme (6.18) and an older kernel (6.6:
no pgsteal_proactive, a v1 cgroup)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
import pytest

from conftest import ROOTS
from memtype.collect.damon import MAX_VALUE, read_damon
from memtype.collect.reclaimers import reclaim_report
from memtype.model.damon import damon_state
from memtype.model.reclaimers import AGENTS, counter_delta, damon_reclaim, machine_reclaim
from memtype.source.root import Root

DAMON_ROOT = ROOTS / "reclaim-damon-6.18"
OLD_ROOT = ROOTS / "reclaim-old-6.6"
SCHEME = "sys/kernel/mm/damon/admin/kdamonds/0/contexts/0/schemes/0"


def memtype(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memtype", *args], capture_output=True, text=True, timeout=60)


def test_issue12_agents_add_up_to_every_steal() -> None:
    v = {"pgsteal_kswapd": 100, "pgsteal_direct": 20, "pgsteal_khugepaged": 1, "pgsteal_proactive": 4,
         "pgsteal_anon": 50, "pgsteal_file": 125, "pgscan_kswapd": 200, "pgscan_direct": 40, "pgscan_khugepaged": 2,
         "pgscan_proactive": 8, "pgscan_anon": 150, "pgscan_file": 200, "pswpout": 70, "zswpout": 5}
    r = machine_reclaim(v)
    assert r.stolen_total == 175 and r.agents["unattributed"].stolen == 50
    assert sum(r.agents[a].stolen or 0 for a in AGENTS) == r.stolen_total
    assert sum(r.agents[a].scanned or 0 for a in AGENTS) == r.scanned_total == 350
    assert r.swapout_unscanned == 25  # 70 + 5 swapped out, 50 anon stolen by LRU reclaim
    assert r.proactive_apart is True and r.agents["kswapd"].efficiency == 0.5


def test_issue12_old_kernel_says_not_reported_never_zero() -> None:
    """5.4 printed no pgsteal_anon/_file, no _proactive, no _khugepaged: the total, the remainder and those
    agents are unknown (None), not 0; proactive reclaim counted as direct there."""
    r = machine_reclaim({"pgsteal_kswapd": 9, "pgsteal_direct": 3, "pgscan_kswapd": 10, "pgscan_direct": 4,
                         "workingset_refault": 5, "allocstall_normal": 2})
    assert r.agents["proactive"].stolen is None and r.agents["khugepaged"].stolen is None
    assert r.stolen_total is None and r.agents["unattributed"].stolen is None and r.efficiency is None
    assert r.refault == {"anon": None, "file": None} and r.swap["zswpout"] is None and r.swapout_unscanned is None
    assert r.proactive_apart is False and r.allocstall == 2
    nothing = machine_reclaim(None)
    assert nothing.agents["kswapd"].stolen is None and nothing.allocstall is None and nothing.proactive_apart is None


def test_issue12_captured_old_kernel_and_v1_cgroup(capsys: pytest.CaptureFixture[str]) -> None:
    with Root(str(OLD_ROOT)) as root:
        report = reclaim_report(root, interval=1.0, cgroup="/app", sleep=pytest.fail)  # a capture: no second read
    assert report.interval is None and report.damon is None
    t = report.total
    assert t.agents["proactive"].stolen is None and t.proactive_apart is False
    assert t.agents["kswapd"].stolen == 9_000_000 and t.agents["direct"].stolen == 600_000
    assert t.agents["unattributed"].stolen == t.stolen_total - 9_600_000
    cg = report.cgroup_total
    assert cg is not None and cg.version == 1
    assert all(cg.agents[a].stolen is None for a in AGENTS) and cg.stolen_total is None  # v1: not reported
    assert cg.pgpgout == 24676 and cg.failcnt == 19 and cg.swap_bytes == 96 << 20


def test_issue12_cli_json_of_an_old_kernel() -> None:
    done = memtype("reclaim", "--root", str(OLD_ROOT), "--cgroup", "/app", "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["interval"] is None
    assert doc["since_boot"]["stolen"]["proactive"] is None and doc["since_boot"]["stolen"]["kswapd"] == 9_000_000
    assert doc["cgroup"]["since_created"]["agents"]["direct"] == {"stolen": None, "scanned": None}
    assert any("before 6.15" in n for n in doc["notes"])


def test_issue12_damon_scheme_of_this_vm() -> None:
    """The VM's kdamond as captured: paddr, one pageout scheme for regions accessed at most once per 5 s
    aggregation and idle 12 aggregations, 128 MiB/s quota, anon rejected and unmapped pages allowed."""
    with Root(str(DAMON_ROOT)) as root:
        state = damon_state(read_damon(root))
    assert state is not None and not state.refreshed and not state.truncated
    (k,) = state.kdamonds
    assert k.state == "on" and k.pid == 79 and k.refresh_ms == 0 and not state.stats_fresh(k)
    (c,) = k.contexts
    assert c.operations == "paddr" and c.intervals == {"sample_us": 500000, "aggr_us": 5000000, "update_us": 60000000}
    assert c.targets[0].regions == ((4294967296, 13153337344),)
    (s,) = c.schemes
    assert s.action == "pageout" and s.reclaims
    assert s.access["nr_accesses"] == (0, 1) and s.access["age"] == (12, 4294967295)
    assert s.quotas["bytes"] == 128 << 20 and s.quotas["reset_interval_ms"] == 1000 and s.quotas["ms"] == 50
    assert [f.describe() for f in s.filters] == ["reject anon", "allow unmapped"]
    assert s.watermarks["metric"] == "none"
    assert s.stats["sz_applied"] is not None and s.stats["sz_applied"] > 0
    (d,) = damon_reclaim(state, 4096)
    assert d.stolen is None and not d.fresh  # stale without --damon-refresh: unknown, not the stale number
    fresh = damon_reclaim(damon_state(read_damon(Root(str(DAMON_ROOT))), refreshed=True), 4096)
    assert fresh[0].stolen == s.stats["sz_applied"] // 4096


def test_issue12_damon_interval_delta_needs_two_fresh_reads() -> None:
    with Root(str(DAMON_ROOT)) as root:
        raw = read_damon(root)
    assert raw is not None
    later = json.loads(json.dumps(raw))
    stats = later["admin"]["kdamonds"]["0"]["contexts"]["0"]["schemes"]["0"]["stats"]
    stats["sz_applied"] = str(int(stats["sz_applied"]) + 8192)
    a, b = damon_state(raw, refreshed=True), damon_state(later, refreshed=True)
    assert damon_reclaim(b, 4096, a)[0].stolen == 2
    assert damon_reclaim(b, 4096, damon_state(raw))[0].stolen is None  # the first read was stale
    stats["sz_applied"] = "0"  # the scheme was committed anew: not a negative figure
    assert damon_reclaim(damon_state(later, refreshed=True), 4096, a)[0].stolen is None


def test_issue12_counter_delta_leaves_out_what_went_back() -> None:
    assert counter_delta({"a": 5, "b": 9, "c": 1}, {"a": 7, "b": 3, "d": 4}) == {"a": 2}
    assert counter_delta(None, {"a": 1}) is None


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "root"
    shutil.copytree(DAMON_ROOT, dst)
    return dst


def test_issue12_damon_capture_is_untrusted(tmp_path: Path) -> None:
    """A link in place of a file is not followed, a FIFO not opened, an oversized value not read, and a
    very long regions list is cut (``truncated``)."""
    root = _copy(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("pageout\n")
    action = root / SCHEME / "action"
    action.unlink()
    action.symlink_to(secret)
    (root / SCHEME / "target_nid").unlink()
    os.mkfifo(root / SCHEME / "target_nid", 0o600)
    (root / SCHEME / "apply_interval_us").write_text("1" * (MAX_VALUE + 10))
    regions = root / "sys/kernel/mm/damon/admin/kdamonds/0/contexts/0/targets/0/regions"
    for i in range(1, 80):
        (regions / str(i)).mkdir()
        (regions / str(i) / "start").write_text(str(i << 30))
        (regions / str(i) / "end").write_text(str((i << 30) + 4096))
    with Root(str(root)) as r:
        state = damon_state(read_damon(r))
        warnings = list(r.warnings)
    assert state is not None and state.truncated
    s = state.kdamonds[0].contexts[0].schemes[0]
    assert s.action is None and s.target_nid is None and s.apply_interval_us is None
    assert len(state.kdamonds[0].contexts[0].targets[0].regions) == 64
    assert any("action" in w and "link" in w for w in warnings)


def test_issue12_damon_refresh_refused_on_a_capture() -> None:
    done = memtype("reclaim", "--root", str(DAMON_ROOT), "--damon-refresh")
    assert done.returncode == 1 and done.stderr.startswith("memtype: error: ") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_issue12_unknown_cgroup_is_one_line() -> None:
    done = memtype("reclaim", "--root", str(OLD_ROOT), "--cgroup", "/nope")
    assert done.returncode == 1 and "no memory cgroup /nope" in done.stderr and "Traceback" not in done.stderr


def test_issue12_table_and_csv_of_the_damon_capture() -> None:
    done = memtype("reclaim", "--root", str(DAMON_ROOT), "--width", "160")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "damon:0.0.0:pageout" in out and "reject anon, allow unmapped" in out and "stale" in out
    assert "unattributed" in out
    csv = memtype("reclaim", "--root", str(DAMON_ROOT), "--format", "csv", "--fields", "stolen.unattributed,seconds")
    assert csv.returncode == 0, csv.stderr
    head, row = csv.stdout.strip().splitlines()
    assert head == "stolen.unattributed,seconds" and row.endswith(",")


def test_issue12_snapshot_keeps_the_damon_tree(tmp_path: Path) -> None:
    if not os.path.isdir("/sys/kernel/mm/damon/admin/kdamonds") or os.geteuid() != 0:
        pytest.skip("needs DAMON sysfs (CONFIG_DAMON_SYSFS) and root to read its 0600 files")
    from memtype.source.capture import _capture_damon, CaptureReport
    from memtype.source.sinks import DirSink

    out = tmp_path / "cap"
    sink = DirSink(str(out))
    n = _capture_damon(sink, CaptureReport(str(out)))
    sink.finish()
    assert n > 0 and (out / "sys/kernel/mm/damon/admin/kdamonds/0/state").is_file()
    mode = (out / "sys/kernel/mm/damon/admin/kdamonds/0/state").stat().st_mode & 0o777
    assert mode == 0o600


def test_issue12_sample_keeps_damon_and_the_exporter_serves_it() -> None:
    """Sample.damon round-trips through to_dict/from_dict (absent in older documents: None); the exporter
    serves DAMON's pages only from refreshed stats, and the agents with the unattributed rest always."""
    pytest.importorskip("prometheus_client", reason="the exporter needs prometheus-client (extra 'exporter')")
    from memtype.collect.sample import read_system
    from memtype.exporter.serve import render
    from memtype.model.derive import derive
    from memtype.model.sample_dict import from_dict, to_dict
    from test_exporter import registry_over

    with Root(str(DAMON_ROOT)) as root:
        raw = read_damon(root)
        system = read_system(root)
    assert raw is not None
    doc = to_dict(system)
    assert "damon" not in doc and from_dict(doc).damon is None  # not read: the old shape
    for refreshed in (False, True):
        sample = system.replace(damon={**raw, "refreshed": True} if refreshed else raw)
        back = from_dict(json.loads(json.dumps(to_dict(sample))))
        assert back.damon == sample.damon
        text = render(registry_over(derive(back))).decode()
        values = [float(line.split()[1]) for line in text.splitlines()
                  if line.startswith("memtype_reclaim_damon_stolen_pages_total ")]
        applied = int(raw["admin"]["kdamonds"]["0"]["contexts"]["0"]["schemes"]["0"]["stats"]["sz_applied"])
        assert values == ([float(applied // 4096)] if refreshed else [])
        assert 'memtype_reclaim_stolen_pages_total{agent="unattributed"}' in text


def test_issue12_damon_unreadable_says_so(tmp_path: Path) -> None:
    """Not root: DAMON's admin files are 0600, every value unreadable: one line saying so, no '?' scheme."""
    root = _copy(tmp_path)
    for path in (root / "sys/kernel/mm/damon/admin").rglob("*"):
        if path.is_file():
            path.unlink()
            os.mkfifo(path, 0o600)  # refused, as an unreadable file is
    done = memtype("reclaim", "--root", str(root), "--width", "160")
    assert done.returncode == 0, done.stderr
    assert "not readable (root only)" in done.stdout and "scheme 0" not in done.stdout
