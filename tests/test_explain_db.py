"""Issue 15, ``memtype explain --db``: findings of a recorded sample, the trend over the window before it
("anon +600 MiB/h"), a process faulting its swap back in between two samples (swap-active), and a
cgroup near its limit with nothing reclaimable; all from samples made in the test (the gpu-dataloader
capture, changed where the test says)."""

from __future__ import annotations

import functools
import json
from array import array
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from conftest import MODELS, ROOTS, Result
from memtype.collect.sample import read_sample
from memtype.model.findings import Finding, size
from memtype.model.derive import derive
from memtype.model.explain import findings
from memtype.model.sample import Counters, Sample
from memtype.model.sample_dict import from_dict
from replaydb import make_db

BASE = datetime(2026, 12, 1, 14, 0, 0).timestamp()
MIB = 1 << 20
SWAPPED = 32 * MIB  # what the test puts in swap in worker 450's largest mapping


@functools.cache
def _base() -> Sample:
    return from_dict(json.loads((MODELS / "gpu-dataloader.json").read_text()))


def _swapped(s: Sample, pid: int, majflt: int) -> Sample:
    """PID's largest entry with SWAPPED in smaps Swap (and SwapPss), its major faults at ``majflt``."""
    key = next(k for k in s.processes if k[0] == pid)
    ps = s.processes[key]
    assert ps.smaps is not None
    rows = ps.smaps
    w = rows.width
    numbers = array("Q", rows.numbers)
    rss = 4 + rows.names.index("Rss")
    big = max(range(len(rows)), key=lambda i: numbers[i * w + rss])
    for name in ("Swap", "SwapPss"):
        numbers[big * w + 4 + rows.names.index(name)] = SWAPPED // 1024
    c = ps.counters
    counters = Counters(c.rss_anon, c.rss_file, c.rss_shmem, SWAPPED, c.minflt, majflt)
    return s.replace(processes={**s.processes, key: ps.replace(smaps=rows.replace(numbers=numbers),
                                                                counters=counters)})


def sample(i: int) -> Sample:
    """The capture at 14:00 + i minutes, AnonPages 10 MiB a minute larger, swap on; from minute 28 worker
    450 has 32 MiB in swap and faults it back (majflt 100, then 400)."""
    s = _base()
    mi = dict(s.meminfo)
    mi["AnonPages"] += i * 10 * MIB
    mi["MemFree"] -= i * 10 * MIB
    mi["SwapTotal"], mi["SwapFree"] = 1 << 30, (1 << 30) - SWAPPED
    s = s.replace(wall=BASE + 60 * i, monotonic=1000.0 + 60 * i, meminfo=mi)
    return _swapped(s, 450, 100 if i == 28 else 400) if i >= 28 else s


def test_issue15_explain_db_trend_and_swap_active(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    db = make_db(tmp_path / "h.db", [sample(i) for i in range(30)])
    r = run_cli("explain", "--db", str(db), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["recorded"]["time"] == "2026-12-01 14:29:00"
    by_id = {f["id"]: f for f in doc["findings"]}
    trend = by_id["trend"]
    assert trend["figures"]["per_hour"] == 600 * MIB and trend["bytes"] == 290 * MIB  # 29 min at 10 MiB/min
    assert trend["title"] == "anon +600 MiB/h"
    active = by_id["swap-active"]
    assert active["pids"] == [450] and active["bytes"] == SWAPPED and active["figures"]["major_faults"] == 300
    assert "cow-broken" in by_id and "no-swap" not in by_id  # swap is on in these samples
    # a window that does not reach 10 minutes back gives no trend
    short = json.loads(run_cli("explain", "--db", str(db), "--trend", "5m", "--format", "json").out)
    assert "trend" not in {f["id"] for f in short["findings"]}
    text = run_cli("explain", "--db", str(db), "--width", "80").out
    assert text.startswith("sample of 2026-12-01 14:29:00, the latest")
    assert "anon +600 MiB/h" in text


def test_issue15_cgroup_near_limit() -> None:
    """A cgroup of the GPU host (cgroup v2) given a limit it is charged 95% of. As captured, 38% of it is
    page cache: reclaimable, no finding. With its page cache turned into 'never' (as mlocked or
    unswappable anon would be), the finding, with its figures; at twice its charge, none."""
    model = derive(read_sample(str(ROOTS / "gpu-cgroups"), cgroups=True))
    assert model.cgroups is not None
    cg = max((c for c in model.cgroups.cgroups if c.charged and c.reclaim and c.path != "/"),
             key=lambda c: c.charged or 0)
    assert cg.charged is not None and cg.reclaim is not None
    cg.limit = int(cg.charged / 0.95)

    def near() -> list[Finding]:
        return [f for f in findings(model, None) if f.id == "cgroup-near-limit" and cg.path in f.title]

    assert cg.reclaim["drop"] >= 0.1 * cg.limit and near() == []
    cg.reclaim = {"drop": 4 * MIB, "writeback": 0, "swap": 0, "never": sum(cg.reclaim.values()) - 4 * MIB}
    (got,) = near()
    assert got.bytes == cg.charged and got.severity == "warning"
    assert got.figures == {"charged": cg.charged, "limit": cg.limit, "reclaimable": 4 * MIB}
    cg.limit = cg.charged * 2
    assert near() == []


def test_issue15_reclaim_finding_from_contract_r() -> None:
    """The reclaim finding is memtype reclaim's accounting (Contract R): named agents, the unattributed
    rest (LRU steals no agent counts), and the swap-out no steal counts (pswpout - pgsteal_anon)."""
    s = _base()
    vm = dict(s.vmstat or {})
    vm.update(pgsteal_kswapd=1000, pgsteal_direct=200, pgsteal_khugepaged=0, pgsteal_proactive=0,
              pgsteal_anon=500, pgsteal_file=1500, pswpout=800, zswpout=0)
    (f,) = [f for f in findings(derive(s.replace(vmstat=vm)), None) if f.id == "reclaim"]
    page = s.host.page_size
    assert f.figures["stolen_kswapd"] == 1000 and f.figures["stolen_unattributed"] == 800
    assert f.figures["swapout_unscanned"] == 300
    assert f.title == f"{size((2000 + 300) * page)} reclaimed since boot: by whom" and f.bytes is None
    assert any("cgroup" in e for e in f.evidence)
