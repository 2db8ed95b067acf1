"""Issue 10: the machine's memory activity (/proc/vmstat reclaim counters by reclaimer, /proc/pressure/memory)
as a record (``model.activity``) and as ``memtype_activity_*`` metrics, over a stored Sample."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

pytest.importorskip("prometheus_client", reason="the exporter needs prometheus-client (extra 'exporter')")

from conftest import MODELS
from memtype.exporter.serve import render
from memtype.model.activity import RECLAIMERS, MachineActivity
from memtype.model.derive import Model, derive
from memtype.model.sample_dict import from_dict
from test_exporter import registry_over, samples, series

PSI = {"some": {"avg10": 12.5, "avg60": 3.0, "avg300": 0.75, "total": 4_500_000},
       "full": {"avg10": 1.0, "avg60": 0.5, "avg300": 0.25, "total": 1_250_000}}


def stored(edit: Any = None) -> tuple[Model, dict[str, Any]]:
    raw = json.loads((MODELS / "gpu-dataloader.json").read_text())
    if edit is not None:
        edit(raw)
    return derive(from_dict(copy.deepcopy(raw))), raw


def with_activity(raw: dict[str, Any]) -> None:
    v = raw["vmstat"]
    v.update(pgscan_kswapd=1000, pgscan_direct=200, pgscan_khugepaged=3, pgsteal_kswapd=900, pgsteal_direct=150,
             pgsteal_khugepaged=2, allocstall_normal=7, allocstall_movable=5, allocstall_dma32=1, pswpout=42,
             workingset_refault_anon=11, workingset_refault_file=22)
    del v["pgscan_proactive"], v["pgsteal_proactive"], v["zswpin"], v["zswpout"]  # a kernel before 6.15 without zswap
    raw["pressure"] = PSI


def test_issue10_activity_metrics_are_the_vmstat_counters_by_reclaimer() -> None:
    model, raw = stored(with_activity)
    v = raw["vmstat"]
    found = samples(render(registry_over(model)).decode())
    for what, name in (("pgscan", "scanned"), ("pgsteal", "stolen")):
        assert series(found, f"memtype_activity_{what}_pages_total") == {}  # served once, by agent, below
        got = series(found, f"memtype_reclaim_{name}_pages_total")
        want = {(("agent", r),): float(v[f"{what}_{r}"]) for r in RECLAIMERS if f"{what}_{r}" in v}
        assert {k: x for k, x in got.items() if k != (("agent", "unattributed"),)} == want  # proactive: not printed -> no series, never 0
    assert series(found, "memtype_activity_allocstall_total") == {(): 13.0}  # summed over the zones
    assert series(found, "memtype_activity_pswpout_pages_total") == {(): 42.0}
    assert series(found, "memtype_activity_zswpout_pages_total") == {}
    assert series(found, "memtype_activity_workingset_refault_pages_total") == {
        (("type", "anon"),): 11.0, (("type", "file"),): 22.0}
    assert series(found, "memtype_activity_pgmajfault_total") == {(): float(v["pgmajfault"])}
    assert series(found, "memtype_activity_oom_kill_total") == {(): float(v["oom_kill"])}


def test_issue10_activity_psi_in_base_units() -> None:
    model, _ = stored(with_activity)
    found = samples(render(registry_over(model)).decode())
    assert series(found, "memtype_activity_pressure_some_avg10_ratio") == {(): 0.125}
    assert series(found, "memtype_activity_pressure_full_avg300_ratio") == {(): 0.0025}
    assert series(found, "memtype_activity_pressure_some_stall_seconds_total") == {(): 4.5}
    assert series(found, "memtype_activity_pressure_full_stall_seconds_total") == {(): 1.25}


def test_issue10_activity_unknown_is_absent_never_zero() -> None:
    """No PSI (the fixture's kernel had none) and no vmstat at all: no activity series, the families
    still named (HELP/TYPE) so a dashboard knows what this host could serve."""
    def no_vmstat(raw: dict[str, Any]) -> None:
        raw["vmstat"] = None
    model, _ = stored(no_vmstat)
    text = render(registry_over(model)).decode()
    assert "# TYPE memtype_activity_allocstall_total counter" in text
    assert not [k for k in samples(text) if k[0].startswith("memtype_activity_")]
    record = MachineActivity(None, None)
    assert record.allocstall is None and record.pgscan["direct"] is None and record.psi("some", "avg10") is None


def test_issue10_activity_allocstall_of_an_old_kernel() -> None:
    """Before 4.8 one ``allocstall`` line; a ``full`` PSI line a kernel does not print is unknown."""
    a = MachineActivity({"allocstall": 9, "pgscan_kswapd": 4}, {"some": {"avg10": 1.0, "total": 5}})
    assert a.allocstall == 9 and a.pgscan == {"kswapd": 4, "direct": None, "khugepaged": None, "proactive": None}
    assert a.psi("some", "total") == 5 and a.psi("full", "total") is None
