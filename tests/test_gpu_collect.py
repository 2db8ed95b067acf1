"""GPU memory (issue 14): the NVML collector through a stand-in module, the capture, the whole pipeline
on a captured root (``ps --root``, ``system --root``), and PID namespaces mapped on real namespaces.

No GPU is here: ``fake_nvml.FakeNvml`` stands in for nvidia-ml-py (its shapes, the H200 capture's
figures); the recorded document (tests/fixtures/gpu/nvml-h200.json) is a stand-in too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.collect.gpu import in_initial_pidns, read_gpu, read_nspid
from memtype.collect.gpu.nvml import query_nvml
from memtype.errors import MemtypeError
from memtype.model.gpu import gpu_view
from memtype.source.root import Root

from conftest import Result
from fake_nvml import FakeNvml
from gpu_roots import MiB, h200_root


def test_issue14_nvml_collector_records_the_answers() -> None:
    nv = FakeNvml(procs={"compute": [(421, 2658 * MiB)], "graphics": [(421, 2658 * MiB)], "mps": [(99, None)]})
    doc = query_nvml(nv)
    assert nv.shut and doc["driver_version"] == "580.159.04" and doc["cuda_driver_version"] == 13000
    assert doc["errors"] == {"nvml_version": "Function Not Found"}
    (dev,) = doc["devices"]
    assert dev["name"] == "NVIDIA H200" and dev["pci_bus_id"] == "00000000:00:06.0"
    assert dev["memory"] == {"total": 143771 * MiB, "used": 2667 * MiB, "free": (143771 - 2667 - 512) * MiB,
                             "reserved": 512 * MiB}
    assert dev["bar1"] is None and dev["errors"]["bar1"] == "Not Supported"  # unknown, not 0
    assert dev["processes"]["mps"] == [{"pid": 99, "used": None, "gpu_instance_id": 0xFFFFFFFF,
                                        "compute_instance_id": 0xFFFFFFFF}]
    view = gpu_view(_sample(doc))
    assert view is not None
    uses = {u.pid: u for u in view.uses}
    assert uses[421].types == "C+G" and uses[421].vram == 2658 * MiB and uses[99].vram is None


def _sample(doc: dict[str, object]) -> object:
    from memtype.model.gpu_sample import GpuSample

    return GpuSample(doc, None, host_pidns=True)


def test_issue14_nvml_v2_where_the_driver_has_no_v3() -> None:
    nv = FakeNvml(missing=("v3", "memory_v2"))
    doc = query_nvml(nv)
    assert nv.calls == ["compute_v2"]
    assert doc["devices"][0]["processes"]["compute"][0]["pid"] == 421
    assert doc["devices"][0]["memory"]["reserved"] == 0  # v1 memory info: no reserve apart


def test_issue14_nvml_that_does_not_start_is_one_line() -> None:
    with pytest.raises(MemtypeError, match="NVML did not start: Driver Not Loaded"):
        query_nvml(FakeNvml(fail_init="Driver Not Loaded"))


def test_issue14_ps_root_shows_gpu_beside_host_memory(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    root = h200_root(tmp_path)
    r = run_cli("ps", "--root", str(root), "--format", "json")
    assert r.code == 0, r.err
    procs = {p["pid"]: p for p in json.loads(r.out)["processes"]}
    gpu = procs[421]["gpu"]
    assert gpu["vram"] == 2658 * MiB and gpu["devices"] == {"nvidia0": 2658 * MiB} and gpu["types"] == "C"
    # the host side, from PID 421's smaps: five 2 MiB /dev/zero (deleted) maps, the driver's pages, UVM
    assert gpu["host"]["pinned_likely"] == 10 * MiB
    assert gpu["host"]["uvm_resident"] == 2 * MiB and gpu["host"]["uvm_size"] == 2 * MiB
    device = procs[421]["categories"]["device"]["rss"]
    assert 0 <= device - gpu["host"]["driver"] <= 64 << 10  # the rest of the device kind: [vdso] and such
    assert procs[450]["gpu"] is None  # a DataLoader worker holds no VRAM (NVML does not list it)
    # not a sixth kind: the kinds still add up to RSS, and VRAM is in none of them
    assert sum(k["rss"] for k in procs[421]["categories"].values()) == procs[421]["rss"]
    table = run_cli("ps", "--root", str(root), "--width", "140")
    assert table.code == 0 and " GPU" in table.out and "2.6G" in table.out


def test_issue14_ps_root_without_gpu_data_is_unchanged(gpu_root: str, run_cli: Callable[..., Result]) -> None:
    r = run_cli("ps", "--root", gpu_root, "--format", "json")
    assert r.code == 0
    assert "gpu" not in json.loads(r.out)["processes"][0]
    assert "GPU" not in r.err  # a capture from before GPU capture: nothing to explain


def test_issue14_system_root_gpu_section(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    root = h200_root(tmp_path, nvml="nvml-mig.json")
    r = run_cli("system", "--root", str(root), "--format", "json")
    assert r.code == 0, r.err
    from formats_check import check_envelope

    check_envelope(json.loads(r.out))
    gpu = json.loads(r.out)["gpu"]
    devices = {d["id"]: d for d in gpu["devices"]}
    assert devices["nvidia0"]["bar1_total"] == 131072 * MiB and devices["nvidia0"]["mig_mode"] is True
    assert devices["nvidia0/gi2/ci0"]["bar1_total"] is None
    assert devices["nvidia1"]["attributed"] + devices["nvidia1"]["unattributed"] == devices["nvidia1"]["used"]
    assert "not available here (MIG or WDDM)" in r.err
    table = run_cli("system", "--root", str(root), "--width", "120")
    assert "nvidia0/gi1/ci0" in table.out and "BAR1" in table.out


def test_issue14_snapshot_records_nvml_and_root_reads_it_back(tmp_path: Path, run_cli: Callable[..., Result],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import memtype.collect.gpu.capture as gpu_capture

    if os.geteuid() != 0:
        pytest.skip("snapshot of every process needs root")
    monkeypatch.setattr(gpu_capture, "nvidia_present", lambda: True)
    me = os.getpid()
    monkeypatch.setattr(gpu_capture, "query_nvml", lambda: query_nvml(FakeNvml(procs={"compute": [(me, 64 * MiB)]})))
    out = tmp_path / "snap"
    r = run_cli("snapshot", str(out), "--pid", str(me))
    assert r.code == 0, r.err
    doc = json.loads((out / "gpu" / "nvml.json").read_text())
    assert doc["host_pidns"] == in_initial_pidns() and oct((out / "gpu" / "nvml.json").stat().st_mode)[-3:] == "600"
    got = run_cli("ps", "--root", str(out), "--format", "json")
    assert got.code == 0, got.err
    (proc,) = [p for p in json.loads(got.out)["processes"] if p["pid"] == me]
    assert proc["gpu"]["vram"] == 64 * MiB


@pytest.fixture
def namespaced() -> object:
    """A process in a new PID namespace (``unshare --pid --fork --mount-proc``): its host PID and the
    unshare process, killed on the way out."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to make a PID namespace")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "60"])
    try:
        child = None
        for _ in range(100):
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            text = kids.read_text().split() if kids.exists() else []
            if text:
                child = int(text[0])
                break
            time.sleep(0.02)
        if child is None:
            pytest.skip("unshare made no child (no PID namespaces here?)")
        yield child, proc
    finally:
        proc.kill()
        proc.wait()


