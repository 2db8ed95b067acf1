"""Issue 8, Samples: a raw Sample of a root, ``derive(sample, previous)``, deltas by (pid, starttime)."""

from __future__ import annotations

import copy
import json
import pickle
import sys
from array import array
from pathlib import Path

import pytest

import memtype
from conftest import GPU_ROOT, MODELS, get_sample_model
from memtype.collect.sample import read_sample
from memtype.collect.swapinfo import swap_room
from memtype.kinds import KINDS
from memtype.model import reclaim
from memtype.model.derive import Model, derive
from memtype.model.records import HostInfo, Skipped
from memtype.model.sample import Counters, ProcessSample, Sample, SmapsRows
from memtype.model.sample_dict import from_dict, to_dict
from memtype.source.root import Root

sys.path.insert(0, str(MODELS))
import make as make_models  # noqa: E402  (tests/fixtures/models/make.py)


@pytest.fixture(scope="module")
def gpu_sample() -> Sample:
    return read_sample(str(GPU_ROOT), jobs=1)


def test_issue8_sample_holds_what_was_read(gpu_sample: Sample) -> None:
    s = gpu_sample
    assert [k for k in s.processes] == [(409, 2486), (415, 2489), (421, 2490), (450, 3182), (451, 3183),
                                        (452, 3184), (453, 3186), (471, 3295)]
    assert s.skipped == (Skipped(1, "not captured", "proc/1/smaps"), Skipped(2, "kernel"))
    assert s.monotonic == 33.02 and s.wall is None and s.duration is None  # the capture's proc/uptime
    assert s.vmstat is not None and s.vmstat["nr_free_pages"] == 792271 and s.zoneinfo is None
    p = s.processes[(421, 2490)]
    assert (p.comm, p.uid, p.ppid, p.state) == ("python3", 0, 415, "S")
    assert (p.counters.minflt, p.counters.majflt) == (197297, 321)
    assert p.counters.rss_anon is not None and p.counters.rss_anon > 0
    assert p.smaps is not None and len(p.smaps) == (GPU_ROOT / "proc/421/smaps").read_text().count("VmFlags")
    assert p.smaps.names[:3] == ("Size", "KernelPageSize", "MMUPageSize")
    first = p.smaps.vmas()[0]
    assert first.values[p.smaps.names.index("Size")] * 1024 == first.end - first.start


def test_issue8_sample_round_trips_through_json(gpu_sample: Sample) -> None:
    doc = to_dict(gpu_sample)
    back = from_dict(json.loads(json.dumps(doc)))
    assert back == gpu_sample
    assert to_dict(back) == doc
    assert copy.deepcopy(gpu_sample) == gpu_sample and pickle.loads(pickle.dumps(gpu_sample)) == gpu_sample


def test_issue8_round_trip_keeps_undecodable_paths() -> None:
    header = ("rw-p", "fe:00", "/tmp/caf\udce9 (deleted)", "rd wr mr mw me")
    rows = SmapsRows(("Size", "Rss", "Pss"), (header,), array("Q", [0x1000, 0x3000, 0, 77, 8, 4, 4]))
    proc = ProcessSample(7, 99, "x", 0, 1, "S", Counters(4096, 0, 0, None, 10, 0), rows, 1.5)
    sample = Sample(HostInfo(None, None, 4096, None, "r", False), 2.0, None, None, {}, None, None,
                    frozenset(), {}, {proc.key: proc})
    assert from_dict(json.loads(json.dumps(to_dict(sample)))) == sample


def test_issue8_a_foreign_document_is_refused() -> None:
    with pytest.raises(ValueError, match="not a memtype-sample/1 document"):
        from_dict({"schema": "memtype/1"})
    doc = to_dict(read_sample(str(GPU_ROOT), [421]))
    doc["processes"][0]["smaps"]["numbers"].pop()
    with pytest.raises(ValueError, match="damaged"):
        from_dict(doc)


