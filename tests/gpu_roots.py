"""Capture roots with GPU data for the tests: the captured H200 host (tests/fixtures/roots/gpu-dataloader)
plus a recorded NVML document (a stand-in, tests/fixtures/gpu/README.md) and DRM fdinfo files."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import GPU_ROOT, HERE

GPU_FIXTURES = HERE / "fixtures" / "gpu"
FDINFO = GPU_FIXTURES / "fdinfo"
MiB = 1 << 20


def h200_root(tmp: Path, nvml: str = "nvml-h200.json", fdinfo: dict[tuple[int, int], str] | None = None) -> Path:
    """The H200 capture with ``gpu/nvml.json`` = ``nvml`` (None: none) and ``proc/PID/fdinfo/FD`` files."""
    root = tmp / "h200"
    shutil.copytree(GPU_ROOT, root)
    if nvml:
        (root / "gpu").mkdir()
        shutil.copy(GPU_FIXTURES / nvml, root / "gpu" / "nvml.json")
    for (pid, fd), name in (fdinfo or {}).items():
        d = root / "proc" / str(pid) / "fdinfo"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(FDINFO / name, d / str(fd))
    return root
