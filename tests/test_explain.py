"""``memtype explain`` on the GPU capture (issue 15): the DataLoader family finding with its PIDs and bytes,
golden text at 80 columns, the JSON findings, the rule of every mapping from the classifier's own path,
and the usage errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from memtype.collect.sample import read_sample
from memtype.kinds import Kind
from memtype.model import explain
from memtype.model.classify import RULES, Classifier, classify_rule
from memtype.model.derive import Model, derive
from memtype.model.find_process import inherited_copies
from memtype.model.findings import FINDINGS, Finding, pid_list, ranked

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
GPU = str(HERE / "fixtures" / "roots" / "gpu-dataloader")
README = HERE.parent / "README.md"


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs (UPDATE_GOLDEN=1 to rewrite, then review)"


@pytest.fixture(scope="module")
def model() -> Model:
    return derive(read_sample(GPU, exe=True, cgroups=True), mappings=True)


@pytest.mark.parametrize("name,args", [
    ("explain-machine-80.txt", ["explain"]),
    ("explain-450-80.txt", ["explain", "450"]),
    ("explain-mapping-450-80.txt", ["explain", "--mapping", "450", "7f036bbdb000"]),
])
def test_issue15_golden_text(run_cli, name: str, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(*args, "--root", GPU, "--width", "80")
    assert r.code == 0, r.err
    assert all(len(line) <= 80 for line in r.out.splitlines())
    check_golden(name, r.out)


def test_issue15_dataloader_family(model) -> None:  # type: ignore[no-untyped-def]
    """The family finding names PIDs 421 and 450-453 and its bytes are the workers' copies: the anonymous
    pages they hold in mappings inherited from 421 (smaps: each worker's Anonymous minus its cow share)."""
    found = [f for f in explain.findings(model, None) if f.id == "cow-broken"]
    assert len(found) == 1
    f = found[0]
    assert f.pids == (421, 450, 451, 452, 453) and f.severity == "warning"
    procs = {p.pid: p for p in model.scan.processes}
    copies = sum(inherited_copies(procs[w], procs[421])[0] for w in (450, 451, 452, 453))
    assert f.bytes == copies == f.figures["copied"]
    # the workers' whole anonymous kind is these copies plus what they allocated in new mappings
    assert copies + f.figures["own"] == sum(procs[w].categories[Kind.ANONYMOUS].rss for w in (450, 451, 452, 453))
    # 29.7-30 MiB per worker, as the page-level truth of worker 450 says (7673 anonymous pages: 30.0 MiB)
    truth = json.loads((HERE / "fixtures" / "roots" / "gpu-dataloader-truth.json").read_text())["450"]
    assert abs(procs[450].categories[Kind.ANONYMOUS].rss - truth["anonymous"] * 4096) <= 64 * 4096
    assert 118 << 20 <= copies <= 121 << 20
    assert f.figures["shared"] == procs[421].categories[Kind.COW].rss  # 1.2 GiB still shared
    assert "gc.freeze()" in (f.remedy or "")
    assert "450-453" in f.evidence[0]


def test_issue15_json_findings(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("explain", "--root", GPU, "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    ids = [f["id"] for f in doc["findings"]]
    assert {"cow-broken", "no-swap", "device-memory", "unaccounted", "reclaim"} <= set(ids)
    sizes = [f["bytes"] for f in doc["findings"] if f["bytes"] is not None]
    assert sizes == sorted(sizes, reverse=True)  # ranked by size; unknown sizes last
    assert all(f["bytes"] is not None for f in doc["findings"][: len(sizes)])
    for f in doc["findings"]:
        assert set(f) == {"id", "severity", "bytes", "title", "evidence", "remedy", "pids", "figures"}
        assert f["id"] in FINDINGS
    nos = next(f for f in doc["findings"] if f["id"] == "no-swap")
    mi = read_sample(GPU).meminfo
    assert nos["bytes"] == mi["AnonPages"] + mi["Shmem"]
    assert doc["machine"]["total"] == mi["MemTotal"]
    assert sum(v for v in doc["machine"]["rows"].values() if v is not None) == mi["MemTotal"]


def test_issue15_process_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("explain", "450", "--root", GPU, "--format", "json")
    doc = json.loads(r.out)["process"]
    assert doc["pid"] == 450 and doc["parent_read"] == 421
    cow = next(k for k in doc["kinds"] if k["kind"] == "cow")
    assert cow["held_by"][0]["bytes"] == 512 << 20 and cow["held_by"][0]["rule"] == "anon"
    assert "PID 421" in cow["why"]
    assert sum(k["rss"] for k in doc["kinds"]) == doc["rss"]
    assert [f["id"] for f in doc["findings"]][0] == "cow-broken"
    anon = next(k for k in doc["kinds"] if k["kind"] == "anonymous")
    freed = doc["freed_if_killed"]  # Contract F: its own anonymous pages go, the shared cow stays
    assert freed["parts"]["anon_exclusive"] == anon["rss"]
    shared = next(s["bytes"] for s in freed["stays"] if s["what"] == "cow_shared")
    assert cow["rss"] - (2 << 20) <= shared <= cow["rss"]  # cow's page-cache part (1.1 MiB) stays as page cache


def test_issue15_rules_are_the_classifiers(model) -> None:  # type: ignore[no-untyped-def]
    """Every mapping's rule comes from classify_rule, whose class is the classifier's (the one code path)."""
    c = Classifier(model.sample.shmem_devs)
    for p in model.scan.processes:
        for m in p.mappings or ():
            cls, rule = classify_rule(m.path, m.perms, " ".join(m.vmflags), m.dev, model.sample.shmem_devs)
            assert cls.value == m.mapclass == c.mapclass(m.path, m.perms, " ".join(m.vmflags), m.dev).value
            assert rule in RULES


def test_issue15_mapping_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("explain", "--mapping", "450", "0x7f036bbdb000", "--root", GPU, "--format", "json")
    doc = json.loads(r.out)["mapping"]
    assert doc["rule"] == "anon" and doc["mapping"]["kinds"]["cow"] == 512 << 20
    assert doc["fields_kb"]["Rss"] == 512 * 1024
    inside = run_cli("explain", "--mapping", "450", "7f036bbdc123", "--root", GPU, "--format", "json")
    assert json.loads(inside.out)["mapping"]["mapping"]["start"] == 0x7f036bbdb000  # any address inside


@pytest.mark.parametrize("args,message", [
    (["explain", "99999"], "cannot explain PID 99999"),
    (["explain", "1"], "cannot explain PID 1"),
    (["explain", "--mapping", "450", "zz"], "not an address"),
    (["explain", "--mapping", "450", "10"], "no mapping at 10"),
    (["explain", "450", "--mapping", "450", "10"], "not both"),
    (["explain", "--at", "10:00"], "--at needs --db"),
])
def test_issue15_errors_are_one_line(run_cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(*args, "--root", GPU)
    assert r.code in (1, 2) and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_issue15_finding_ids_documented() -> None:
    text = README.read_text()
    section = text[text.index("## Explain and lab"):]
    for fid in FINDINGS:
        assert f"`{fid}`" in section, fid


def test_issue15_ranked_and_pid_list() -> None:
    a = Finding("no-swap", "notice", None, "a")
    b = Finding("trend", "warning", 10, "b")
    c = Finding("unaccounted", "info", 20, "c")
    assert ranked([a, b, c]) == [c, b, a]
    assert pid_list([453, 421, 450, 451, 452]) == "421, 450-453"
    assert pid_list([1, 2]) == "1, 2"
    with pytest.raises(ValueError):
        Finding("made-up", "info", 0, "x")


@pytest.mark.parametrize("name", ["explain", "lab"])
def test_issue15_examples(name: str) -> None:
    import importlib

    command = importlib.import_module(f"memtype.cli.commands.{name}")
    assert 2 <= len(command.EXAMPLES) <= 3
    assert all(re.match(r"memtype \S.*  # \S", e) for e in command.EXAMPLES)


def test_issue15_gpu_memory_finding(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Contract G: with the recorded NVML answers of the H200 host, the GPU's memory is a finding naming
    PID 421 (nvidia-smi: 2658 MiB of 2667 MiB used), and explain 421 says how much VRAM it holds."""
    from gpu_roots import h200_root

    root = str(h200_root(tmp_path))
    doc = json.loads(run_cli("explain", "--root", root, "--format", "json").out)
    gpu = next(f for f in doc["findings"] if f["id"] == "gpu-memory")
    assert gpu["bytes"] == 2667 << 20 and gpu["pids"] == [421]
    assert gpu["figures"]["unattributed"] == 9 << 20
    assert "PID 421 (python3): 2.6 GiB" in gpu["evidence"]
    proc = json.loads(run_cli("explain", "421", "--root", root, "--format", "json").out)["process"]
    assert proc["gpu"] == {"nvidia0": 2658 << 20}
    text = run_cli("explain", "421", "--root", root, "--width", "80").out
    assert "GPU memory (device memory, not RAM: in no kind): 2.6 GiB on nvidia0" in text