def test_issue8_derive_gives_the_scan_of_the_root(gpu_sample: Sample) -> None:
    """derive(read_sample(root)) is what ``memtype ps`` reports: scan + reclaim.annotate, process by process."""
    with Root(str(GPU_ROOT)) as root:
        expected = reclaim.annotate(memtype.scan(root, jobs=1), swap_room(root))
    model = derive(gpu_sample)

    def view(scan: memtype.Scan) -> list[tuple[object, ...]]:
        return [(p.key, p.comm, p.uid, p.user, p.ppid, p.totals, p.categories, p.reclaim) for p in scan.processes]

    assert view(model.scan) == view(expected)
    assert model.scan.skipped == expected.skipped and model.scan.kernel_threads == 1
    assert model.scan.host == expected.host and model.scan.warnings == expected.warnings
    assert model.machine is not None and model.machine.total == gpu_sample.meminfo["MemTotal"]
    assert model.changes is None


def test_issue8_derive_with_mappings_equals_maps(gpu_sample: Sample) -> None:
    expected = memtype.scan(str(GPU_ROOT), [421], mappings=True)
    got = derive(gpu_sample, mappings=True).by_key[(421, 2490)]
    want = expected.processes[0].mappings or []
    assert got.mappings is not None and len(got.mappings) == len(want)
    assert [(m.start, m.path, m.mapclass, m.totals, m.categories) for m in got.mappings] == \
        [(m.start, m.path, m.mapclass, m.totals, m.categories) for m in want]


def _with(sample: Sample, processes: list[ProcessSample]) -> Sample:
    return sample.replace(processes={p.key: p for p in processes})


def test_issue8_reused_pid_is_one_exit_and_one_new(gpu_sample: Sample) -> None:
    """Two samples with the same PID and another starttime: not one process that changed."""
    first = gpu_sample.processes[(450, 3182)]
    reborn = first.replace(starttime=9999, comm="other")
    before = _with(gpu_sample, [first]).replace(monotonic=100.0)
    after = _with(gpu_sample, [reborn]).replace(monotonic=102.5)
    changes = derive(after, before).changes
    assert changes is not None
    assert changes.exited == ((450, 3182),) and changes.new == ((450, 9999),) and changes.changed == ()
    assert changes.elapsed == 2.5
    for k in KINDS:  # the exit and the birth cancel: the same memory
        assert changes.kinds[k].rss == 0
    assert changes.processes[(450, 9999)].kinds[KINDS[0]].rss == first_kind_rss(derive(before), 450)


def first_kind_rss(model: Model, pid: int) -> int:
    return next(p for p in model.scan.processes if p.pid == pid).categories[KINDS[0]].rss


def test_issue8_deltas_per_process_and_kind_add_up(gpu_sample: Sample) -> None:
    procs = gpu_sample.processes
    old = [procs[(409, 2486)], procs[(421, 2490)], procs[(450, 3182)]]
    grown = procs[(450, 3182)].replace(smaps=procs[(421, 2490)].smaps,  # 450's memory now looks like 421's
                                       counters=procs[(450, 3182)].counters.replace(minflt=10 ** 6))
    new = [procs[(409, 2486)], procs[(421, 2490)], grown, procs[(453, 3186)]]
    before, after = derive(_with(gpu_sample, old)), derive(_with(gpu_sample, new), derive(_with(gpu_sample, old)))
    changes = after.changes
    assert changes is not None
    assert changes.new == ((453, 3186),) and changes.changed == ((450, 3182),) and changes.exited == ()
    assert (409, 2486) not in changes.processes  # same rows, same counters: it did not move
    delta = changes.processes[(450, 3182)]
    assert delta.counters.minflt == 10 ** 6 - procs[(450, 3182)].counters.minflt and delta.counters.rss_anon == 0
    for k in KINDS:
        total_now = sum(p.categories[k].pss for p in after.scan.processes)
        total_then = sum(p.categories[k].pss for p in before.scan.processes)
        assert changes.kinds[k].pss == total_now - total_then
    assert changes.totals.rss == sum(p.totals.rss for p in after.scan.processes) - \
        sum(p.totals.rss for p in before.scan.processes)
    # the same meminfo: only cow's file part moves (the processes' Σ PSS of it), out of file and into cow
    moved = sum(p.totals.cow_file_pss for p in after.scan.processes) - \
        sum(p.totals.cow_file_pss for p in before.scan.processes)
    assert changes.machine == {**{r.id: 0 for r in before.machine.rows},  # type: ignore[union-attr]
                               "cow": moved, "file": -moved, "device": None}


