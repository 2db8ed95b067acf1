"""GPU memory (issue 14): DRM fdinfo parsing, NVML answers -> devices and processes, PID namespaces.

No GPU is on the development or CI machines: NVML is read from a recorded document (a stand-in written
from the capture's nvidia-smi.txt and the NVML API reference, tests/fixtures/gpu/README.md), DRM
fdinfo from text reconstructed from the kernel's documented format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memtype.collect.gpu import read_gpu
from memtype.collect.sample import read_sample
from memtype.model.derive import derive
from memtype.model.gpu import NOT_AVAILABLE, gpu_view, process_gpu, region_class
from memtype.model.gpu_sample import DrmFd, GpuSample
from memtype.model.sample_dict import from_dict, to_dict
from memtype.parse.drm_fdinfo import fdinfo_fields, memory_regions, size
from memtype.source.root import Root

from gpu_roots import FDINFO, GPU_FIXTURES, MiB, h200_root

KiB = 1 << 10


def _fields(name: str) -> dict[str, str]:
    got = fdinfo_fields((FDINFO / name).read_text())
    assert got is not None
    return got


def test_issue14_sizes_take_the_documented_units() -> None:
    assert size("0") == 0
    assert size("8192 KiB") == 8 * MiB
    assert size("4 MiB") == 4 * MiB
    assert size("12") == 12
    assert size("-1") is None and size("x KiB") is None and size("1 TB") is None


@pytest.mark.parametrize("name, driver, regions", [
    ("amdgpu.txt", "amdgpu", {"cpu", "gtt", "vram"}),
    ("amdgpu-legacy.txt", "amdgpu", {"cpu", "gtt", "vram"}),
    ("i915.txt", "i915", {"system0", "stolen-system0", "local0"}),
    ("xe.txt", "xe", {"system", "gtt", "vram0", "stolen"}),
    ("msm.txt", "msm", {"memory"}),
    ("panfrost.txt", "panfrost", {"memory"}),
])
def test_issue14_drm_fdinfo_of_each_driver(name: str, driver: str, regions: set[str]) -> None:
    fields = _fields(name)
    assert fields["drm-driver"] == driver
    got = memory_regions(fields)
    assert set(got) == regions  # drm-total-cycles-rcs (xe) is utilization, not a region
    assert "pos" not in fields and "flags" not in fields  # only the DRM keys are kept


def test_issue14_drm_stats_per_region() -> None:
    amd = memory_regions(_fields("amdgpu.txt"))
    assert amd["vram"] == {"total": 532480 * KiB, "shared": 16 * MiB, "active": 4 * MiB, "resident": 512 * MiB,
                           "purgeable": 0}
    legacy = memory_regions(_fields("amdgpu-legacy.txt"))
    assert legacy["gtt"] == {"resident": 24 * 1024 * MiB}  # drm-memory-* is resident; total unknown: absent
    pan = memory_regions(_fields("panfrost.txt"))
    assert pan["memory"]["purgeable"] == 2 * MiB


def test_issue14_not_a_drm_fd() -> None:
    assert fdinfo_fields((FDINFO / "eventfd.txt").read_text()) is None


def test_issue14_region_classes() -> None:
    assert [region_class(r) for r in ("vram", "vram0", "local0", "stolen", "stolen-system0")] == ["device"] * 5
    assert [region_class(r) for r in ("gtt", "system", "system0", "cpu", "memory")] == ["system"] * 5
    assert region_class("doorbell") == "other"


def _drm_sample(fds: list[tuple[int, int, str]]) -> GpuSample:
    return GpuSample(None, tuple(DrmFd(pid, fd, _fields(name)) for pid, fd, name in fds))


def test_issue14_drm_client_counted_once_by_client_id_and_pdev() -> None:
    # pid 10 dup'ed its fd (same client id twice); pid 11 inherited it (fork): one client, one count
    view = gpu_view(_drm_sample([(10, 5, "amdgpu.txt"), (10, 9, "amdgpu.txt"), (11, 5, "amdgpu.txt"),
                                 (12, 4, "amdgpu-legacy.txt")]))
    assert view is not None
    uses = {(u.pid, u.device): u for u in view.uses}
    one = uses[(10, "amdgpu@0000:03:00.0")]
    assert one.vram == 512 * MiB and one.system == 8 * MiB  # gtt + cpu resident
    assert one.shared_with == (11,)
    assert (11, "amdgpu@0000:03:00.0") not in uses
    other = uses[(12, "amdgpu@0000:0c:00.0")]
    assert other.system == 24 * 1024 * MiB  # the 24 GiB in GTT that nvtop showed as 5 MiB (PR #492)
    devices = {d.id: d for d in view.devices}
    assert devices["amdgpu@0000:03:00.0"].attributed == 512 * MiB
    assert devices["amdgpu@0000:03:00.0"].total is None  # fdinfo says nothing of the device's size: unknown


def test_issue14_soc_gpu_memory_is_system_ram() -> None:
    view = gpu_view(_drm_sample([(20, 3, "panfrost.txt"), (21, 3, "msm.txt")]))
    assert view is not None
    got = {u.pid: (u.device, u.vram, u.system) for u in view.uses}
    assert got == {20: ("panfrost", 0, 3928 * KiB), 21: ("msm", 0, 22188 * KiB)}


def test_issue14_same_client_id_on_two_devices_is_two_clients() -> None:
    a = _fields("i915.txt")
    b = {**a, "drm-pdev": "0000:04:00.0"}
    view = gpu_view(GpuSample(None, (DrmFd(30, 3, a), DrmFd(30, 4, b))))
    assert view is not None
    assert sorted(u.device for u in view.uses) == ["i915@0000:03:00.0", "i915@0000:04:00.0"]
    assert all(u.vram == 250 * MiB and u.system == 4 * MiB for u in view.uses)


def _nvml(name: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads((GPU_FIXTURES / name).read_text())
    return doc


def test_issue14_h200_stand_in_device_and_process() -> None:
    view = gpu_view(GpuSample(_nvml("nvml-h200.json"), None, host_pidns=True))
    assert view is not None
    (dev,) = view.devices
    assert (dev.id, dev.name, dev.total, dev.used) == ("nvidia0", "NVIDIA H200", 143771 * MiB, 2667 * MiB)
    assert dev.bar1_total is None and dev.reserved is None  # not in nvidia-smi.txt: unknown, not 0
    (use,) = view.uses
    assert (use.pid, use.vram, use.types) == (421, 2658 * MiB, "C")
    assert dev.attributed == 2658 * MiB and dev.unattributed == 9 * MiB  # numbers add up to used
    assert process_gpu([use])["vram"] == 2658 * MiB


def test_issue14_mig_not_available_is_null_and_instances_are_devices() -> None:
    view = gpu_view(GpuSample(_nvml("nvml-mig.json"), None, host_pidns=True))
    assert view is not None
    devices = {d.id: d for d in view.devices}
    assert list(devices) == ["nvidia0", "nvidia0/gi1/ci0", "nvidia0/gi2/ci0", "nvidia1"]
    mig = devices["nvidia0/gi1/ci0"]
    assert (mig.parent, mig.total, mig.bar1_total) == ("nvidia0", 40192 * MiB, 65536 * MiB)
    assert devices["nvidia0/gi2/ci0"].bar1_total is None
    uses = {(u.pid, u.device): u for u in view.uses}
    # NVML_VALUE_NOT_AVAILABLE on the MIG-mode GPU's list; the MIG device's own list knows 1001's figure
    assert uses[(1001, "nvidia0/gi1/ci0")].vram == 6000 * MiB
    assert devices["nvidia0/gi1/ci0"].unattributed == 144 * MiB
    assert uses[(1002, "nvidia0/gi2/ci0")].vram is None  # N/A in both lists (and null, nvidia-ml-py's None): null
    assert devices["nvidia0"].attributed is None and devices["nvidia0"].unattributed is None
    assert devices["nvidia0"].mig_mode is True


def test_issue14_compute_and_graphics_are_one_process() -> None:
    view = gpu_view(GpuSample(_nvml("nvml-mig.json"), None, host_pidns=True))
    assert view is not None
    (use,) = [u for u in view.uses if u.pid == 1003]
    assert (use.types, use.vram) == ("C+G", 1024 * MiB)  # the same allocation in both lists: counted once


def test_issue14_outside_this_pid_namespace() -> None:
    doc = _nvml("nvml-mig.json")
    view = gpu_view(GpuSample(doc, None, host_pidns=False), present={1001, 1002, 1003})
    assert view is not None
    assert view.outside == (("nvidia1", 4000000, 512 * MiB),)
    assert 4000000 not in {u.pid for u in view.uses}
    inside_host = gpu_view(GpuSample(doc, None, host_pidns=True), present={1001})
    assert inside_host is not None and 4000000 in {u.pid for u in inside_host.uses}  # the host's own view


def test_issue14_container_pid_from_nspid() -> None:
    view = gpu_view(GpuSample(_nvml("nvml-h200.json"), None, {421: (421, 7)}, True))
    assert view is not None
    assert view.uses[0].container_pid == 7


def test_issue14_damaged_nvml_is_one_problem_not_a_traceback() -> None:
    doc = _nvml("nvml-h200.json")
    doc["devices"][0]["processes"]["compute"][0]["pid"] = "x"  # type: ignore[index]
    view = gpu_view(GpuSample(doc, None))
    assert view is not None and not view.uses and not view.devices
    assert "damaged" in view.problems[0]


def test_issue14_meminfo_gpu_counters() -> None:
    view = gpu_view(GpuSample(None, ()), {"GPUActive": 5 * MiB, "GPUReclaim": 1 * MiB})
    assert view is not None and (view.gpu_active, view.gpu_reclaim) == (5 * MiB, 1 * MiB)
    assert gpu_view(GpuSample(None, ()), {}).gpu_active is None  # type: ignore[union-attr]


def test_issue14_sample_gpu_round_trips_and_old_documents_load(tmp_path: Path) -> None:
    root = h200_root(tmp_path, fdinfo={(421, 40): "amdgpu.txt"})
    sample = read_sample(str(root), gpu=True)
    assert sample.gpu is not None and sample.gpu.nvml is not None
    assert sample.gpu.drm is not None and sample.gpu.drm[0].pid == 421
    doc = json.loads(json.dumps(to_dict(sample)))
    assert from_dict(doc) == sample
    del doc["gpu"]
    assert from_dict(doc).gpu is None
    model = derive(sample)
    assert model.gpu is not None
    assert {u.pid for u in model.gpu.uses} == {421}
    plain = derive(sample.replace(gpu=None))  # VRAM is in no kind and no sum
    assert [(p.pid, p.totals, p.categories) for p in model.scan.processes] == \
        [(p.pid, p.totals, p.categories) for p in plain.scan.processes]


def test_issue14_capture_without_gpu_data_says_so(tmp_path: Path) -> None:
    with Root(str(h200_root(tmp_path, nvml=""))) as r:
        got = read_gpu(r)
    assert got.nvml is None and got.drm == ()
    assert got.problems == ("the capture holds no NVML answers (gpu/nvml.json)",)


def test_issue14_damaged_recorded_nvml_is_one_line(tmp_path: Path) -> None:
    root = h200_root(tmp_path)
    (root / "gpu" / "nvml.json").write_text("{not json")
    with Root(str(root)) as r:
        got = read_gpu(r)
    assert got.nvml is None and got.problems[0].startswith("gpu/nvml.json: not JSON")


def test_issue14_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    root = h200_root(tmp_path, nvml="")
    (root / "gpu").mkdir()
    (root / "gpu" / "nvml.json").symlink_to(GPU_FIXTURES / "nvml-h200.json")
    (root / "proc" / "421" / "fdinfo").mkdir()
    (root / "proc" / "421" / "fdinfo" / "3").symlink_to(FDINFO / "amdgpu.txt")
    with Root(str(root)) as r:
        got = read_gpu(r)
    assert got.nvml is None and got.drm == ()


def test_issue14_not_available_constant() -> None:
    assert NOT_AVAILABLE == 0xFFFFFFFFFFFFFFFF