def test_issue14_nspid_of_a_process_in_a_pid_namespace(namespaced: tuple[int, subprocess.Popen[bytes]],
                                                       tmp_path: Path) -> None:
    child, _ = namespaced
    with Root("/") as r:
        assert read_nspid(r, child) == (child, 1)  # host PID, then its PID in the namespace
        doc = json.loads((Path(__file__).parent / "fixtures" / "gpu" / "nvml-h200.json").read_text())
        doc["devices"][0]["processes"]["compute"][0]["pid"] = child  # NVML reports the host PID
        root = tmp_path / "cap"
        (root / "proc" / str(child)).mkdir(parents=True)
        (root / "proc" / str(child) / "status").write_text(Path(f"/proc/{child}/status").read_text())
        (root / "gpu").mkdir()
        (root / "gpu" / "nvml.json").write_text(json.dumps(doc))
    with Root(str(root)) as cap:
        view = gpu_view(read_gpu(cap))
    assert view is not None
    (use,) = view.uses
    assert (use.pid, use.container_pid) == (child, 1)  # the container's own ps shows it as PID 1


def test_issue14_inside_a_pid_namespace_host_pids_are_not_taken_for_local_ones(tmp_path: Path) -> None:
    """Run memtype's GPU view inside ``unshare --pid --fork --mount-proc``: NVML's host PID there names
    no process (or a different one): it must land in ``outside``, not on the namespace's PID 1."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to make a PID namespace")
    doc = json.loads((Path(__file__).parent / "fixtures" / "gpu" / "nvml-h200.json").read_text())
    doc["devices"][0]["processes"]["compute"][0]["pid"] = 1  # a host PID 1 (init) "holding" VRAM
    doc["devices"][0]["processes"]["compute"].append({"pid": 4194000, "used": MiB})
    (tmp_path / "nvml.json").write_text(json.dumps(doc))
    script = (
        "import json, sys\n"
        "from memtype.collect.gpu import in_initial_pidns\n"
        "from memtype.model.gpu import gpu_view\n"
        "from memtype.model.gpu_sample import GpuSample\n"
        "from memtype.source.root import Root\n"
        f"doc = json.load(open({str(tmp_path / 'nvml.json')!r}))\n"
        "with Root('/') as r:\n"
        "    present = set(r.pids())\n"
        "v = gpu_view(GpuSample(doc, None, host_pidns=in_initial_pidns()), present=present)\n"
        "print(json.dumps([in_initial_pidns(), [u.pid for u in v.uses], [p for _, p, _ in v.outside]]))\n")
    import sys

    out = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", script],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        pytest.skip(f"could not run in a new PID namespace: {out.stderr.strip()[:200]}")
    initial, local, outside = json.loads(out.stdout)
    assert initial is False
    assert 4194000 in outside and 4194000 not in local  # names no process in the namespace
    # PID 1 exists inside (the python itself or unshare's child): NVML's host PID 1 is ambiguous there;
    # memtype can only attribute what the namespace shows, and says it was read outside the host's
    assert local in ([1], [])


def test_issue14_exporter_gpu_metrics_bounded_by_device(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from memtype.collect.sample import read_sample
    from memtype.exporter.collector import Options
    from memtype.model.derive import derive

    from test_exporter import registry_over, samples

    model = derive(read_sample(str(h200_root(tmp_path, nvml="nvml-mig.json")), gpu=True))
    found = samples(generate_latest(registry_over(model, Options(pids=[421]))).decode())
    used = {dict(labels)["device"]: v for (name, labels), v in found.items() if name == "memtype_gpu_device_used_bytes"}
    assert used == {"nvidia0": 10240 * MiB, "nvidia0/gi1/ci0": 6144 * MiB, "nvidia0/gi2/ci0": 4096 * MiB,
                    "nvidia1": 3000 * MiB}
    bar1 = {dict(labels)["device"] for (name, labels), _ in found.items() if name == "memtype_gpu_device_bar1_total_bytes"}
    assert "nvidia0/gi2/ci0" not in bar1  # not reported: no series, never 0
    assert not [k for k in found if k[0].startswith("memtype_gpu_device") and "pid" in dict(k[1])]
    # per process (a process with series: --pid 421): VRAM and the host side, from the H200 stand-in
    h200 = derive(read_sample(str(h200_root(tmp_path / "b")), gpu=True))
    found = samples(generate_latest(registry_over(h200, Options(pids=[421]))).decode())
    vram = [v for (name, labels), v in found.items() if name == "memtype_process_gpu_vram_bytes"]
    assert vram == [2658 * MiB]
    pinned = [v for (name, labels), v in found.items()
              if name == "memtype_process_gpu_host_pinned_likely_bytes" and dict(labels)["pid"] == "421"]
    assert pinned == [10 * MiB]


def test_issue14_derive_attaches_gpu_for_top_and_report(tmp_path: Path) -> None:
    from memtype.collect.sample import read_sample
    from memtype.model.derive import derive

    model = derive(read_sample(str(h200_root(tmp_path)), gpu=True))
    p = model.by_key[next(k for k in model.by_key if k[0] == 421)]
    assert p.gpu is not None and p.gpu["vram"] == 2658 * MiB and p.gpu["host"]["pinned_likely"] == 10 * MiB
    assert all(q.gpu is None for q in model.scan.processes if q.pid != 421)


def test_issue14_maps_flags_likely_pinned_mappings(gpu_root: str, run_cli: Callable[..., Result]) -> None:
    r = run_cli("maps", "421", "--root", gpu_root, "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    pinned = doc["gpu_host"]
    assert pinned["pinned_likely"] == 10 * MiB and len(pinned["pinned_maps"]) == 5
    starts = {m["start"] for m in pinned["pinned_maps"]}
    classes = {m["class"] for m in doc["mappings"] if m["start"] in starts}
    assert classes == {"shmem"}  # still shared (never silently moved to device): flagged instead
    table = run_cli("maps", "421", "--root", gpu_root, "--width", "120")
    assert "likely CUDA pinned host memory" in table.err
    other = run_cli("maps", "409", "--root", gpu_root, "--format", "json")
    assert "gpu_host" not in json.loads(other.out)  # bash maps no NVIDIA device


def test_issue14_host_side_of_the_h200_process() -> None:
    from memtype.model.gpu_host import host_side
    from memtype.parse.smaps import parse_smaps

    from conftest import GPU_ROOT

    parsed = parse_smaps((GPU_ROOT / "proc" / "421" / "smaps").read_bytes())
    side = host_side(parsed.names, parsed.vmas)
    assert side is not None
    assert (side.pinned_likely, len(side.pinned_maps)) == (10 * MiB, 5)
    assert (side.uvm_size, side.uvm_resident) == (2 * MiB, 2 * MiB)
    bash = parse_smaps((GPU_ROOT / "proc" / "409" / "smaps").read_bytes())
    assert host_side(bash.names, bash.vmas) is None


def test_issue14_top_gpu_column_when_data_exists(tmp_path: Path) -> None:
    from memtype.collect.sample import read_sample
    from memtype.model.derive import derive
    from memtype.tui.rows import process_lines
    from memtype.tui.table import GPU_FIGURE, cells, layout

    model = derive(read_sample(str(h200_root(tmp_path)), gpu=True))
    lines = {line.pid: line for line in process_lines(model)}
    assert lines[421].values[GPU_FIGURE] == 2658 * MiB and GPU_FIGURE not in lines[450].values
    kind, columns = layout(140, "process", gpu=True)
    assert columns[-2].key == GPU_FIGURE or columns[-1].key == GPU_FIGURE
    assert any("2.6G" in str(c) for c in cells(lines[421], columns, kind, changes_only=False))
    assert GPU_FIGURE not in [c.key for c in layout(140, "process")[1]]  # no GPU data: no column
    assert GPU_FIGURE not in [c.key for c in layout(140, "program", gpu=True)[1]]  # groups: not summed


def test_issue14_ps_root_with_drm_fdinfo(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    root = h200_root(tmp_path, nvml="", fdinfo={(421, 40): "amdgpu.txt", (450, 40): "amdgpu.txt",
                                                (471, 5): "amdgpu-legacy.txt", (409, 9): "eventfd.txt"})
    r = run_cli("ps", "--root", str(root), "--format", "json")
    assert r.code == 0, r.err
    procs = {p["pid"]: p for p in json.loads(r.out)["processes"]}
    assert procs[421]["gpu"]["devices"] == {"amdgpu@0000:03:00.0": 512 * MiB}
    assert procs[421]["gpu"]["system"] == 8 * MiB and procs[421]["gpu"]["types"] == "drm"
    assert procs[450]["gpu"] is None  # the same client (inherited fd): counted once, for PID 421
    assert procs[471]["gpu"]["system"] == 24 * 1024 * MiB  # GTT attributed (nvtop PR #492)
    assert procs[409]["gpu"] is None  # an eventfd's fdinfo is no DRM client
    assert "GPU" not in r.err


def test_issue14_says_why_gpu_columns_are_empty(monkeypatch: pytest.MonkeyPatch,
                                                run_cli: Callable[..., Result]) -> None:
    import memtype.collect.gpu as collect_gpu
    from memtype.model.gpu import NO_NVML_HINT

    def no_module() -> dict[str, object]:
        raise MemtypeError(NO_NVML_HINT)

    real = os.path.exists
    monkeypatch.setattr(collect_gpu.os.path, "exists", lambda p: True if p == "/dev/nvidiactl" else real(p))
    monkeypatch.setattr(collect_gpu, "query_nvml", no_module)
    r = run_cli("ps", "--pid", str(os.getpid()), "--format", "json")
    assert r.code == 0, r.err
    assert "GPU columns: NVML: nvidia-ml-py is not installed (pip install 'memtype[gpu]')" in r.err
    assert "gpu" not in json.loads(r.out)["processes"][0]


def test_issue14_a_database_keeps_the_gpu_reading(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    from memtype.collect.sample import read_sample
    from memtype.store import Store

    sample = read_sample(str(h200_root(tmp_path)), gpu=True)
    db = str(tmp_path / "m.db")
    with Store.open(db) as store:
        sid = store.append(sample)
        assert store.sample(sid).gpu == sample.gpu
    r = run_cli("ps", "--db", db, "--format", "json")
    assert r.code == 0, r.err
    (p,) = [p for p in json.loads(r.out)["processes"] if p["pid"] == 421]
    assert p["gpu"]["vram"] == 2658 * MiB and p["gpu"]["host"]["pinned_likely"] == 10 * MiB