def test_issue8_carried_forward_rows_are_not_classified_again(gpu_sample: Sample) -> None:
    first = derive(gpu_sample)
    later = gpu_sample.replace(monotonic=40.0, processes={
        k: p.replace(counters=p.counters.replace(minflt=(p.counters.minflt or 0) + 1))
        for k, p in gpu_sample.processes.items()})
    second = derive(later, first)
    for key, p in second.by_key.items():
        assert p.categories is first.by_key[key].categories  # the split was reused, not recomputed
    assert second.changes is not None and len(second.changes.changed) == len(second.by_key)
    assert second.age((421, 2490)) == pytest.approx(40.0 - 33.02)


def test_issue8_only_chosen_smaps_are_read() -> None:
    sample = read_sample(str(GPU_ROOT), smaps=lambda p: p.pid == 421)
    assert [k for k, p in sample.processes.items() if p.smaps is not None] == [(421, 2490)]
    assert all(p.counters.minflt is not None for p in sample.processes.values())
    model = derive(sample)
    assert [p.pid for p in model.scan.processes] == [421]
    assert model.scan.count("not sampled") == 8  # PID 1 too: its smaps (not captured) was never tried


def test_issue8_smaps_value_out_of_range_never_reaches_the_sample(tmp_path: Path) -> None:
    """A kB value at 2**63 or more (the compiled parser wraps it below 0) is refused, not stored."""
    proc = tmp_path / "proc" / "421"
    proc.mkdir(parents=True)
    for name in ("status", "stat"):
        (proc / name).write_text((GPU_ROOT / "proc/421" / name).read_text())
    text = (GPU_ROOT / "proc/421/smaps").read_text()
    (proc / "smaps").write_text(text.replace("Rss:                 128 kB", f"Rss:    {2 ** 63 + 1} kB", 1))
    (tmp_path / "proc" / "meminfo").write_text((GPU_ROOT / "proc/meminfo").read_text())
    sample = read_sample(str(tmp_path))
    if sample.processes:  # the parser dropped the damaged entry and said so
        p = sample.processes[(421, 2490)]
        assert p.problems and p.smaps is not None
        w = p.smaps.width
        assert max(v for i in range(4, w) for v in p.smaps.numbers[i::w]) < 2 ** 63
    else:
        assert sample.skipped == (Skipped(421, "unreadable", "proc/421/smaps"),)
        assert "out of range" in sample.warnings[0]


def test_issue8_records_are_read_only(gpu_sample: Sample) -> None:
    p = gpu_sample.processes[(421, 2490)]
    with pytest.raises(AttributeError, match="read-only"):
        p.comm = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        gpu_sample.monotonic = 1.0  # type: ignore[misc]
    assert p.replace(comm="x").comm == "x" and p.comm == "python3"
    with pytest.raises(TypeError, match="no field"):
        p.replace(nope=1)


def test_issue8_model_fixture_is_current() -> None:
    """tests/fixtures/models/gpu-dataloader.json is the Sample of the fixture root (run make.py there)."""
    stored = json.loads((MODELS / "gpu-dataloader.json").read_text())
    assert stored == make_models.model_doc("gpu-dataloader"), "stale: python tests/fixtures/models/make.py"


def test_issue8_front_end_runs_on_the_fixture_model() -> None:
    """A front end needs no Root: the overview's JSON document (machine rows + processes) from the stored model."""
    from memtype.output.documents import overview_document
    from memtype.output.json import dumps

    model = get_sample_model()
    assert model.machine is not None
    doc = json.loads(dumps(overview_document(model.scan, model.machine, model.scan.processes)))
    assert [p["pid"] for p in doc["processes"]] == [409, 415, 421, 450, 451, 452, 453, 471]
    assert doc["summary"]["kernel_threads"] == 1 and doc["host"]["root"] == "tests/fixtures/roots/gpu-dataloader"
